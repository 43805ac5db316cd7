"""The built-in implementations under test: torch, scipy and the reference, as convolution
callables of any spatial rank (conv1d, conv2d, conv3d).

Every implementation has torch.nn.functional.conv{1,2,3}d's signature on NumPy arrays:
`conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> array-like`,
input (N, C_in, *S), weight (C_out, C_in/groups, *k), the spatial rank r = len(S) in 1..3 read
from the arrays, cross-correlation, depth summed per group; stride and dilation an int or r
values. Built-ins also accept a flat (before, after) pair per axis as padding ((top, bottom, left,
right) in 2-D) and a `padding_mode` keyword and say so with `handles_padding_mode = True`; for any
other implementation the harness applies `padding_mode` and asymmetric padding itself, as
nn.ConvNd does, and passes padding=0.

Built in: `torch` (F.conv1d / conv2d / conv3d), `scipy` (signal.correlate2d per 2-D slice,
signal.correlate per 1-D or 3-D slice, depth summed explicitly), `reference`
(harness.computations.reference: NumPy and BLAS matrix products, no convolution routine); the names
are resolved by harness.computations.registry, and the torch helpers here serve the torch peers too.
`torch_conv2d`, `scipy_conv2d` and `reference_conv2d` are the same functions under their historical
names. Heavy libraries are imported inside the functions, so listing and validating stay fast.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Literal

import numpy as np

from harness.computations import reference

NUMPY_PAD_MODES: dict[str, Literal["constant", "reflect", "edge", "wrap"]] = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}
CONV2D_PARAMETERS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def harness_pads_first(case, handles_padding_mode: bool) -> bool:
    """Whether the harness pads the input before calling an implementation (and passes
    padding=0), as nn.ConvNd does: for padding modes other than zeros and for asymmetric padding
    (`case.pads` is flat, (before, after) per axis), unless the implementation handles padding
    modes itself."""
    if handles_padding_mode:
        return False
    pads = tuple(case.pads)
    symmetric = all(pads[a] == pads[a + 1] for a in range(0, len(pads), 2))
    return case.padding_mode != "zeros" or (not isinstance(case.padding, str) and not symmetric)


def _needs_explicit_pad(padding, padding_mode: str, rank: int) -> bool:
    """True where torch's convNd cannot take the padding itself: a padding mode other than zeros
    or a (before, after) pair per axis."""
    if padding_mode != "zeros":
        return True
    if isinstance(padding, str) or isinstance(padding, (int, np.integer)):
        return False
    return len(tuple(padding)) == 2 * rank


def pad_pairs(pads) -> list[tuple[int, int]]:
    """Flat (before0, after0, before1, after1, ...) pads as one (before, after) pair per axis."""
    return [(pads[a], pads[a + 1]) for a in range(0, len(pads), 2)]


def spatial_index(slices) -> tuple:
    """An index that takes every batch element and channel, and `slices` along the spatial
    axes."""
    return (slice(None), slice(None), *slices)


def torch_pad_order(pads) -> tuple[int, ...]:
    """Flat pads, first spatial axis first, in F.pad's order: the last axis first."""
    return tuple(p for pair in reversed(pad_pairs(pads)) for p in pair)


def spatial_rank(weight, input) -> int:
    """The spatial rank of a torch call: torch's convNd is chosen by the weight (it always has the
    batch-like C_out axis), by the input where the weight has not 3 to 5 axes."""
    for ndim in (weight.ndim, input.ndim):
        if ndim in (3, 4, 5):
            return ndim - 2
    raise ValueError(
        f"expected input and weight of 3 to 5 axes (N, C, *spatial), got {input.ndim}-D and "
        f"{weight.ndim}-D"
    )


def output_sizes(sizes, pads, kernel, strides, dilations) -> tuple[int, ...]:
    """The output's spatial sizes for flat (before, after) pads per axis; ValueError where the
    dilated kernel is larger than the padded input along some axis."""
    out = tuple(
        reference.output_size(size, pads[2 * a], pads[2 * a + 1], k, s, d)
        for a, (size, k, s, d) in enumerate(zip(sizes, kernel, strides, dilations, strict=True))
    )
    if min(out) < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    return out


# torch's CPU kernels choose their blocking, and so their rounding, by the number of intra-op
# threads: one case of the built-in registry differs in its last bits between 1 and 2 threads. The
# harness calls torch on CPU with this fixed count, so a report does not depend on the machine's
# cores or on --jobs (each worker process gets its share of the cores).
TORCH_THREADS = 1


@contextlib.contextmanager
def torch_threads():
    """torch's intra-op threads set to TORCH_THREADS for the duration, then restored."""
    import torch

    previous = torch.get_num_threads()
    if previous != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    try:
        yield
    finally:
        if previous != TORCH_THREADS:
            torch.set_num_threads(previous)


def torch_tensors(input, weight, bias, device="cpu"):
    """(x, w, b) as torch tensors made from copies of the arrays, on `device`."""
    import torch

    def tensor(array):
        return torch.from_numpy(np.ascontiguousarray(array).copy()).to(device)

    return tensor(input), tensor(weight), None if bias is None else tensor(bias)


def torch_convolution(rank: int, transposed: bool = False):
    """F.conv1d / conv2d / conv3d (or F.conv_transpose1d / 2d / 3d) for the spatial rank."""
    import torch.nn.functional as F

    if transposed:
        return (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    return (F.conv1d, F.conv2d, F.conv3d)[rank - 1]


def torch_forward(x, w, b, stride, padding, dilation, groups) -> np.ndarray:
    """F.conv1d / conv2d / conv3d (by rank) on tensors without autograd, on CPU with
    TORCH_THREADS threads; a NumPy array."""
    import torch

    conv = torch_convolution(spatial_rank(w, x))
    threads = torch_threads() if x.device.type == "cpu" else contextlib.nullcontext()
    with torch.no_grad(), warnings.catch_warnings(), threads:
        # torch warns that 'same' with an even kernel pads a copy; the result is what we test
        warnings.filterwarnings("ignore", message="Using padding='same'", category=UserWarning)
        out = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out.contiguous().cpu().numpy()


def torch_pad(x, w, padding, dilation, padding_mode: str):
    """x padded with F.pad as nn.ConvNd pads for `padding_mode`, any accepted form of `padding`
    (the kernel read from the weight tensor w)."""
    import torch.nn.functional as F

    rank = w.ndim - 2
    dilations = reference.as_tuple(dilation, rank, "dilation")
    pads = reference.padding_amounts(padding, tuple(w.shape[2:]), dilations)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    return F.pad(x, torch_pad_order(pads), mode=mode)


def torch_conv(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    device="cpu",
):
    """torch.nn.functional.conv1d / conv2d / conv3d by rank on `device`
    (harness.computations.devices sets it); padding_mode and (before, after) padding per axis via
    F.pad first."""
    x, w, b = torch_tensors(input, weight, bias, device)
    return torch_conv_on_tensors(x, w, b, stride, padding, dilation, groups, padding_mode)


def torch_conv_on_tensors(x, w, b, stride, padding, dilation, groups, padding_mode):
    """F.convNd by rank on tensors as they are (no copies); padding_mode and (before, after)
    padding per axis via F.pad first, which makes a contiguous input."""
    rank = spatial_rank(w, x)
    if _needs_explicit_pad(padding, padding_mode, rank):
        if padding == "same" and reference.as_tuple(stride, rank, "stride") != (1,) * rank:
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        x = torch_pad(x, w, padding, dilation, padding_mode)
        padding = 0
    return torch_forward(x, w, b, stride, padding, dilation, groups)


def spread_kernel(weight: np.ndarray, dilation: tuple[int, ...]) -> np.ndarray:
    """The kernel (O, I, *k) with zeros between its taps along every spatial axis: dilation for
    routines that have none."""
    kernel = weight.shape[2:]
    spread_shape = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    spread = np.zeros(weight.shape[:2] + spread_shape, dtype=weight.dtype)
    spread[spatial_index(slice(None, None, d) for d in dilation)] = weight
    return spread


def valid_correlation(rank: int):
    """The 'valid' cross-correlation of one slice with one kernel slice of this rank: scipy's
    correlate2d in 2-D, signal.correlate computed directly (never by FFT) otherwise."""
    from scipy import signal

    if rank == 2:
        return lambda a, k: signal.correlate2d(a, k, mode="valid")
    return lambda a, k: signal.correlate(a, k, mode="valid", method="direct")


def scipy_conv(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    output_maps=None,
):
    """scipy's 'valid' correlation on every (n, o, c) slice, of any rank; depth summed explicitly.

    Padding with np.pad (modes mapped to numpy's names), stride by subsampling the 'valid'
    result, dilation by spreading the kernel with zeros, groups by channel blocks. scipy rejects
    float16, so float16 is computed in float32 and rounded back. Complex kernels are conjugated
    before scipy's correlate, which conjugates them again: torch's plain sum of products.
    `output_maps` (a list of (n, o)) computes only those output maps and leaves NaN elsewhere:
    the harness samples large cases this way, since this leg is slow by nature.
    """
    reference.check_arguments(np.asarray(input), np.asarray(weight), bias, groups)
    x = np.asarray(input)
    out_dtype = x.dtype
    work = np.float32 if x.dtype == np.float16 else x.dtype
    x = x.astype(work)
    w = np.asarray(weight).astype(work)
    rank = x.ndim - 2
    strides = reference.as_tuple(stride, rank, "stride")
    dilations = reference.as_tuple(dilation, rank, "dilation")
    if padding == "same" and strides != (1,) * rank:
        raise ValueError("padding='same' is not supported for strided convolutions")
    kernel = w.shape[2:]
    pads = reference.padding_amounts(padding, kernel, dilations)
    reference.check_padding(x.shape[2:], pads, padding_mode)
    sizes = output_sizes(x.shape[2:], pads, kernel, strides, dilations)
    xp = np.pad(x, [(0, 0), (0, 0), *pad_pairs(pads)], mode=NUMPY_PAD_MODES[padding_mode])
    # scipy's correlate conjugates its second argument (sum of x * conj(w)); torch's conv does not,
    # so a complex kernel is conjugated first and scipy's conjugation undoes it
    spread = spread_kernel(reference.conjugated(w), dilations)
    correlate = valid_correlation(rank)
    subsample = tuple(slice(None, None, s) for s in strides)  # of one (n, o) map
    c_out, cg = w.shape[:2]
    og = c_out // groups
    n = x.shape[0]
    maps = (
        output_maps if output_maps is not None else [(i, o) for i in range(n) for o in range(c_out)]
    )
    out = np.full((n, c_out, *sizes), np.nan if output_maps is not None else 0, dtype=work)
    for i, o in maps:
        g = o // og
        total = correlate(xp[i, g * cg], spread[o, 0])
        for c in range(1, cg):  # depth summation, one input channel at a time
            total = total + correlate(xp[i, g * cg + c], spread[o, c])
        out[i, o] = total[subsample]
    if bias is not None:
        out = out + np.asarray(bias).astype(work).reshape((1, c_out) + (1,) * rank)
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as torch gives
        return out.astype(out_dtype)


def reference_conv(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """The handwritten reference (harness.computations.reference.conv2d, which reads the rank from
    the arrays) computed in the case's dtype (float16 via float32)."""
    x = np.asarray(input)
    work = np.float32 if x.dtype == np.float16 else x.dtype
    out = reference.conv2d(
        x.astype(work, copy=False),
        np.asarray(weight).astype(work, copy=False),
        None if bias is None else np.asarray(bias).astype(work, copy=False),
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
    )
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as torch gives
        return out.astype(x.dtype, copy=False)


for _builtin in (torch_conv, scipy_conv, reference_conv):
    _builtin.handles_padding_mode = True  # type: ignore[attr-defined]
scipy_conv.samples_output_maps = True  # type: ignore[attr-defined]
# the scipy leg spreads a dilated kernel with zeros, so 0*NaN reaches outputs whose taps never
# read the NaN (CATALOG): a divergence in NaN/Inf alone (cause `nan`) is this leg's documented one
scipy_conv.known_causes = ("nan",)  # type: ignore[attr-defined]

# the historical 2-D names, used across the harness: the same rank-generic functions
torch_conv2d = torch_conv
scipy_conv2d = scipy_conv
reference_conv2d = reference_conv
