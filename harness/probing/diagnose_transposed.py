"""`diagnose` for the transposed convolution and its backward pass, at every spatial rank
(conv_transpose{r}d, conv_transpose{r}d_backward for r in 1, 2, 3): the probes and their results.

The same configurations probe both operations, each built so one property shows: an asymmetric
kernel and a non-square one (the transposed convolution is a true convolution: it flips the
kernel), stride with output_padding (the upsampling grid and the extra rows), dilation that
differs per axis, padding that differs per axis, groups with a bias, a bias alone, seven input and
five output channels (not multiples of 4 or 8), depthwise with a channel multiplier, and complex128
(optional: real-only code is `unsupported` there). Integer data keep every correct value exact.
A transposed probe is named `conv_transpose3d:stride`; a backward one per gradient,
`conv_transpose3d_backward:grad_weight:stride` (harness.probing.diagnose_quantities runs and judges
them).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.probing.diagnose_quantities import probe_quantities
from harness.probing.probes import KERNEL_1D, KERNEL_3D, Probe, ProbeResult

KERNEL_2D = [[1, 2, 0], [0, 1, 0], [0, 0, 3]]


def _ints(shape, seed: int) -> dict:
    return {"shape": list(shape), "init": "integers", "low": -3, "high": 4, "seed": seed}


def _words(value) -> str:
    return str(value) if isinstance(value, int) else f"({', '.join(map(str, value))})"


# per rank: spatial size and kernel of the plain probes, the orientation probe's input size and
# kernel, the stride probe's (input, kernel, stride, output_padding), the dilation per axis, the
# padding probe's (input, kernel, padding)
SHAPES = {
    1: ([4], [3], [4], KERNEL_1D, ([4], [3], 3, 2), 2, ([5], [3], 1)),
    2: ([3, 3], [2, 3], [3, 4], KERNEL_2D, ([3, 3], [3, 2], [2, 3], [1, 2]), [2, 3],
        ([4, 4], [3, 3], [2, 1])),
    3: ([2, 3, 3], [2, 2, 3], [2, 3, 3], KERNEL_3D, ([2, 3, 3], [2, 3, 2], [2, 3, 2], [1, 2, 1]),
        [2, 1, 3], ([3, 4, 4], [3, 3, 2], [2, 1, 0])),
}  # fmt: skip


def transposed_probes(rank: int, op: str | None = None) -> tuple[Probe, ...]:
    """The probes of conv_transpose{rank}d (or of `op`, its backward)."""
    op = op or f"conv_transpose{rank}d"
    name = f"conv_transpose{rank}d"
    spatial, kernel, ox, okernel, strided, dilation, padded = SHAPES[rank]
    sx, sk, stride, output_padding = strided
    px, pk, padding = padded

    def probe(prop: str, cause: str, fields: dict, text: str, optional: bool = False) -> Probe:
        return Probe(prop, cause, {"op": name, **fields}, text, op, optional)

    probes = [
        probe(
            "orientation", "kernel_flip", {"input": _ints([1, 1, *ox], 41), "weight": okernel},
            f"{name} with an asymmetric kernel: it must flip the kernel (true convolution)",
        ),
        probe(
            "stride", "stride",
            {"input": _ints([1, 2, *sx], 42), "weight": _ints([2, 1, *sk], 43), "stride": stride,
             "padding": 1, "output_padding": output_padding},
            f"stride {_words(stride)}, padding 1 and output_padding {_words(output_padding)}: "
            "shows the upsampling grid",
        ),
        probe(
            "groups", "groups",
            {"input": _ints([1, 4, *spatial], 44), "weight": _ints([4, 2, *kernel], 45),
             "groups": 2, "bias": [1, -2, 3, 4]},
            "groups=2 with a bias: shows the channel mapping of the transposed weight",
        ),
        probe(
            "dilation", "dilation",
            {"input": _ints([1, 2, *spatial], 46), "weight": _ints([2, 1, *kernel], 47),
             "dilation": dilation},
            f"dilation {_words(dilation)}: shows how far apart the kernel's taps land",
        ),
        probe(
            "padding", "padding",
            {"input": _ints([1, 1, *px], 48), "weight": _ints([1, 1, *pk], 49),
             "padding": padding},
            f"padding {_words(padding)}: shows which rows and columns are cropped from each side",
        ),
        probe(
            "bias", "bias",
            {"input": _ints([2, 2, *spatial], 50), "weight": _ints([2, 3, *kernel], 51),
             "bias": [5, -7, 11]},
            "a nonzero bias per output channel: shows that it is added",
        ),
        probe(
            "channels_odd", "depth_sum",
            {"input": _ints([1, 7, *spatial], 52), "weight": _ints([7, 5, *kernel], 53)},
            "7 input and 5 output channels (not multiples of 4 or 8): shows that no channel left "
            "over from a block of 4 or 8 is dropped",
        ),
        probe(
            "depthwise", "groups",
            {"input": _ints([1, 3, *spatial], 54), "weight": _ints([3, 2, *kernel], 55),
             "groups": 3},
            "depthwise (groups = C_in = 3) with 2 output channels per input channel: shows which "
            "output channels each input feeds",
        ),
        probe(
            "complex", "conjugation",
            {"input": _ints([1, 1, *spatial], 56), "weight": _ints([1, 2, *kernel], 57),
             "dtype": "complex128"},
            "complex128 data (integer real and imaginary parts): shows whether anything is "
            "conjugated",
            optional=True,
        ),
    ]  # fmt: skip
    if rank > 1:  # a non-square kernel: its axes read in the right order
        nonsquare = [2, 3] if rank == 2 else [1, 2, 3]
        probes.insert(
            1,
            probe(
                "orientation_nonsquare", "kernel_flip",
                {"input": _ints([1, 1, *spatial], 58), "weight": _ints([1, 1, *nonsquare], 59)},
                f"a {'x'.join(map(str, nonsquare))} kernel: shows a reading with its axes swapped "
                "or mirrored",
            ),
        )  # fmt: skip
    return tuple(probes)


def transposed_results(transposed: Callable, rank: int = 2) -> list[ProbeResult]:
    """One result per transposed probe for a conv_transpose{rank}d."""
    return [r for p in transposed_probes(rank) for r in probe_quantities(transposed, p)]


def transposed_backward_results(backward: Callable, rank: int = 2) -> list[ProbeResult]:
    """One result per (probe, gradient) for a conv_transpose{rank}d_backward."""
    op = f"conv_transpose{rank}d_backward"
    return [r for p in transposed_probes(rank, op) for r in probe_quantities(backward, p)]
