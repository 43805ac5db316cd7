"""The probes `diagnose` runs: small cases that each make one property of conv2d visible.

Integer data keeps every correct output exact and a counterexample readable; the rounding probes
use random normal data. Each probe names the family (cause) it is about and what torch does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.cases import Case, case_from_dict


@dataclass(frozen=True)
class Probe:
    """A small case that makes one property of conv2d visible."""

    property: str
    cause: str  # the family this property is about ("" for the rounding probes)
    fields: dict
    description: str


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
)


AS_TORCH = {
    "orientation": "cross-correlation (as torch)",
    "orientation_nonsquare": "a non-square kernel read as given (as torch)",
    "depth": "sums the input channels of each group (as torch)",
    "groups": "output channel o reads group o // (C_out/groups) (as torch)",
    "same_padding": "'same' puts the extra pad pixel bottom/right (as torch)",
    "padding": "(pH, pW) applied to the right axes (as torch)",
    "padding_int": "an int pads every side (as torch)",
    "padding_valid": "'valid' pads nothing (as torch)",
    "same_dilated": "'same' pads for the dilated kernel (as torch)",
    "boundary_reflect": "reflect padding without repeating the edge (as torch)",
    "boundary_replicate": "replicate padding repeats the edge sample (as torch)",
    "boundary_circular": "circular padding wraps around (as torch)",
    "stride": "samples outputs at i*s (as torch)",
    "dilation": "taps d apart (as torch)",
    "bias": "adds the bias (as torch)",
    "precision": "agrees within tolerance on random data",
    "float32": "agrees within float32 tolerance",
    "float16": "agrees within float16 tolerance",
    "bfloat16": "agrees within bfloat16 tolerance",
}


def probe_case(probe: Probe, overrides: dict | None = None) -> Case:
    raw = {
        "id": f"probe_{probe.property}",
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
    contract: str = ""  # the output contract it broke (harness.calling.output_contract), if any
    quantity: str = "output"  # or grad_input, grad_weight, grad_bias (backward probes)
