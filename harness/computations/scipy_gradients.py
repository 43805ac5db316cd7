"""The backward pass and transposed convolution written the way the mathematics reads, with
scipy.signal on every slice of any spatial rank (1-D, 2-D, 3-D): the second opinion on
harness.computations.gradients.

Conventions are torch's and harness.computations.gradients' (input (N, C_in, *S), weight (C_out,
C_in/groups, *k), transposed weight (C_in, C_out/groups, *k), padding as
harness.computations.reference reads it (flat (before, after) per axis), padding_mode zeros |
reflect | replicate | circular). Per slice, with scipy's 2-D routines (convolve2d, correlate2d) in
2-D and signal.convolve / signal.correlate (method 'direct', never FFT) in 1-D and 3-D:

- grad_input: the true convolution 'full' of grad_output with the kernel (the flip made
  explicit: a convolution routine, not a correlation with a flipped kernel), with grad_output
  zero-upsampled by the stride and the kernel spread by the dilation, summed over the output
  channels of the group; that is the gradient of the padded input, cropped by the padding and,
  for the other padding modes, folded back one axis at a time (each padded position added to the
  input position np.pad copied it from).
- grad_weight: the 'valid' correlation of the padded input with the upsampled gradient, summed
  over the batch, taken at multiples of the dilation.
- conv_transpose: the true convolution it is, 'full' of the zero-upsampled input with the spread
  kernel, cropped by the padding and extended by output_padding zeros; its grad_input is scipy's
  forward convolution (harness.computations.implementations.scipy_conv), its grad_weight the
  correlation above with the roles of input and grad_output exchanged.

Complex arrays: torch's semantics (harness.computations.gradients), the conjugations explicit:
grad_input from conj(w), grad_weight from conj(x) (torch's conjugate vector-Jacobian product), and
scipy's correlate, which conjugates its second argument where convolve does not, given that argument
conjugated first so that every correlation is a plain sum of products.

`conv2d_backward`, `conv_transpose2d` and `conv_transpose2d_backward` are the same rank-generic
functions under their historical names.
Argument rules (shapes, padding, output_padding) are harness.computations.reference's and
harness.computations.gradients'. The inserted zeros multiply like any value: a NaN or Inf in the
weight reaches every grad_input position of its channel, and (at stride > 1) one in the input also
grad_weight taps that never read it, where torch's do not (0 * NaN; the forward scipy leg's
documented `nan` divergence). float16 is computed in float32 and rounded back (scipy rejects
float16); other dtypes as given. Slow by nature (one scipy call per (n, o, c) slice): for small
cases.
"""

from __future__ import annotations

import numpy as np

from harness.computations.gradients import backward_geometry, transposed_arguments
from harness.computations.implementations import (
    NUMPY_PAD_MODES,
    pad_pairs,
    scipy_conv,
    spatial_index,
    spread_kernel,
    valid_correlation,
)
from harness.computations.reference import conjugated


def conv_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
):
    """(grad_input, grad_weight, grad_bias) of y = conv{1,2,3}d(input, weight, bias, ...) for the
    gradient `grad_output` of y; grad_bias is None when bias is None."""
    x, w, b, gy, dtype = _work_arrays(input, weight, bias, grad_output)
    strides, dilations, pads = backward_geometry(
        x, w, b, gy, stride, padding, dilation, groups, padding_mode
    )
    upsampled = upsample(gy, strides)
    # torch's conjugate vector-Jacobian product for complex arrays: grad_input from conj(w),
    # grad_weight from conj(x)
    spread = spread_kernel(conjugated(w), dilations)
    pairs = pad_pairs(pads)
    padded_sizes = tuple(s + p + q for s, (p, q) in zip(x.shape[2:], pairs, strict=True))
    grad_padded = full_convolutions(upsampled, spread, groups, padded_sizes)
    grad_input = fold(grad_padded, pads, padding_mode)
    padded = np.pad(x, [(0, 0), (0, 0), *pairs], mode=NUMPY_PAD_MODES[padding_mode])
    grad_weight = valid_correlations(conjugated(padded), upsampled, w.shape[2:], dilations, groups)
    grad_bias = None if b is None else _bias_gradient(gy)
    return _cast(grad_input, dtype), _cast(grad_weight, dtype), _cast(grad_bias, dtype)


def conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """F.conv_transpose{1,2,3}d as a true convolution per slice: 'full' of the upsampled input
    with the spread kernel, cropped by `padding`, extended by `output_padding`."""
    x, w, b, _, dtype = _work_arrays(input, weight, bias, None)
    strides, paddings, dilations, sizes = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    full = full_convolutions(upsample(x, strides), spread_kernel(w, dilations), groups)
    # full index i + p is output index i; positions past the full result (output_padding) are 0
    out = np.zeros((x.shape[0], full.shape[1], *sizes), dtype=x.dtype)
    counts = [
        max(0, min(size, f - p)) for size, f, p in zip(sizes, full.shape[2:], paddings, strict=True)
    ]
    source = spatial_index(slice(p, p + c) for p, c in zip(paddings, counts, strict=True))
    out[spatial_index(slice(0, c) for c in counts)] = full[source]
    if b is not None:
        out += b.reshape((1, -1) + (1,) * len(sizes))
    return _cast(out, dtype)


def conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    """(grad_input, grad_weight, grad_bias) of y = conv_transpose{1,2,3}d(input, weight, bias,
    ...)."""
    x, w, b, gy, dtype = _work_arrays(input, weight, bias, grad_output)
    strides, paddings, dilations, sizes = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    expected = (x.shape[0], w.shape[1] * groups, *sizes)
    if gy.shape != expected:
        raise ValueError(f"grad_output must have shape {expected}, got {gy.shape}")
    # the adjoint of the transposed convolution is the forward one; output_padding beyond a whole
    # stride gives one more output position, which is not part of the input
    # torch's conjugate vector-Jacobian product for complex arrays: grad_input from conj(w),
    # grad_weight from conj(x)
    forward = scipy_conv(gy, conjugated(w), None, strides, paddings, dilations, groups)
    grad_input = forward[spatial_index(slice(0, s) for s in x.shape[2:])]
    padded = np.pad(gy, [(0, 0), (0, 0), *((p, p) for p in paddings)])
    grad_weight = valid_correlations(
        padded, upsample(conjugated(x), strides), w.shape[2:], dilations, groups
    )
    grad_bias = None if b is None else _bias_gradient(gy)
    return _cast(grad_input, dtype), _cast(grad_weight, dtype), _cast(grad_bias, dtype)


def upsample(a: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """a with stride-1 zeros between its elements along every spatial axis."""
    shape = tuple((size - 1) * s + 1 for size, s in zip(a.shape[2:], stride, strict=True))
    out = np.zeros(a.shape[:2] + shape, dtype=a.dtype)
    out[spatial_index(slice(None, None, s) for s in stride)] = a
    return out


def full_convolution(rank: int):
    """The 'full' true convolution of one slice with one kernel slice of this rank: scipy's
    convolve2d in 2-D, signal.convolve computed directly (never by FFT) otherwise."""
    from scipy import signal

    if rank == 2:
        return lambda a, k: signal.convolve2d(a, k, mode="full")
    return lambda a, k: signal.convolve(a, k, mode="full", method="direct")


def full_convolutions(a, kernel, groups: int, sizes: tuple[int, ...] | None = None):
    """z[n, g*Cg + c] = sum over o in group g of the 'full' convolution of a[n, o] with
    kernel[o, c], for a kernel (O, Cg, *k); the result is cut or zero-extended to `sizes` when
    given."""
    n, c_out = a.shape[:2]
    cg = kernel.shape[1]
    rank = a.ndim - 2
    convolve = full_convolution(rank)
    full_sizes = tuple(s + k - 1 for s, k in zip(a.shape[2:], kernel.shape[2:], strict=True))
    sizes = full_sizes if sizes is None else sizes
    og = c_out // groups
    out = np.zeros((n, groups * cg, *sizes), dtype=a.dtype)
    region = tuple(slice(0, min(s, f)) for s, f in zip(sizes, full_sizes, strict=True))
    for i in range(n):
        for g in range(groups):
            for c in range(cg):
                for o in range(g * og, (g + 1) * og):  # sum over the group's output channels
                    full = convolve(a[i, o], kernel[o, c])
                    target = (i, g * cg + c, *region)
                    out[target] += full[region]
    return out


def valid_correlations(padded, upsampled, kernel, dilation, groups: int) -> np.ndarray:
    """grad_w[o, c, *u] = sum_n of the 'valid' correlation of padded[n, g*Cg + c] with
    upsampled[n, o], at u * dilation: the padded input against the zero-upsampled gradient, one
    slice at a time. Plain products for complex arrays too: scipy's correlate conjugates its
    second argument, so that argument is conjugated first and scipy's conjugation undoes it."""
    n, c_in = padded.shape[:2]
    c_out = upsampled.shape[1]
    cg, og = c_in // groups, c_out // groups
    correlate = valid_correlation(padded.ndim - 2)
    taps = tuple(slice(0, d * k, d) for k, d in zip(kernel, dilation, strict=True))
    out = np.zeros((c_out, cg, *kernel), dtype=padded.dtype)
    kernels = conjugated(upsampled)  # undone by scipy's correlate
    for o in range(c_out):
        g = o // og
        for c in range(cg):
            for i in range(n):
                out[o, c] += correlate(padded[i, g * cg + c], kernels[i, o])[taps]
    return out


def fold(grad_padded: np.ndarray, pads, padding_mode: str) -> np.ndarray:
    """The padded input's gradient summed onto the input, one spatial axis after the other: the
    source of every padded position is np.pad applied to the indices themselves (-1 for a zero,
    which is dropped)."""
    out = grad_padded
    for axis, (before, after) in enumerate(pad_pairs(pads), start=2):
        size = out.shape[axis] - before - after
        folded = np.zeros((*out.shape[:axis], size, *out.shape[axis + 1 :]), dtype=out.dtype)
        head = (slice(None),) * axis
        for p, s in enumerate(_padded_indices(size, before, after, padding_mode)):
            if s >= 0:
                target: tuple = (*head, s)
                source: tuple = (*head, p)
                folded[target] += out[source]
        out = folded
    return out


def _padded_indices(size: int, before: int, after: int, padding_mode: str) -> np.ndarray:
    if padding_mode == "zeros":
        return np.pad(np.arange(size), (before, after), constant_values=-1)
    return np.pad(np.arange(size), (before, after), mode=NUMPY_PAD_MODES[padding_mode])


def _bias_gradient(gy: np.ndarray) -> np.ndarray:
    return gy.sum(axis=(0, *range(2, gy.ndim)))


def _work_arrays(input, weight, bias, grad_output):
    """The arrays in the working dtype (float32 for float16) and the dtype to return."""
    x = np.asarray(input)
    dtype = x.dtype
    work = np.float32 if dtype == np.float16 else dtype
    w = np.asarray(weight).astype(work)
    b = None if bias is None else np.asarray(bias).astype(work)
    gy = None if grad_output is None else np.asarray(grad_output).astype(work)
    return x.astype(work), w, b, gy, dtype


def _cast(a, dtype):
    if a is None:
        return None
    with np.errstate(over="ignore"):  # beyond float16's range is inf, as torch gives
        return a.astype(dtype, copy=False)


# the historical 2-D names: the same rank-generic functions
conv2d_backward = conv_backward
conv_transpose2d = conv_transpose
conv_transpose2d_backward = conv_transpose_backward


# as scipy's forward leg (harness.computations.implementations.scipy_conv): a dilated kernel spread
# with zeros lets 0*NaN reach elements whose taps never read the NaN; a divergence in NaN/Inf alone
# (cause `nan`) is this leg's documented one
conv_backward.known_causes = ("nan",)  # type: ignore[attr-defined]
conv_transpose.known_causes = ("nan",)  # type: ignore[attr-defined]
conv_transpose_backward.known_causes = ("nan",)  # type: ignore[attr-defined]
