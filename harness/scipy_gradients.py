"""The backward pass and transposed convolution written the way the mathematics reads, with
scipy.signal on every 2-D slice: the second opinion on harness.gradients.

Conventions are torch's and harness.gradients' (NCHW input, OIHW conv2d weight with I =
C_in/groups, (C_in, C_out/groups, kH, kW) transposed weight, padding as harness.reference reads
it, padding_mode zeros | reflect | replicate | circular). Per slice:

- conv2d's grad_input: `signal.convolve2d(upsampled_grad_output, kernel, 'full')` (the flip made
  explicit: a true convolution, not correlate2d on a flipped kernel), with grad_output
  zero-upsampled by the stride and the kernel spread by the dilation, summed over the output
  channels of the group; that is the gradient of the padded input, cropped by the padding and,
  for the other padding modes, folded back (each padded row/column added to the input row/column
  np.pad copied it from).
- conv2d's grad_weight: `signal.correlate2d(padded_input, upsampled_grad_output, 'valid')`
  summed over the batch, taken at multiples of the dilation.
- conv_transpose2d: the true convolution it is, `convolve2d` 'full' of the zero-upsampled input
  with the spread kernel, cropped by the padding and extended by output_padding zero rows; its
  grad_input is scipy's forward conv2d (harness.implementations.scipy_conv2d), its grad_weight
  the correlation above with the roles of input and grad_output exchanged.

Argument rules (shapes, padding, output_padding) are harness.reference's and harness.gradients'.
The inserted zeros multiply like any value: a NaN or Inf in the weight reaches every grad_input
position of its channel, and (at stride > 1) one in the input also grad_weight taps that never
read it, where torch's do not (0 * NaN; the forward scipy leg's documented `nan` divergence).
float16 is computed in float32 and rounded back (scipy rejects float16); other dtypes as given.
Slow by nature (one scipy call per (n, o, c) slice): for small cases.
"""

from __future__ import annotations

import numpy as np

from harness.gradients import backward_geometry, transposed_arguments
from harness.implementations import NUMPY_PAD_MODES, scipy_conv2d, spread_kernel


def conv2d_backward(
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
    """(grad_input, grad_weight, grad_bias) of y = conv2d(input, weight, bias, ...) for the
    gradient `grad_output` of y; grad_bias is None when bias is None."""
    x, w, b, gy, dtype = _work_arrays(input, weight, bias, grad_output)
    (sh, sw), (dh, dw), (top, bottom, left, right) = backward_geometry(
        x, w, b, gy, stride, padding, dilation, groups, padding_mode
    )
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    upsampled = upsample(gy, (sh, sw))
    spread = spread_kernel(w, (dh, dw))
    hp, wp = h + top + bottom, wd + left + right
    grad_padded = full_convolutions(upsampled, spread, groups, hp, wp)
    grad_input = fold(grad_padded, (top, bottom, left, right), padding_mode)
    padded = np.pad(
        x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=NUMPY_PAD_MODES[padding_mode]
    )
    grad_weight = valid_correlations(padded, upsampled, (kh, kw), (dh, dw), groups)
    grad_bias = None if b is None else gy.sum(axis=(0, 2, 3))
    return _cast(grad_input, dtype), _cast(grad_weight, dtype), _cast(grad_bias, dtype)


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """F.conv_transpose2d as a true convolution per slice: convolve2d 'full' of the upsampled
    input with the spread kernel, cropped by `padding`, extended by `output_padding`."""
    x, w, b, _, dtype = _work_arrays(input, weight, bias, None)
    (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    full = full_convolutions(upsample(x, (sh, sw)), spread_kernel(w, (dh, dw)), groups)
    # full index p + pH is output row p; rows past the full result (output_padding) are zeros
    out = np.zeros((x.shape[0], full.shape[1], h_out, w_out), dtype=x.dtype)
    rows, cols = min(h_out, full.shape[2] - ph), min(w_out, full.shape[3] - pw)
    out[:, :, :rows, :cols] = full[:, :, ph : ph + rows, pw : pw + cols]
    if b is not None:
        out += b[None, :, None, None]
    return _cast(out, dtype)


def conv_transpose2d_backward(
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
    """(grad_input, grad_weight, grad_bias) of y = conv_transpose2d(input, weight, bias, ...)."""
    x, w, b, gy, dtype = _work_arrays(input, weight, bias, grad_output)
    stride_pair, (ph, pw), dilation_pair, (h_out, w_out) = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    n, _, h, wd = x.shape
    _, og, kh, kw = w.shape
    if gy.shape != (n, og * groups, h_out, w_out):
        raise ValueError(
            f"grad_output must have shape {(n, og * groups, h_out, w_out)}, got {gy.shape}"
        )
    # the adjoint of the transposed convolution is the forward one; output_padding rows beyond
    # a whole stride give one more output row, which is not part of the input
    forward = scipy_conv2d(gy, w, None, stride_pair, (ph, pw), dilation_pair, groups)
    grad_input = forward[:, :, :h, :wd]
    padded = np.pad(gy, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_weight = valid_correlations(
        padded, upsample(x, stride_pair), (kh, kw), dilation_pair, groups
    )
    grad_bias = None if b is None else gy.sum(axis=(0, 2, 3))
    return _cast(grad_input, dtype), _cast(grad_weight, dtype), _cast(grad_bias, dtype)


def upsample(a: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    """a with sH-1 zero rows and sW-1 zero columns between its rows and columns."""
    sh, sw = stride
    n, c, h, w = a.shape
    out = np.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=a.dtype)
    out[:, :, ::sh, ::sw] = a
    return out


def full_convolutions(a, kernel, groups: int, rows: int | None = None, cols: int | None = None):
    """z[n, g*Cg + c] = sum over o in group g of convolve2d(a[n, o], kernel[o, c], 'full'), for
    a kernel (O, Cg, kH, kW); the result is cut or zero-extended to rows x cols when given."""
    from scipy import signal

    n, c_out = a.shape[:2]
    _, cg, kh, kw = kernel.shape
    og = c_out // groups
    full_rows, full_cols = a.shape[2] + kh - 1, a.shape[3] + kw - 1
    rows = full_rows if rows is None else rows
    cols = full_cols if cols is None else cols
    out = np.zeros((n, groups * cg, rows, cols), dtype=a.dtype)
    r, q = min(rows, full_rows), min(cols, full_cols)
    for i in range(n):
        for g in range(groups):
            for c in range(cg):
                for o in range(g * og, (g + 1) * og):  # sum over the group's output channels
                    full = signal.convolve2d(a[i, o], kernel[o, c], mode="full")
                    out[i, g * cg + c, :r, :q] += full[:r, :q]
    return out


def valid_correlations(padded, upsampled, kernel, dilation, groups: int) -> np.ndarray:
    """grad_w[o, c, u, v] = sum_n correlate2d(padded[n, g*Cg + c], upsampled[n, o], 'valid')
    at (u*dH, v*dW): the padded input against the zero-upsampled gradient, one slice at a time."""
    from scipy import signal

    (kh, kw), (dh, dw) = kernel, dilation
    n, c_in = padded.shape[:2]
    c_out = upsampled.shape[1]
    cg, og = c_in // groups, c_out // groups
    out = np.zeros((c_out, cg, kh, kw), dtype=padded.dtype)
    for o in range(c_out):
        g = o // og
        for c in range(cg):
            for i in range(n):
                valid = signal.correlate2d(padded[i, g * cg + c], upsampled[i, o], mode="valid")
                out[o, c] += valid[::dh, ::dw][:kh, :kw]
    return out


def fold(grad_padded: np.ndarray, pads, padding_mode: str) -> np.ndarray:
    """The padded input's gradient summed onto the input: the source of every padded row and
    column is np.pad applied to the indices themselves (-1 for a zero, which is dropped)."""
    top, bottom, left, right = pads
    n, c, hp, wp = grad_padded.shape
    h, wd = hp - top - bottom, wp - left - right
    source_rows = _padded_indices(h, top, bottom, padding_mode)
    source_cols = _padded_indices(wd, left, right, padding_mode)
    rows = np.zeros((n, c, h, wp), dtype=grad_padded.dtype)
    for p, r in enumerate(source_rows):
        if r >= 0:
            rows[:, :, r] += grad_padded[:, :, p]
    out = np.zeros((n, c, h, wd), dtype=grad_padded.dtype)
    for q, s in enumerate(source_cols):
        if s >= 0:
            out[:, :, :, s] += rows[:, :, :, q]
    return out


def _padded_indices(size: int, before: int, after: int, padding_mode: str) -> np.ndarray:
    if padding_mode == "zeros":
        return np.pad(np.arange(size), (before, after), constant_values=-1)
    return np.pad(np.arange(size), (before, after), mode=NUMPY_PAD_MODES[padding_mode])


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
