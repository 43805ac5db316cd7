"""The handwritten reference for the backward pass and for transposed convolution, any spatial
rank (1-D, 2-D, 3-D): NumPy and BLAS matrix products only (no library convolution routine),
harness.computations.reference.conv as the engine wherever the mathematics is a correlation.

Conventions (torch's): input (N, C_in, *S) with r = len(S) spatial axes, weight
(C_out, C_in/groups, *k), the forward pass

    y[n, o, *i] = b[o] + sum_c,t xp[n, g*Cg + c, *(i*s + t*d)] * w[o, c, *t]

over the kernel taps t (one index per axis; i*s + t*d per axis), with g = o // (C_out/groups),
Cg = C_in/groups and xp the input padded as in harness.computations.reference (padding an int, r
values, 2r values (before, after) per axis, 'same' or 'valid'; padding_mode zeros | reflect |
replicate | circular). Its gradients, for a grad_output gy of y's shape:

- grad_input is a TRUE convolution (the kernel flipped): gy zero-upsampled by the stride (s_a - 1
  zeros after each element along axis a), padded by d_a*(k_a-1) on each axis and correlated with
  the kernel flipped along every spatial axis, in/out channel axes swapped per group:

      gxp[n, g*Cg + c, *p] = sum over o in group g and (i, t) with i*s + t*d = p (per axis)
                             of gy[n, o, *i] * w[o, c, *t]

  That is the gradient of xp, which is folded back onto the input axis by axis: cropped (zeros)
  or scatter-added from each padded index to the input index it was read from
  (reflect/replicate/circular, via harness.computations.reference.source_index). Positions no window
  reaches (stride gaps, positions past the last window) get exactly zero.
- grad_weight[o, c, *t] = sum_n,i gy[n, o, *i] * xp[n, g*Cg + c, *(i*s + t*d)], one matrix
  product per kernel tap (and group) over a group-major, channels-last copy of xp.
- grad_bias[o] = sum over n and every output position of gy[n, o, ...].

conv_transpose has F.conv_transpose1d/2d/3d's semantics: weight (C_in, C_out/groups, *k),
padding an int or r values, output size (S_a-1)*s_a - 2*p_a + d_a*(k_a-1) + output_padding_a + 1
per axis, output_padding smaller than the stride or the dilation on each axis. It is conv's
grad_input, so the same routine computes both; its own backward is a conv (grad_input) and the
same per-tap products (grad_weight). The 2-D names (conv2d_backward, conv_transpose2d,
conv_transpose2d_backward) are the same functions and take any rank too.

Complex arrays (complex64, complex128): the forward passes are the plain sums of products above
(no conjugation, as torch's F.convNd and F.conv_transposeNd), and the gradients are torch's
conjugate vector-Jacobian products: the formulas above with the other factor conjugated, that is
grad_input from conj(w), grad_weight from conj(xp) (conj(x) for conv_transpose), grad_bias the
plain sum of gy.

Everything is computed in the input's dtype (float64, complex128 for complex cases, for the
baseline). NaN and Inf propagate as in the formulas above, with one consequence of the
zero-upsampling and zero padding: a NaN or Inf in the weight reaches every grad_input position of
its input channel (0 * NaN), where torch's col2im reaches only the positions its tap touches (7x7
input, 3x3 kernel, padding 1: 49 NaN against torch's 36 at stride 1, 9 at stride 2). NaN in
grad_output or the input reaches what it reaches in torch; in a transposed convolution's
grad_weight, an input's NaN or Inf reaches only the taps whose products read a real grad_output
element, not the zeros padding it (torch's kernels spread it there too, by dtype and shape).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from harness.computations import reference

Sizes = tuple[int, ...]  # one value per spatial axis


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
    """(grad_input, grad_weight, grad_bias) of y = reference.conv(input, weight, bias, ...) for
    the gradient `grad_output` of y, any spatial rank; grad_bias is None when bias is None."""
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    gy = np.asarray(grad_output, dtype=x.dtype)
    strides, dilations, pads = backward_geometry(
        x, w, b, gy, stride, padding, dilation, groups, padding_mode
    )
    x, w = (
        reference.conjugated(x),
        reference.conjugated(w),
    )  # torch's conjugate vector-Jacobian product
    sizes, befores = tuple(x.shape[2:]), pads[0::2]
    if padding_mode == "zeros":  # only the interior of xp's gradient: the rest is cropped away
        grad_input = transposed_window(gy, w, groups, strides, dilations, befores, sizes)
    else:
        padded = tuple(size + pads[2 * a] + pads[2 * a + 1] for a, size in enumerate(sizes))
        origin = (0,) * len(sizes)
        grad_padded = transposed_window(gy, w, groups, strides, dilations, origin, padded)
        grad_input = fold_padding(grad_padded, pads, sizes, padding_mode)
    grad_weight = weight_gradient(
        x, gy, tuple(w.shape[2:]), strides, dilations, befores, padding_mode, groups
    )
    grad_bias = None if b is None else _bias_gradient(gy)
    return grad_input, grad_weight, grad_bias


def conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """F.conv_transpose1d/2d/3d: out[n, g*Og + o, *p] = b + sum over c in group g and (i, t)
    with i*s + t*d - padding = p (per axis) of x[n, c, *i] * w[c, o, *t]."""
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    stride, padding, dilation, size = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    out = transposed_window(x, w, groups, stride, dilation, padding, size)
    if b is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            out += b.reshape(1, -1, *(1,) * len(size))
    return out


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
    """(grad_input, grad_weight, grad_bias) of y = conv_transpose(input, weight, bias, ...).

    grad_input is reference.conv(grad_output, weight) with the same stride, padding, dilation and
    groups (the output_padding elements after each axis are never read back into the input's
    size); grad_weight[c, o, *t] = sum_n,i x[n, c, *i] * gyp[n, g*Og + o, *(i*s + t*d)] with gyp
    grad_output zero-padded by the padding: conv's weight gradient, roles exchanged."""
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    gy = np.asarray(grad_output, dtype=x.dtype)
    strides, paddings, dilations, out_sizes = transposed_arguments(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    _, og, *kernel = w.shape
    check_grad_output(gy, (x.shape[0], og * groups, *out_sizes))
    x, w = (
        reference.conjugated(x),
        reference.conjugated(w),
    )  # torch's conjugate vector-Jacobian product
    # the padded grad_output has (S-1)*s + d*(k-1) + 1 + output_padding elements along an axis;
    # the conv reads all but the last output_padding: pad the end less, or crop grad_output
    # where the padding is less
    extra = reference.as_tuple(output_padding, len(kernel), "output_padding")
    kept = [
        slice(0, m - max(0, op - p)) for m, op, p in zip(out_sizes, extra, paddings, strict=True)
    ]
    cropped = gy[tuple([slice(None), slice(None), *kept])]
    pads = tuple(v for p, op in zip(paddings, extra, strict=True) for v in (p, max(0, p - op)))
    grad_input = reference.conv(cropped, w, None, strides, pads, dilations, groups)
    finite = np.isfinite(x)
    grad_weight = weight_gradient(
        gy, np.where(finite, x, 0), tuple(kernel), strides, dilations, paddings, "zeros", groups
    )
    if not finite.all():  # the products of x's NaN/Inf with real grad_output elements only
        special = np.where(finite, 0, x)
        with np.errstate(invalid="ignore", over="ignore"):
            grad_weight += _tap_products(special, gy, strides, paddings, dilations, groups, w)
    grad_bias = None if b is None else _bias_gradient(gy)
    return grad_input, grad_weight, grad_bias


def _tap_products(x, gy, strides, paddings, dilations, groups: int, w) -> np.ndarray:
    """sum_n,i x[n, c, *i] * gy[n, g*Og + o, *(i*s + t*d - p)] over the i whose output index
    exists, for each tap t: a transposed convolution's grad_weight, term by term (w: its shape)."""
    c_in, og, *kernel = w.shape
    cg = c_in // groups
    spatial = tuple(range(2, x.ndim))
    out = np.zeros(w.shape, dtype=np.result_type(x, gy))
    for taps in itertools.product(*(range(k) for k in kernel)):
        reads, writes = [], []
        for size, m, s, p, d, t in zip(
            x.shape[2:], gy.shape[2:], strides, paddings, dilations, taps, strict=True
        ):
            i = np.arange(size)
            j = i * s + t * d - p
            kept = (j >= 0) & (j < m)
            reads.append(i[kept])
            writes.append(j[kept])
        both: tuple = (slice(None), slice(None))
        xs = x[both + np.ix_(*reads)]
        gs = gy[both + np.ix_(*writes)]
        for g in range(groups):
            at: tuple = (slice(g * cg, (g + 1) * cg), slice(None), *taps)
            out[at] += np.tensordot(
                xs[:, g * cg : (g + 1) * cg],
                gs[:, g * og : (g + 1) * og],
                axes=((0, *spatial), (0, *spatial)),
            )
    return out


# the 2-D names, kept for their callers: the same functions, any rank
conv2d_backward = conv_backward
conv_transpose2d = conv_transpose
conv_transpose2d_backward = conv_transpose_backward


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


def transposed_window(gy, w, groups: int, stride: Sizes, dilation: Sizes, start, size):
    """The window start .. start + size (per spatial axis) of the true convolution

        z[n, g*Cg + c, *p] = sum over o in group g and (i, t) with i*s + t*d = p (per axis)
                             of gy[n, o, *i] * w[o, c, *t]

    for a conv weight w (C_out, Cg, *k): gy zero-upsampled by the stride, correlated (by
    harness.computations.reference.conv) with w flipped along every spatial axis, channel axes
    swapped per group. Only the part of the upsampled gy that the window reads is built; the
    correlation's zero padding stands for what lies beyond it."""
    n, c_out, *outs = gy.shape
    _, cg, *kernel = w.shape
    rank = len(kernel)
    spans = [
        _read_span(first, count, (m - 1) * s + 1, d * (k - 1))
        for first, count, m, s, d, k in zip(
            start, size, outs, stride, dilation, kernel, strict=True
        )
    ]
    if any(lo >= hi for lo, hi, _, _ in spans):  # the window reads none of gy: all zero
        return np.zeros((n, groups * cg, *size), dtype=gy.dtype)
    upsampled = _upsampled(gy, stride, [(lo, hi) for lo, hi, _, _ in spans])
    og = c_out // groups
    flipped = (slice(None), slice(None), *(slice(None, None, -1),) * rank)
    rotated = (
        w.reshape(groups, og, cg, *kernel)
        .transpose(0, 2, 1, *range(3, 3 + rank))
        .reshape(groups * cg, og, *kernel)[flipped]
    )
    pads = tuple(p for _, _, before, after in spans for p in (before, after))
    return reference.conv(upsampled, rotated, None, 1, pads, dilation, groups)


def _read_span(first: int, count: int, length: int, reach: int) -> tuple[int, int, int, int]:
    """(lo, hi, before, after) along one axis: outputs first .. first + count of a correlation
    (kernel reach d*(k-1), padded by reach) read upsampled elements first - reach ..
    first + count; lo:hi are those that exist (0 .. length), before/after the zeros around
    them."""
    want_lo, want_hi = first - reach, first + count
    lo, hi = max(want_lo, 0), min(want_hi, length)
    return lo, hi, lo - want_lo, want_hi - hi


def _upsampled(gy, stride: Sizes, spans) -> np.ndarray:
    """The span lo:hi (per spatial axis) of gy with s_a - 1 zeros inserted after each element
    along axis a; gy itself (a view) at stride 1."""
    if all(s == 1 for s in stride):
        return gy[tuple([slice(None), slice(None), *(slice(lo, hi) for lo, hi in spans)])]
    out = np.zeros((*gy.shape[:2], *(hi - lo for lo, hi in spans)), dtype=gy.dtype)
    target, source = [slice(None)] * 2, [slice(None)] * 2
    for s, (lo, hi) in zip(stride, spans, strict=True):
        i0, i1 = -(-lo // s), -(-hi // s)  # first gy element at or after lo, and after hi
        target.append(slice(i0 * s - lo, None, s))
        source.append(slice(i0, i1))
    out[tuple(target)] = gy[tuple(source)]
    return out


def fold_padding(grad_padded: np.ndarray, pads, size: Sizes, mode: str) -> np.ndarray:
    """The gradient of the padded input folded onto the input, axis by axis: each padded index
    added to the input index it was read from (harness.computations.reference.source_index), zeros
    dropped. pads: (before, after) per spatial axis, flat. A gradient of another shape than the
    padded input's is returned as it is: folding it would hide that its shape is wrong."""
    padded = tuple(s + pads[2 * a] + pads[2 * a + 1] for a, s in enumerate(size))
    if tuple(grad_padded.shape[2:]) != padded:
        return grad_padded
    out = grad_padded
    for axis, extent in enumerate(size):
        out = _fold_axis(out, axis + 2, pads[2 * axis], extent, mode)
    return out


def _fold_axis(grad: np.ndarray, axis: int, before: int, size: int, mode: str) -> np.ndarray:
    """Along `axis`: the interior plus every border element added to its source element."""
    moved = np.moveaxis(grad, axis, 0)
    out = moved[before : before + size].copy()
    border = np.concatenate([np.arange(before), np.arange(before + size, moved.shape[0])])
    source = reference.source_index(border - before, size, mode)
    kept = source >= 0
    with np.errstate(invalid="ignore", over="ignore"):
        np.add.at(out, source[kept], moved[border[kept]])
    return np.moveaxis(out, 0, axis)


def weight_gradient(x, gy, kernel: Sizes, stride: Sizes, dilation: Sizes, befores, mode, groups):
    """grad_w[o, c, *t] = sum_n,i gy[n, o, *i] * xp[n, g*Cg + c, *(i*s + t*d)] for xp = x padded
    by `befores` (the padding before each axis) in `mode` (the padding after follows from the
    shapes): one matrix product per tap t and group, grad_output (og, n*prod(outputs)) times
    that tap's (n*prod(outputs), Cg) slice of xp stored group-major and channels-last,
    accumulated over chunks of images so that the extra memory stays bounded
    (reference.CHUNK_BYTES)."""
    n, c_in, *sizes = x.shape
    _, c_out, *outs = gy.shape
    rank = len(sizes)
    cg, og = c_in // groups, c_out // groups
    taps = list(itertools.product(*(range(k) for k in kernel)))
    sums: list = [None] * len(taps)
    if n * math.prod(outs) == 0 or c_out * c_in == 0:
        return np.zeros((c_out, cg, *kernel), dtype=x.dtype)
    geometry = list(zip(outs, stride, dilation, kernel, strict=True))
    extents = [(m - 1) * s + d * (k - 1) + 1 for m, s, d, k in geometry]  # what the taps read
    sources = [
        reference.source_index(np.arange(e) - before, size, mode)
        for e, before, size in zip(extents, befores, sizes, strict=True)
    ]
    per_chunk = max(1, reference.CHUNK_BYTES // (math.prod(extents) * c_in * x.itemsize))
    # BLAS's gemm where reference.conv uses it (the same library: their thread pools do not
    # compete), adding each chunk's product in place; it takes the transposed operands as they are
    gemm = reference._gemm(x.dtype) if groups == 1 else None
    for i0 in range(0, n, per_chunk):
        chunk = slice(i0, min(n, i0 + per_chunk))
        padded = _group_major_padded(x[chunk], sources, mode, groups)  # (G, n, *extents, cg)
        count = padded.shape[1] * math.prod(outs)
        grads = gy[chunk].transpose(1, 0, *range(2, 2 + rank)).reshape(groups, og, count)
        tap = np.empty((groups, padded.shape[1], *outs, cg), dtype=x.dtype)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            for t, offsets in enumerate(taps):
                window = [
                    slice(u * d, u * d + (m - 1) * s + 1, s)
                    for u, (m, s, d, _) in zip(offsets, geometry, strict=True)
                ]
                tap[...] = padded[tuple([slice(None), slice(None), *window])]
                if gemm is not None:  # (C_in, K) @ (K, C_out): the transposed product, F-ordered
                    a, b = tap.reshape(count, c_in).T, grads[0].T
                    if sums[t] is None:
                        sums[t] = gemm(1.0, a, b)
                    else:
                        sums[t] = gemm(1.0, a, b, beta=1.0, c=sums[t], overwrite_c=1)
                else:  # (G, og, K) @ (G, K, cg)
                    product = np.matmul(grads, tap.reshape(groups, count, cg))
                    sums[t] = product if sums[t] is None else sums[t] + product
    out = np.empty((c_out, cg, *kernel), dtype=x.dtype)
    for t, offsets in enumerate(taps):
        at: tuple = (slice(None), slice(None), *offsets)
        out[at] = sums[t].T if gemm is not None else sums[t].reshape(c_out, cg)
    return out


def _group_major_padded(x, sources, mode: str, groups: int) -> np.ndarray:
    """x at padded indices (per spatial axis, their input indices, -1 for a zero) as
    (G, n, *padded extents, Cg): each group's channels last, so that a tap's slice is one matrix
    per group."""
    n, c_in, *sizes = x.shape
    rank = len(sizes)
    grouped = x.reshape(n, groups, c_in // groups, *sizes)
    group_major = (1, 0, *range(3, 3 + rank), 2)
    padded = np.zeros(
        (groups, n, *(source.size for source in sources), c_in // groups), dtype=x.dtype
    )
    if mode != "zeros":  # every padded index reads an input index
        for axis, source in enumerate(sources):
            grouped = np.take(grouped, source, axis=axis + 3)
        padded[...] = grouped.transpose(group_major)
        return padded
    valid = [np.flatnonzero(source >= 0) for source in sources]
    if all(v.size for v in valid):  # zeros: the indices read form one range of the input
        target = [slice(v[0], v[-1] + 1) for v in valid]
        read = [slice(s[v[0]], s[v[-1]] + 1) for s, v in zip(sources, valid, strict=True)]
        padded[tuple([slice(None), slice(None), *target])] = grouped[
            tuple([slice(None), slice(None), slice(None), *read])
        ].transpose(group_major)
    return padded


def _bias_gradient(gy: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return gy.sum(axis=(0, *range(2, gy.ndim)))
