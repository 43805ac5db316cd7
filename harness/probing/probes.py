"""The probes `diagnose` runs: small cases that each make one property of a convolution visible,
for every spatial rank (`probes_for(rank)`: conv1d, conv2d, conv3d).

Each rank has the same properties: kernel orientation (a kernel that differs from each of its
flips along one axis, along two, along all, and from its axes swapped, so a flip along D only
shows), depth summation, groups, padding forms ('same' with an even kernel, per axis, an int,
'valid', 'same' dilated, asymmetric in 1-D), boundary modes, stride with a phase on every axis,
dilation, bias, rounding, complex data, channel counts that are not multiples of 4 or 8 (7 and 5
per group) and depthwise with a channel multiplier. Integer data keeps every correct output exact
and a counterexample readable; the rounding probes use random normal data. Each probe names the
family (cause) it is about, its operation and what torch does (`as_torch`, words in
harness.probing.probe_words).
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field

import numpy as np

from harness.cases.loading import Case, case_from_dict
from harness.probing.probe_words import SHOWS, torch_words


@dataclass(frozen=True)
class Probe:
    """A small case that makes one property of an operation visible."""

    property: str
    cause: str  # the family this property is about ("" for the rounding probes)
    fields: dict
    description: str
    op: str = "conv2d"  # conv1d/2d/3d, conv{r}d_backward or conv_transpose{r}d
    # a failure (an exception, a real result) makes an optional probe `unsupported`, not an error:
    # the complex probe, which real-only implementations cannot take
    optional: bool = False

    @builtins.property  # the field `property` hides the builtin in the class body
    def rank(self) -> int:
        return op_rank(self.op)

    @builtins.property
    def label(self) -> str:
        """The name a diagnosis shows: the property for conv2d and its backward (as before
        other ranks existed), else prefixed by the operation: `conv3d:orientation`."""
        return self.property if self.op in LABELLED_BARE else f"{self.op}:{self.property}"


LABELLED_BARE = ("conv2d", "conv2d_backward")


def op_rank(op: str) -> int:
    """The spatial rank an operation's name states: conv3d_backward -> 3."""
    found = re.search(r"([123])d(_backward)?$", op)
    if found is None:
        raise ValueError(f"not an operation of a spatial rank: {op!r}")
    return int(found.group(1))


def _ints(shape, seed, low=-3, high=4):
    return {"shape": list(shape), "init": "integers", "low": low, "high": high, "seed": seed}


def _normal(shape, seed):
    return {"shape": list(shape), "init": "normal", "seed": seed}


PROBES = (
    Probe(
        "orientation",
        "kernel_flip",
        {"input": _ints([1, 1, 6, 7], 1), "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]]},
        "one channel, a kernel unlike any of its flips and rotations: shows its orientation",
    ),
    Probe(
        "orientation_nonsquare",
        "kernel_flip",
        {"input": _ints([1, 1, 6, 7], 20), "weight": [[1, 2, 0], [0, 1, 4]]},
        "a 2x3 kernel: shows a transposed or mirrored reading of a non-square kernel",
    ),
    Probe(
        "depth",
        "depth_sum",
        {"input": _ints([1, 3, 5, 5], 2), "weight": _ints([2, 3, 2, 2], 3)},
        "three input channels: shows whether they are summed (depth summation)",
    ),
    Probe(
        "groups",
        "groups",
        {"input": _ints([1, 4, 5, 5], 4), "weight": _ints([6, 2, 2, 2], 5), "groups": 2},
        "groups=2 with three output channels per group: shows the channel-to-group mapping",
    ),
    Probe(
        "same_padding",
        "padding",
        {"input": _ints([1, 1, 5, 6], 6), "weight": _ints([1, 1, 2, 4], 7), "padding": "same"},
        "padding 'same' with an even kernel: shows on which side the extra pixel goes",
    ),
    Probe(
        "padding",
        "padding",
        {"input": _ints([1, 1, 5, 6], 8), "weight": _ints([1, 1, 3, 2], 9), "padding": [2, 1]},
        "different padding per axis: shows that (pH, pW) are applied to the right axes",
    ),
    Probe(
        "padding_int",
        "padding",
        {"input": _ints([1, 2, 5, 5], 21), "weight": _ints([2, 2, 3, 3], 22), "padding": 1},
        "padding given as one int: shows it pads every side by that much",
    ),
    Probe(
        "padding_valid",
        "padding",
        {"input": _ints([1, 1, 6, 5], 23), "weight": _ints([1, 1, 3, 2], 24), "padding": "valid"},
        "padding 'valid': shows that nothing is padded",
    ),
    Probe(
        "same_dilated",
        "padding",
        {
            "input": _ints([1, 1, 7, 6], 29),
            "weight": _ints([1, 1, 3, 2], 30),
            "padding": "same",
            "dilation": [2, 1],
        },
        "padding 'same' with dilation (2, 1): shows that 'same' counts the dilated kernel",
    ),
    Probe(
        "boundary_reflect",
        "boundary",
        {
            "input": _ints([1, 1, 6, 7], 31),
            "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
            "padding": 2,
            "padding_mode": "reflect",
        },
        "reflect padding of 2: shows what fills the padding (edge not repeated)",
    ),
    Probe(
        "boundary_replicate",
        "boundary",
        {
            "input": _ints([1, 1, 6, 7], 32),
            "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
            "padding": 2,
            "padding_mode": "replicate",
        },
        "replicate padding of 2: shows what fills the padding (the edge sample)",
    ),
    Probe(
        "boundary_circular",
        "boundary",
        {
            "input": _ints([1, 1, 6, 7], 33),
            "weight": [[1, 2, 0], [0, 1, 0], [0, 0, 3]],
            "padding": 2,
            "padding_mode": "circular",
        },
        "circular padding of 2: shows what fills the padding (the other side)",
    ),
    Probe(
        "stride",
        "stride",
        {"input": _ints([1, 1, 9, 8], 10), "weight": _ints([1, 1, 3, 2], 11), "stride": [2, 3]},
        "stride (2, 3): shows where outputs are sampled",
    ),
    Probe(
        "dilation",
        "dilation",
        {"input": _ints([1, 1, 9, 9], 12), "weight": _ints([1, 1, 3, 2], 13), "dilation": [2, 3]},
        "dilation (2, 3): shows how far apart the kernel taps are",
    ),
    Probe(
        "bias",
        "bias",
        {"input": _ints([2, 2, 4, 4], 14), "weight": _ints([3, 2, 2, 2], 15), "bias": [5, -7, 11]},
        "a nonzero bias per output channel: shows that it is added",
    ),
    Probe(
        "precision",
        "precision",
        {"input": _normal([2, 32, 8, 8], 16), "weight": _normal([4, 32, 3, 3], 17), "padding": 1},
        "random normal data, K = 288 products per output: shows rounding error",
    ),
    Probe(
        "float32",
        "precision",
        {
            "input": _normal([1, 8, 6, 6], 18),
            "weight": _normal([2, 8, 3, 3], 19),
            "bias": [0.5, -0.25],
            "dtype": "float32",
        },
        "float32 inputs: shows that float32 is computed to float32 accuracy",
    ),
    Probe(
        "float16",
        "precision",
        {
            "input": _normal([1, 8, 6, 6], 25),
            "weight": _normal([2, 8, 3, 3], 26),
            "dtype": "float16",
        },
        "float16 inputs: shows that float16 is accumulated as torch does (in float32)",
    ),
    Probe(
        "bfloat16",
        "precision",
        {
            "input": _normal([1, 8, 6, 6], 27),
            "weight": _normal([2, 8, 3, 3], 28),
            "dtype": "bfloat16",
        },
        "bfloat16 inputs (float32 arrays holding bfloat16 values)",
    ),
    Probe(
        "complex",
        "conjugation",
        {
            "input": _ints([1, 1, 5, 6], 29),
            "weight": _ints([1, 1, 2, 3], 30),
            "dtype": "complex128",
        },
        "complex128 input and 2x3 kernel (integer real and imaginary parts): shows whether the "
        "kernel is conjugated",
        optional=True,
    ),
)


# a 2x2x3 kernel that differs from its flip along every nonempty set of axes and from its axes
# swapped: a flip along D only, H only or W only each changes the output
KERNEL_3D = [[[1, 2, 0], [0, -1, 3]], [[4, 0, 0], [0, 2, -2]]]
KERNEL_1D = [1, 2, 0, -1]  # unlike its reversal


def _words(value) -> str:
    return str(value) if isinstance(value, (int, str)) else f"({', '.join(map(str, value))})"


def _probe(rank: int, name: str, input_shape, weight, seed: int, **extra) -> Probe:
    """A probe of conv{rank}d: integer input (normal for the rounding probes) and weight (`weight`
    a shape, or a literal kernel given as a tuple), `extra` fields; its words from SHOWS."""
    cause, words = SHOWS[name]
    draw = _normal if cause == "precision" else _ints
    literal = isinstance(weight, tuple)
    weight_shape = (1, 1, *np.shape(weight[0])) if literal else weight
    fields = {
        "op": f"conv{rank}d",
        "input": draw(input_shape, seed),
        "weight": weight[0] if literal else draw(weight, seed + 1),
        **extra,
    }
    text = words.format(
        kernel="x".join(map(str, weight_shape[2:])) + ("-tap" if rank == 1 else ""),
        flips="reversal" if rank == 1 else "flip along any axis or set of axes",
        channels=input_shape[1],
        K=int(np.prod(weight_shape[1:])),
        outputs=weight_shape[0],
        per_group=input_shape[1] // extra.get("groups", 1),
        multiplier=weight_shape[0] // input_shape[1],
        **{key: _words(value) for key, value in extra.items()},
    )
    return Probe(name, cause, fields, text, f"conv{rank}d", optional=cause == "conjugation")


def _boundaries(rank: int, shape, seed: int, kernel) -> list[Probe]:
    return [
        _probe(rank, f"boundary_{mode}", shape, (kernel,), seed + k, padding=2, padding_mode=mode)
        for k, mode in enumerate(("reflect", "replicate", "circular"))
    ]


def _channel_counts(rank: int, spatial, kernel, seed: int) -> list[Probe]:
    """Channel counts that are not multiples of 4 or 8 (7 and 5 per group), and depthwise with a
    channel multiplier: a kernel that works in channel blocks, or maps depthwise outputs to
    inputs its own way, shows here."""
    return [
        _probe(rank, "channels_odd", [1, 7, *spatial], [5, 7, *kernel], seed),
        _probe(rank, "groups_odd", [1, 10, *spatial], [6, 5, *kernel], seed + 2, groups=2),
        _probe(rank, "depthwise", [1, 3, *spatial], [6, 1, *kernel], seed + 4, groups=3),
    ]


def _roundings(rank: int, shape, weight, seed: int) -> list[Probe]:
    return [
        _probe(rank, "float32", shape, weight, seed, bias=[0.5, -0.25], dtype="float32"),
        _probe(rank, "float16", shape, weight, seed + 2, dtype="float16"),
        _probe(rank, "bfloat16", shape, weight, seed + 4, dtype="bfloat16"),
    ]


PROBES_1D = (
    _probe(1, "orientation", [1, 1, 9], (KERNEL_1D,), 101),
    _probe(1, "depth", [1, 3, 7], [2, 3, 3], 102),
    _probe(1, "groups", [1, 4, 7], [6, 2, 2], 104, groups=2),
    _probe(1, "same_padding", [1, 1, 8], [1, 1, 4], 106, padding="same"),
    _probe(1, "padding", [1, 1, 7], [1, 1, 3], 108, padding=[2, 1]),
    _probe(1, "padding_int", [1, 2, 7], [2, 2, 3], 110, padding=2),
    _probe(1, "padding_valid", [1, 1, 8], [1, 1, 3], 112, padding="valid"),
    _probe(1, "same_dilated", [1, 1, 9], [1, 1, 4], 114, padding="same", dilation=2),
    *_boundaries(1, [1, 1, 8], 116, KERNEL_1D),
    _probe(1, "stride", [1, 1, 11], [1, 1, 3], 119, stride=3),
    _probe(1, "dilation", [1, 1, 12], [1, 1, 3], 121, dilation=3),
    _probe(1, "bias", [2, 2, 6], [3, 2, 2], 123, bias=[5, -7, 11]),
    _probe(1, "precision", [2, 32, 16], [4, 32, 9], 125, padding=4),
    *_roundings(1, [1, 8, 10], [2, 8, 3], 127),
    _probe(1, "complex", [1, 1, 9], [1, 1, 3], 133, dtype="complex128"),
    *_channel_counts(1, [7], [3], 135),
)

PROBES_3D = (
    _probe(3, "orientation", [1, 1, 4, 5, 6], (KERNEL_3D,), 301),
    _probe(3, "orientation_nonsquare", [1, 1, 5, 6, 7], [1, 1, 2, 3, 4], 301),
    _probe(3, "depth", [1, 3, 3, 4, 4], [2, 3, 2, 2, 2], 303),
    _probe(3, "groups", [1, 4, 3, 3, 3], [6, 2, 2, 2, 2], 305, groups=2),
    _probe(3, "same_padding", [1, 1, 4, 5, 6], [1, 1, 2, 3, 4], 307, padding="same"),
    _probe(3, "padding", [1, 1, 4, 5, 5], [1, 1, 3, 2, 2], 309, padding=[2, 1, 0]),
    _probe(3, "padding_int", [1, 2, 3, 4, 4], [2, 2, 3, 3, 3], 311, padding=1),
    _probe(3, "padding_valid", [1, 1, 4, 5, 4], [1, 1, 3, 2, 2], 313, padding="valid"),
    _probe(
        3, "same_dilated", [1, 1, 6, 5, 5], [1, 1, 3, 2, 2], 315, padding="same", dilation=[2, 1, 1]
    ),
    *_boundaries(3, [1, 1, 4, 5, 5], 317, KERNEL_3D),
    _probe(3, "stride", [1, 1, 7, 9, 8], [1, 1, 2, 3, 2], 320, stride=[2, 3, 2]),
    _probe(3, "dilation", [1, 1, 7, 8, 6], [1, 1, 2, 3, 2], 322, dilation=[3, 2, 2]),
    _probe(3, "bias", [2, 2, 3, 3, 3], [3, 2, 2, 2, 2], 324, bias=[5, -7, 11]),
    _probe(3, "precision", [2, 8, 5, 5, 5], [4, 8, 3, 3, 3], 326, padding=1),
    *_roundings(3, [1, 4, 4, 4, 4], [2, 4, 2, 3, 3], 328),
    _probe(3, "complex", [1, 1, 4, 4, 5], [1, 1, 2, 2, 3], 334, dtype="complex128"),
    *_channel_counts(3, [3, 4, 3], [2, 2, 3], 336),
)
PROBES_2D = (*PROBES, *_channel_counts(2, [5, 4], [2, 3], 235))


def probes_for(rank: int) -> tuple[Probe, ...]:
    """The forward probes of conv{rank}d."""
    return {1: PROBES_1D, 2: PROBES_2D, 3: PROBES_3D}[rank]


def as_torch(probe: Probe) -> str:
    """What torch does on this probe, in the words of a finding."""
    return torch_words(probe.property, probe.rank)


def probe_case(probe: Probe, overrides: dict | None = None) -> Case:
    name = probe.property if probe.rank == 2 else f"{probe.op}_{probe.property}"
    raw = {
        "id": f"probe_{name}",
        "description": probe.description,
        "tags": ["diagnose", probe.property],
        **probe.fields,
        **(overrides or {}),
    }
    return case_from_dict(raw, source="<diagnose>")


@dataclass
class ProbeResult:
    probe: Probe
    case: Case
    status: str  # ok | diverges | unsupported | error
    finding: str
    causes: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None
    message: str = ""
    contract: str = (
        ""  # the output contract it broke (harness.computations.calling.output_contract), if any
    )
    quantity: str = "output"  # or grad_input, grad_weight, grad_bias (backward probes)
    retried: str = ""  # what was given up when the probe as given was refused (probe_retry)
    # every equally cheap explanation of a divergence as (causes, finding), the named one first,
    # where families read alike on the probe (harness.probing.probe_ties); empty otherwise
    alternatives: list = field(default_factory=list)
