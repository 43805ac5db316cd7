"""The handwritten reference for the backward pass and for transposed convolution: NumPy and BLAS
matrix products only (no library convolution routine), harness.reference.conv2d as the engine
wherever the mathematics is a correlation.

Conventions (torch's): input NCHW, conv2d weight OIHW with I = C_in/groups, the forward pass

    y[n, o, i, j] = b[o] + sum_c,u,v xp[n, g*Cg + c, i*sH + u*dH, j*sW + v*dW] * w[o, c, u, v]

with g = o // (C_out/groups), Cg = C_in/groups and xp the input padded as in harness.reference
(padding an int, a pair, (top, bottom, left, right), 'same' or 'valid'; padding_mode zeros |
reflect | replicate | circular). Its gradients, for a grad_output gy of y's shape:

- grad_input is a TRUE convolution (the kernel flipped): gy zero-upsampled by the stride (zeros
  between its rows and columns), padded by dH*(kH-1) and correlated with the kernel rotated by 180
  degrees, in/out channel axes swapped per group; that is the gradient of xp, which is folded back
  onto the input: cropped (zeros) or scatter-added from each padded position to the input position
  it was read from (reflect/replicate/circular, via harness.reference.source_index). Positions no
  window reaches (stride gaps, rows past the last window) get exactly zero.
- grad_weight[o, c, u, v] = sum_n,i,j gy[n, o, i, j] * xp[n, g*Cg + c, i*sH + u*dH, j*sW + v*dW],
  one matrix product per kernel tap (and group) over a group-major, channels-last copy of xp.
- grad_bias[o] = sum_n,i,j gy[n, o, i, j].

conv_transpose2d has F.conv_transpose2d's semantics: weight (C_in, C_out/groups, kH, kW), padding
an int or a pair, output size (H-1)*sH - 2*pH + dH*(kH-1) + output_padding + 1, output_padding
smaller than the stride or the dilation. It is conv2d's grad_input, so the same routine computes
both; its own backward is a conv2d (grad_input) and the same per-tap products (grad_weight).

Everything is computed in the input's dtype (float64 for the baseline). NaN and Inf propagate as
in the formulas above, with one consequence of the zero-upsampling and zero padding: a NaN or Inf
in the weight reaches every grad_input position of its input channel (0 * NaN), where torch's
col2im reaches only the positions its tap touches (7x7 input, 3x3 kernel, padding 1: 49 NaN
against torch's 36 at stride 1, 9 at stride 2). NaN in grad_output or the input reaches what it
reaches in torch.
"""

from __future__ import annotations

import numpy as np

from harness import reference

Pair = tuple[int, int]


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
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    gy = np.asarray(grad_output, dtype=x.dtype)
    (sh, sw), (dh, dw), (top, bottom, left, right) = backward_geometry(
        x, w, b, gy, stride, padding, dilation, groups, padding_mode
    )
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    if padding_mode == "zeros":  # only the interior of xp's gradient: the rest is cropped away
        grad_input = transposed_window(gy, w, groups, (sh, sw), (dh, dw), (top, left), (h, wd))
    else:
        padded = (h + top + bottom, wd + left + right)
        grad_padded = transposed_window(gy, w, groups, (sh, sw), (dh, dw), (0, 0), padded)
        grad_input = fold_padding(grad_padded, (top, bottom, left, right), (h, wd), padding_mode)
    grad_weight = weight_gradient(
        x, gy, (kh, kw), (sh, sw), (dh, dw), (top, left), padding_mode, groups
    )
    grad_bias = None if b is None else _bias_gradient(gy)
    return grad_input, grad_weight, grad_bias


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """F.conv_transpose2d: out[n, g*Og + o, p, q] = b + sum over c in group g and (i, u), (j, v)
    with i*sH + u*dH - pH = p and j*sW + v*dW - pW = q of x[n, c, i, j] * w[c, o, u, v]."""
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    stride, padding, dilation, size = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    out = transposed_window(x, w, groups, stride, dilation, padding, size)
    if b is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            out += b[None, :, None, None]
    return out


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
    """(grad_input, grad_weight, grad_bias) of y = conv_transpose2d(input, weight, bias, ...).

    grad_input is conv2d(grad_output, weight) with the same stride, padding, dilation and groups
    (the output_padding rows at the bottom/right are never read back into the input's size);
    grad_weight[c, o, u, v] = sum_n,i,j x[n, c, i, j] * gyp[n, g*Og + o, i*sH + u*dH, j*sW + v*dW]
    with gyp grad_output zero-padded by the padding: conv2d's weight gradient, roles exchanged."""
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    gy = np.asarray(grad_output, dtype=x.dtype)
    (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    n = x.shape[0]
    _, og, kh, kw = w.shape
    check_grad_output(gy, (n, og * groups, h_out, w_out))
    # the padded grad_output has (H-1)*sH + dH*(kH-1) + 1 + output_padding rows; the conv reads
    # all but the last output_padding: pad the bottom less, or crop grad_output where pH is less
    oph, opw = reference.as_pair(output_padding, "output_padding")
    cropped = gy[:, :, : h_out - max(0, oph - ph), : w_out - max(0, opw - pw)]
    pads = (ph, max(0, ph - oph), pw, max(0, pw - opw))
    grad_input = reference.conv2d(cropped, w, None, (sh, sw), pads, (dh, dw), groups)
    grad_weight = weight_gradient(gy, x, (kh, kw), (sh, sw), (dh, dw), (ph, pw), "zeros", groups)
    grad_bias = None if b is None else _bias_gradient(gy)
    return grad_input, grad_weight, grad_bias


def backward_geometry(x, w, b, gy, stride, padding, dilation, groups, padding_mode):
    """(stride, dilation, pads) of a convolution's backward call (per spatial axis; pads flat
    (before, after) per axis, (top, bottom, left, right) in 2-D), after checking its arguments as
    the forward pass would and grad_output's shape (ValueError otherwise)."""
    reference.check_arguments(x, w, b, groups)
    rank = x.ndim - 2
    strides = reference.as_tuple(stride, rank, "stride")
    dilations = reference.as_tuple(dilation, rank, "dilation")
    if padding == "same" and any(s != 1 for s in strides):
        raise ValueError("padding='same' is not supported for strided convolutions")
    kernel = tuple(w.shape[2:])
    pads = reference.padding_amounts(padding, kernel, dilations)
    reference.check_padding(tuple(x.shape[2:]), pads, padding_mode)
    sizes = tuple(
        reference.output_size(size, pads[2 * a], pads[2 * a + 1], k, s, d)
        for a, (size, k, s, d) in enumerate(
            zip(x.shape[2:], kernel, strides, dilations, strict=True)
        )
    )
    if min(sizes) < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    check_grad_output(gy, (x.shape[0], w.shape[0], *sizes))
    return strides, dilations, pads


def check_grad_output(gy: np.ndarray, shape: tuple[int, ...]) -> None:
    if gy.shape != shape:
        raise ValueError(f"grad_output must have the output's shape {shape}, got {gy.shape}")


def transposed_arguments(x, w, b, stride, padding, output_padding, groups, dilation):
    """(stride, padding, dilation, output size), one value per spatial axis each, or ValueError
    where torch refuses."""
    if x.ndim != w.ndim or x.ndim not in (3, 4, 5):
        raise ValueError(
            f"expected input and weight of the same rank, 3-D to 5-D, got {x.ndim}-D and {w.ndim}-D"
        )
    rank = x.ndim - 2
    c_in = x.shape[1]
    if groups < 1 or c_in % groups or w.shape[0] != c_in:
        raise ValueError(
            f"groups={groups} does not fit input channels {c_in} and weight {tuple(w.shape)}"
        )
    if b is not None and b.shape != (w.shape[1] * groups,):
        raise ValueError(f"bias must have shape ({w.shape[1] * groups},), got {tuple(b.shape)}")
    if isinstance(padding, str):
        raise ValueError(
            f"a transposed convolution takes an int or one value per axis as padding, "
            f"got {padding!r}"
        )
    strides = reference.as_tuple(stride, rank, "stride")
    paddings = reference.as_tuple(padding, rank, "padding")
    dilations = reference.as_tuple(dilation, rank, "dilation")
    extra = reference.as_tuple(output_padding, rank, "output_padding")
    sizes = []
    for size, k, s, p, d, op in zip(
        x.shape[2:], w.shape[2:], strides, paddings, dilations, extra, strict=True
    ):
        if s < 1 or d < 1 or p < 0 or op < 0:
            raise ValueError("stride and dilation must be positive, padding non-negative")
        if op >= s and op >= d:
            raise ValueError(f"output_padding {op} must be smaller than the stride or dilation")
        sizes.append((size - 1) * s - 2 * p + d * (k - 1) + op + 1)
    if min(sizes) < 1:
        raise ValueError(f"the output size {tuple(sizes)} is not positive")
    return strides, paddings, dilations, tuple(sizes)


def transposed_window(gy, w, groups: int, stride: Pair, dilation: Pair, start: Pair, size: Pair):
    """Rows start[0] .. start[0] + size[0] (and likewise columns) of the true convolution

        z[n, g*Cg + c, r, s] = sum over o in group g, i*sH + u*dH = r, j*sW + v*dW = s
                               of gy[n, o, i, j] * w[o, c, u, v]

    for a conv2d weight w (C_out, Cg, kH, kW): gy zero-upsampled by the stride, correlated (by
    harness.reference.conv2d) with w rotated by 180 degrees, channel axes swapped per group.
    Only the rows of the upsampled gy that the window reads are built; the correlation's zero
    padding stands for those beyond it."""
    n, c_out, ho, wo = gy.shape
    _, cg, kh, kw = w.shape
    spans = [
        _read_span(first, count, (m - 1) * s + 1, d * (k - 1))
        for first, count, m, s, d, k in zip(
            start, size, (ho, wo), stride, dilation, (kh, kw), strict=True
        )
    ]
    if any(lo >= hi for lo, hi, _, _ in spans):  # the window reads none of gy: all zero
        return np.zeros((n, groups * cg, *size), dtype=gy.dtype)
    (r0, r1, top, bottom), (c0, c1, left, right) = spans
    upsampled = _upsampled_rows(gy, stride, (r0, r1), (c0, c1))
    og = c_out // groups
    rotated = (
        w.reshape(groups, og, cg, kh, kw)
        .transpose(0, 2, 1, 3, 4)
        .reshape(groups * cg, og, kh, kw)[:, :, ::-1, ::-1]
    )
    return reference.conv2d(
        upsampled, rotated, None, 1, (top, bottom, left, right), dilation, groups
    )


def _read_span(first: int, count: int, length: int, reach: int) -> tuple[int, int, int, int]:
    """(lo, hi, before, after): output rows first .. first + count of a correlation (kernel
    reach dH*(kH-1), padded by reach) read upsampled rows first - reach .. first + count; lo:hi
    are those that exist (0 .. length), before/after the zero rows around them."""
    want_lo, want_hi = first - reach, first + count
    lo, hi = max(want_lo, 0), min(want_hi, length)
    return lo, hi, lo - want_lo, want_hi - hi


def _upsampled_rows(gy, stride: Pair, rows: Pair, cols: Pair) -> np.ndarray:
    """Rows r0:r1, columns c0:c1 of gy with sH-1 zero rows (sW-1 zero columns) inserted after
    each row (column); gy itself (a view) at stride 1."""
    (sh, sw), (r0, r1), (c0, c1) = stride, rows, cols
    if (sh, sw) == (1, 1):
        return gy[:, :, r0:r1, c0:c1]
    out = np.zeros((*gy.shape[:2], r1 - r0, c1 - c0), dtype=gy.dtype)
    i0, j0 = -(-r0 // sh), -(-c0 // sw)  # first gy row/column at or after r0/c0
    i1, j1 = -(-r1 // sh), -(-c1 // sw)
    out[:, :, i0 * sh - r0 :: sh, j0 * sw - c0 :: sw] = gy[:, :, i0:i1, j0:j1]
    return out


def fold_padding(grad_padded: np.ndarray, pads, size: Pair, mode: str) -> np.ndarray:
    """The gradient of the padded input folded onto the input: each padded row (then column)
    added to the input row it was read from (harness.reference.source_index), zeros dropped."""
    top, _, left, _ = pads
    h, wd = size
    rows = _fold_axis(grad_padded, 2, top, h, mode)
    return _fold_axis(rows, 3, left, wd, mode)


def _fold_axis(grad: np.ndarray, axis: int, before: int, size: int, mode: str) -> np.ndarray:
    """Along `axis`: the interior rows plus every border row added to its source row."""
    moved = np.moveaxis(grad, axis, 0)
    out = moved[before : before + size].copy()
    border = np.concatenate([np.arange(before), np.arange(before + size, moved.shape[0])])
    source = reference.source_index(border - before, size, mode)
    kept = source >= 0
    with np.errstate(invalid="ignore", over="ignore"):
        np.add.at(out, source[kept], moved[border[kept]])
    return np.moveaxis(out, 0, axis)


def weight_gradient(x, gy, kernel: Pair, stride: Pair, dilation: Pair, pads: Pair, mode, groups):
    """grad_w[o, c, u, v] = sum_n,i,j gy[n, o, i, j] * xp[n, g*Cg + c, i*sH + u*dH, j*sW + v*dW]
    for xp = x padded by pads = (top, left) in `mode` (the bottom/right padding follows from the
    shapes): one matrix product per tap (u, v) and group, grad_output (og, n*Ho*Wo) times that
    tap's (n*Ho*Wo, Cg) slice of xp stored group-major and channels-last, accumulated over chunks
    of images so that the extra memory stays bounded (reference.CHUNK_BYTES)."""
    n, c_in, h, wd = x.shape
    _, c_out, ho, wo = gy.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    cg, og = c_in // groups, c_out // groups
    taps = [(u, v) for u in range(kh) for v in range(kw)]
    sums: list = [None] * len(taps)
    if n * ho * wo == 0 or c_out * c_in == 0:
        return np.zeros((c_out, cg, kh, kw), dtype=x.dtype)
    hp, wp = (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1  # rows read
    rows = reference.source_index(np.arange(hp) - pads[0], h, mode)
    cols = reference.source_index(np.arange(wp) - pads[1], wd, mode)
    per_chunk = max(1, reference.CHUNK_BYTES // (hp * wp * c_in * x.itemsize))
    # BLAS's gemm where reference.conv2d uses it (the same library: their thread pools do not
    # compete), adding each chunk's product in place; it takes the transposed operands as they are
    gemm = reference._gemm(x.dtype) if groups == 1 else None
    for i0 in range(0, n, per_chunk):
        chunk = slice(i0, min(n, i0 + per_chunk))
        padded = _group_major_padded(x[chunk], rows, cols, mode, groups)  # (G, n, hp, wp, cg)
        count = padded.shape[1] * ho * wo
        grads = gy[chunk].transpose(1, 0, 2, 3).reshape(groups, og, count)  # (G, og, K)
        tap = np.empty((groups, padded.shape[1], ho, wo, cg), dtype=x.dtype)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            for t, (u, v) in enumerate(taps):
                r0, c0 = u * dh, v * dw
                tap[...] = padded[
                    :, :, r0 : r0 + (ho - 1) * sh + 1 : sh, c0 : c0 + (wo - 1) * sw + 1 : sw
                ]
                if gemm is not None:  # (C_in, K) @ (K, C_out): the transposed product, F-ordered
                    a, b = tap.reshape(count, c_in).T, grads[0].T
                    if sums[t] is None:
                        sums[t] = gemm(1.0, a, b)
                    else:
                        sums[t] = gemm(1.0, a, b, beta=1.0, c=sums[t], overwrite_c=1)
                else:  # (G, og, K) @ (G, K, cg)
                    product = np.matmul(grads, tap.reshape(groups, count, cg))
                    sums[t] = product if sums[t] is None else sums[t] + product
    out = np.empty((c_out, cg, kh, kw), dtype=x.dtype)
    for t, (u, v) in enumerate(taps):
        out[:, :, u, v] = sums[t].T if gemm is not None else sums[t].reshape(c_out, cg)
    return out


def _group_major_padded(x, rows, cols, mode: str, groups: int) -> np.ndarray:
    """x at padded rows/columns (their input indices, -1 for a zero) as (G, n, rows, cols, Cg):
    each group's channels last, so that a tap's slice is one matrix per group."""
    n, c_in, h, wd = x.shape
    grouped = x.reshape(n, groups, c_in // groups, h, wd)
    padded = np.zeros((groups, n, rows.size, cols.size, c_in // groups), dtype=x.dtype)
    if mode != "zeros":  # every padded position reads an input position
        padded[...] = grouped[:, :, :, rows][..., cols].transpose(1, 0, 3, 4, 2)
        return padded
    r_ok, c_ok = np.flatnonzero(rows >= 0), np.flatnonzero(cols >= 0)
    if r_ok.size and c_ok.size:  # zeros: the rows/columns read form one range of the input
        dst = (slice(None), slice(None), slice(r_ok[0], r_ok[-1] + 1), slice(c_ok[0], c_ok[-1] + 1))
        src = grouped[..., rows[r_ok[0]] : rows[r_ok[-1]] + 1, cols[c_ok[0]] : cols[c_ok[-1]] + 1]
        padded[dst] = src.transpose(1, 0, 3, 4, 2)
    return padded


def _bias_gradient(gy: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return gy.sum(axis=(0, 2, 3))
