"""The built-in implementations under test: torch, scipy and the reference, as conv2d callables.

Every implementation has torch.nn.functional.conv2d's signature on NumPy arrays:
`conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> array-like`,
input NCHW, weight OIHW (C_out, C_in/groups, kH, kW), cross-correlation, depth summed per group.
Built-ins also accept a (top, bottom, left, right) padding and a `padding_mode` keyword and say so
with `handles_padding_mode = True`; for any other implementation the harness applies
`padding_mode` and asymmetric padding itself, as nn.Conv2d does, and passes padding=0.

Built in: `torch` (F.conv2d), `scipy` (signal.correlate2d per 2-D slice, depth summed explicitly),
`reference` (harness.reference: NumPy and BLAS matrix products, no convolution routine); the
names are resolved by harness.registry, and the torch helpers here serve the torch peers too.
Heavy libraries are imported inside the functions, so listing and validating stay fast.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Literal

import numpy as np

from harness import reference

NUMPY_PAD_MODES: dict[str, Literal["constant", "reflect", "edge", "wrap"]] = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}
CONV2D_PARAMETERS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def harness_pads_first(case, handles_padding_mode: bool) -> bool:
    """Whether the harness pads the input before calling an implementation (and passes
    padding=0), as nn.Conv2d does: for padding modes other than zeros and for (top, bottom,
    left, right) padding, unless the implementation handles padding modes itself."""
    if handles_padding_mode:
        return False
    top, bottom, left, right = case.pads
    return case.padding_mode != "zeros" or (
        not isinstance(case.padding, str) and not (top == bottom and left == right)
    )


def _needs_explicit_pad(padding, padding_mode: str) -> bool:
    if padding_mode != "zeros":
        return True
    if isinstance(padding, str) or isinstance(padding, (int, np.integer)):
        return False
    return len(tuple(padding)) == 4


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


def torch_forward(x, w, b, stride, padding, dilation, groups) -> np.ndarray:
    """F.conv2d on tensors without autograd, on CPU with TORCH_THREADS threads; a NumPy array."""
    import torch
    import torch.nn.functional as F

    threads = torch_threads() if x.device.type == "cpu" else contextlib.nullcontext()
    with torch.no_grad(), warnings.catch_warnings(), threads:
        # torch warns that 'same' with an even kernel pads a copy; the result is what we test
        warnings.filterwarnings("ignore", message="Using padding='same'", category=UserWarning)
        out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out.contiguous().cpu().numpy()


def torch_conv2d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """torch.nn.functional.conv2d; padding_mode and 4-tuple padding via F.pad first."""
    import torch.nn.functional as F

    x, w, b = torch_tensors(input, weight, bias)
    if _needs_explicit_pad(padding, padding_mode):
        kernel = tuple(w.shape[2:])
        top, bottom, left, right = reference.padding_amounts(
            padding, kernel, reference.as_pair(dilation, "dilation")
        )
        if padding == "same" and reference.as_pair(stride, "stride") != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        mode = "constant" if padding_mode == "zeros" else padding_mode
        x = F.pad(x, (left, right, top, bottom), mode=mode)
        padding = 0
    return torch_forward(x, w, b, stride, padding, dilation, groups)


def spread_kernel(weight: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """The kernel with zeros between its taps: dilation for routines that have none."""
    dh, dw = dilation
    c_out, cg, kh, kw = weight.shape
    spread = np.zeros((c_out, cg, dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=weight.dtype)
    spread[:, :, ::dh, ::dw] = weight
    return spread


def scipy_conv2d(
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
    """scipy.signal.correlate2d on every (n, o, c) slice; depth summed explicitly.

    Padding with np.pad (modes mapped to numpy's names), stride by subsampling the 'valid'
    result, dilation by spreading the kernel with zeros, groups by channel blocks. scipy rejects
    float16, so float16 is computed in float32 and rounded back.
    `output_maps` (a list of (n, o)) computes only those output maps and leaves NaN elsewhere:
    the harness samples large cases this way, since this leg is slow by nature.
    """
    from scipy import signal

    reference.check_arguments(np.asarray(input), np.asarray(weight), bias, groups)
    x = np.asarray(input)
    out_dtype = x.dtype
    work = np.float32 if x.dtype == np.float16 else x.dtype
    x = x.astype(work)
    w = np.asarray(weight).astype(work)
    (sh, sw), (dh, dw) = (
        reference.as_pair(stride, "stride"),
        reference.as_pair(dilation, "dilation"),
    )
    c_out, cg, kh, kw = w.shape
    if padding == "same" and (sh, sw) != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    top, bottom, left, right = reference.padding_amounts(padding, (kh, kw), (dh, dw))
    h, w_in = x.shape[2], x.shape[3]
    reference.check_padding((h, w_in), (top, bottom, left, right), padding_mode)
    ho = reference.output_size(h, top, bottom, kh, sh, dh)
    wo = reference.output_size(w_in, left, right, kw, sw, dw)
    if ho < 1 or wo < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    xp = np.pad(
        x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=NUMPY_PAD_MODES[padding_mode]
    )
    spread = spread_kernel(w, (dh, dw))
    og = c_out // groups
    n = x.shape[0]
    maps = (
        output_maps if output_maps is not None else [(i, o) for i in range(n) for o in range(c_out)]
    )
    out = np.full((n, c_out, ho, wo), np.nan if output_maps is not None else 0, dtype=work)
    for i, o in maps:
        g = o // og
        total = signal.correlate2d(xp[i, g * cg], spread[o, 0], mode="valid")
        for c in range(1, cg):  # depth summation, one input channel at a time
            total = total + signal.correlate2d(xp[i, g * cg + c], spread[o, c], mode="valid")
        out[i, o] = total[::sh, ::sw]
    if bias is not None:
        out = out + np.asarray(bias).astype(work)[None, :, None, None]
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as torch gives
        return out.astype(out_dtype)


def reference_conv2d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """The handwritten reference computed in the case's dtype (float16 via float32)."""
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


for _builtin in (torch_conv2d, scipy_conv2d, reference_conv2d):
    _builtin.handles_padding_mode = True  # type: ignore[attr-defined]
scipy_conv2d.samples_output_maps = True  # type: ignore[attr-defined]
# the scipy leg spreads a dilated kernel with zeros, so 0*NaN reaches outputs whose taps never
# read the NaN (CATALOG): a divergence in NaN/Inf alone (cause `nan`) is this leg's documented one
scipy_conv2d.known_causes = ("nan",)  # type: ignore[attr-defined]
