"""The handwritten reference: convolution of any spatial rank (conv1d, conv2d, conv3d) as its
formula, NumPy and BLAS matrix products only (no library convolution routine).

Conventions (those of torch.nn.functional.conv1d/conv2d/conv3d): input (N, C_in, *S) with
r = len(S) spatial axes (1, 2 or 3), weight (C_out, C_in/groups, *k), cross-correlation (the
kernel is NOT flipped), depth summation over the input channels of a group:

    out[n, o, *i] = b[o] + sum_c sum_t xp[n, g*Cg + c, *(i*s + t*d)] * w[o, c, *t]

over the kernel taps t (one index per axis, i*s + t*d taken per axis), with
g = o // (C_out / groups), Cg = C_in / groups and xp the input padded by (before, after) on each
axis according to `padding_mode` (zeros | reflect | replicate | circular, torch's names).
`padding` may be an int, r values (symmetric per axis), 2r values flat (before0, after0,
before1, after1, ...: (top, bottom, left, right) in 2-D), 'same' (the extra element after, as
torch) or 'valid'. `stride` and `dilation` are an int or r values.

Two forms: `conv` (vectorised: one matrix product per kernel tap on a channels-last copy of the
input, chunked over output positions so its extra memory stays bounded whatever the case size;
conv1d, conv2d and conv3d are the same function) and harness.computations.reference_loop.conv_loop
(literal loops, for small cases, to pin this one). Padding is done by index mapping, not by np.pad,
so the reference does not share the padding code of the scipy implementation. The depthwise fast
path lives in harness.computations.reference_depthwise.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from harness.computations.reference_depthwise import available_cores as available_cores
from harness.computations.reference_depthwise import depthwise_planes

CHUNK_BYTES = 32 * 2**20
BLOCK_BYTES = 2 * 2**20  # accumulator block of output positions: stays in cache
TAP_COLUMNS = 16  # taps with fewer input channels than this share one matrix product
DEEP_PRODUCT = 64  # products summing over this many input channels or more ...
PRODUCT_MACS = 2**28  # ... get blocks of up to this many multiply-adds per BLAS call
DEPTHWISE_BLOCK_BYTES = 4 * 2**20  # buffers per block of planes in the depthwise path


def as_tuple(value, rank: int, name: str) -> tuple[int, ...]:
    """`value` (an int or one value per spatial axis) as `rank` ints."""
    if isinstance(value, (int, np.integer)):
        value = (value,) * rank
    values = tuple(int(v) for v in value)
    if len(values) != rank:
        raise ValueError(f"{name} must be an int or {rank} values (one per axis), got {value!r}")
    return values


def as_pair(value, name: str) -> tuple[int, int]:
    return as_tuple(value, 2, name)  # type: ignore[return-value]


def padding_amounts(padding, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per spatial axis, flat: (top, bottom, left, right) in 2-D, for any accepted
    form of `padding`: an int, one value per axis, a (before, after) pair per axis, 'same' (the
    extra element after, as torch) or 'valid'."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * rank)
        if padding != "same":
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return tuple(p for total in totals for p in (total // 2, total - total // 2))
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * (2 * rank)
    values = tuple(int(p) for p in padding)
    if len(values) == rank:
        return tuple(p for value in values for p in (value, value))
    if len(values) == 2 * rank:
        return values
    raise ValueError(
        f"padding must be an int, {rank} values, {2 * rank} values (before, after per axis), "
        f"'same' or 'valid', got {padding!r}"
    )


def source_index(position: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Input index read at padded coordinate `position - pad` (-1 where a zero is read)."""
    p = np.asarray(position)
    if mode == "zeros":
        return np.where((p >= 0) & (p < size), p, -1)
    if mode == "replicate":
        return np.clip(p, 0, size - 1)
    if mode == "circular":
        return np.mod(p, size)
    if mode == "reflect":  # edge sample not repeated: ... x2 x1 | x0 x1 x2 ...
        if size == 1:
            return np.zeros_like(p)
        period = 2 * (size - 1)
        q = np.mod(p, period)
        return np.where(q < size, q, period - q)
    if mode == "symmetric":  # numpy 'symmetric', scipy 'symm': ... x1 x0 | x0 x1 ...
        q = np.mod(p, 2 * size)
        return np.where(q < size, q, 2 * size - 1 - q)
    raise ValueError(f"unknown padding_mode {mode!r}")


def conjugated(a: np.ndarray) -> np.ndarray:
    """conj(a) for a complex array, `a` itself (the same object, no copy) otherwise: where torch's
    complex semantics need a conjugate, or where a library conjugates what torch does not."""
    return np.conj(a) if np.iscomplexobj(a) else a


def pad(x: np.ndarray, pads, mode: str = "zeros") -> np.ndarray:
    """x (N, C, *S) padded by pads = (before, after) per spatial axis, flat ((top, bottom, left,
    right) in 2-D), in `mode` (torch's names, plus 'symmetric')."""
    rank = x.ndim - 2
    if len(pads) != 2 * rank:
        raise ValueError(f"expected {2 * rank} padding amounts for {rank} axes, got {pads!r}")
    coordinates = [np.arange(-pads[2 * a], x.shape[a + 2] + pads[2 * a + 1]) for a in range(rank)]
    return _padded(x, coordinates, mode)


def _padded(x: np.ndarray, coordinates, mode: str) -> np.ndarray:
    """x gathered at padded coordinates per spatial axis (already shifted by the pad)."""
    sources = [source_index(c, x.shape[a + 2], mode) for a, c in enumerate(coordinates)]
    out = x
    for axis, source in enumerate(sources):
        out = np.take(out, np.maximum(source, 0), axis=axis + 2)
    for axis, source in enumerate(sources):
        if (source < 0).any():
            out[(slice(None),) * (axis + 2) + (source < 0,)] = 0
    return out


def check_padding(sizes: tuple[int, ...], pads, mode: str) -> None:
    """ValueError where torch's F.pad refuses: reflect pad >= size, circular beyond one period."""
    shape = "x".join(str(size) for size in sizes)
    for axis, size in enumerate(sizes):
        before, after = pads[2 * axis], pads[2 * axis + 1]
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"reflect padding {tuple(pads)} must be smaller than the input {shape}"
            )
        if mode == "circular" and max(before, after) > size:
            raise ValueError(f"circular padding {tuple(pads)} wraps more than once around {shape}")


def output_size(size: int, before: int, after: int, kernel: int, stride: int, dilation: int) -> int:
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def check_arguments(x, w, b, groups):
    """Raise ValueError unless the shapes fit a convolution: input and weight of the same rank,
    3 to 5 axes (N, C, *spatial), channels divisible by groups, bias of C_out."""
    if x.ndim != w.ndim or x.ndim not in (3, 4, 5):
        raise ValueError(
            f"expected input and weight of the same rank, 3-D to 5-D, got {x.ndim}-D and {w.ndim}-D"
        )
    c_in, c_out = x.shape[1], w.shape[0]
    if groups < 1 or c_in % groups or c_out % groups or w.shape[1] * groups != c_in:
        raise ValueError(
            f"groups={groups} does not fit input channels {c_in} and weight {tuple(w.shape)}"
        )
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},), got {tuple(b.shape)}")


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Vectorised reference for any spatial rank; computes in the input's dtype (float64 for the
    baseline).

    Polyphase shifted products: the padded input is split into prod(s) phase images (phase
    a = (a_0, ..., a_{r-1}) holds the padded elements a + s*q, q = (q_0, ...) per axis), stored
    channels-last and flattened over (n, *q) with extents Q_i = o_i + (k_i-1)*d_i // s_i. Tap t
    then reads phase (t_i*d_i % s_i)_i shifted by the flat offset
    sum_i (t_i*d_i // s_i) * prod(Q_{i+1..}): a contiguous block of rows, so each tap is one
    matrix product (C_in/groups -> C_out/groups per group) accumulated into the output block,
    with no im2col copy. In float32/float64 without groups the products go to BLAS's gemm
    (scipy.linalg.blas), which adds each product into the block in place (beta = 1) instead of
    writing a temporary and adding it in a second pass; taps with fewer than TAP_COLUMNS input
    channels are copied side by side into one wider product. Positions past the output's extent
    on the non-leading axes are computed and dropped. Work is blocked over output positions
    (whole images, else slabs of the leading axis, else in 3-D rows of the second axis; longer
    blocks for deep products in 1-D and 3-D), so the extra memory is one channels-last copy of
    the input plus a bounded block. Depthwise layers at stride 1 take
    harness.computations.reference_depthwise.depthwise_planes instead.
    """
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    check_arguments(x, w, b, groups)
    rank = x.ndim - 2
    strides = as_tuple(stride, rank, "stride")
    dilations = as_tuple(dilation, rank, "dilation")
    n, c_in, *sizes = x.shape
    c_out, cg, *kernel = w.shape
    if padding == "same" and any(s != 1 for s in strides):
        raise ValueError("padding='same' is not supported for strided convolutions")
    pads = padding_amounts(padding, tuple(kernel), dilations)
    check_padding(tuple(sizes), pads, padding_mode)
    befores = pads[0::2]
    outs = tuple(
        output_size(size, pads[2 * a], pads[2 * a + 1], k, s, d)
        for a, (size, k, s, d) in enumerate(zip(sizes, kernel, strides, dilations, strict=True))
    )
    if min(outs) < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    out = np.empty((n, c_out, *outs), dtype=x.dtype)
    if out.size == 0 or c_in == 0:
        out[...] = 0 if b is None else _per_channel(b, rank)
        return out
    og = c_out // groups
    if cg == 1 and groups == c_in == c_out and all(s == 1 for s in strides):
        sources = None
        if padding_mode != "zeros":
            sources = [
                source_index(np.arange(o + (k - 1) * d) - before, size, padding_mode)
                for o, k, d, before, size in zip(
                    outs, kernel, dilations, befores, sizes, strict=True
                )
            ]
        depthwise_planes(x, w, out, dilations, befores, sources, DEPTHWISE_BLOCK_BYTES)
        return _add_bias(out, b)
    reach = [(k - 1) * d // s for k, d, s in zip(kernel, dilations, strides, strict=True)]
    extents = tuple(o + r for o, r in zip(outs, reach, strict=True))  # every row a tap reads
    steps = [math.prod(extents[a + 1 :]) for a in range(rank)]  # flat stride of each axis
    image_size = math.prod(extents)
    taps = list(itertools.product(*(range(k) for k in kernel)))
    geometry = list(zip(kernel, dilations, strides, steps, strict=True))
    offsets = itertools.product(*([t * d // s * a for t in range(k)] for k, d, s, a in geometry))
    tap_phases = itertools.product(*([t * d % s for t in range(k)] for k, d, s, _ in geometry))
    # each tap's (flat offset, phase), in the weight's order of taps
    reads = [(sum(o), p) for o, p in zip(offsets, tap_phases, strict=True)]
    max_shift = sum(r * step for r, step in zip(reach, steps, strict=True))  # the last tap's
    phases = sorted({phase for _, phase in reads})
    depthwise = cg == 1 and groups > 1
    images = {}
    for phase in phases:
        image = _phase_image(x, phase, strides, extents, befores, padding_mode, max_shift)
        if depthwise and og > 1:  # output channel o reads input channel o // og
            image = image[:, np.arange(c_out) // og]
        images[phase] = image
    w_taps = w.reshape(groups, og, cg, *kernel).transpose(*range(3, 3 + rank), 0, 2, 1)
    # w_taps: (*k, G, cg, og)
    if groups == 1:
        w_taps = np.ascontiguousarray(w_taps[..., 0, :, :])  # (*k, c_in, c_out)
    elif depthwise:
        w_taps = np.ascontiguousarray(w_taps.reshape(*kernel, c_out))
    # taps read side by side into one matrix product when each tap alone has few channels: a
    # product with (taps * cg) columns instead of one thin product and one accumulation per tap
    gemm = _gemm(x.dtype) if groups == 1 else None
    per_product = 1 if gemm is None else max(1, min(len(taps), TAP_COLUMNS // cg))
    tap_groups = [
        range(k, min(len(taps), k + per_product)) for k in range(0, len(taps), per_product)
    ]
    if gemm is not None:
        w_groups = [np.concatenate([w_taps[taps[t]] for t in group]) for group in tap_groups]
    position_bytes = (c_out + c_in + (cg * per_product if per_product > 1 else 0)) * x.itemsize * 2
    budget = max(1, BLOCK_BYTES // position_bytes)  # output positions per block
    depth = cg * per_product  # the sum each product computes per output element
    if gemm is not None and depth >= DEEP_PRODUCT and rank != 2:
        # fewer, longer BLAS calls, so that starting and joining BLAS's threads for each call
        # costs nothing that shows (on a busy machine, several times the work): about
        # PRODUCT_MACS per call, with an accumulator that may outgrow the cache as far as the
        # depth of the product pays for re-reading it. Not in 2-D: BLAS's sums depend on the
        # length of the call in their last bits, and 2-D keeps the numbers it was pinned with
        long_call = PRODUCT_MACS // (depth * c_out)
        cached = BLOCK_BYTES * 2 * depth // DEEP_PRODUCT // (c_out * x.itemsize)
        budget = max(budget, min(long_call, cached, CHUNK_BYTES // position_bytes))
    blocks = _blocks(n, outs, extents, budget)

    def product_block(p0: int, rows: int) -> np.ndarray:
        """(rows, c_out) outputs of the flat positions p0 .. p0 + rows (of every phase image)."""
        if gemm is not None:
            # groups == 1: BLAS accumulates every product into one (c_out, rows) block in place
            # (beta = 1), Fortran-ordered so that its transpose is the (rows, c_out) result
            stack = np.empty((rows, cg * per_product), dtype=x.dtype) if per_product > 1 else None
            acc_t = None
            for group, w_group in zip(tap_groups, w_groups, strict=True):
                if stack is None:
                    offset, phase = reads[group[0]]
                    columns = images[phase][p0 + offset : p0 + offset + rows]
                else:  # several thin taps side by side: one product with taps * cg columns
                    for column, t in enumerate(group):
                        offset, phase = reads[t]
                        stack[:, column * cg : (column + 1) * cg] = images[phase][
                            p0 + offset : p0 + offset + rows
                        ]
                    columns = stack[:, : len(group) * cg]
                if acc_t is None:
                    acc_t = gemm(1.0, w_group.T, columns.T)
                else:
                    acc_t = gemm(1.0, w_group.T, columns.T, beta=1.0, c=acc_t, overwrite_c=1)
            assert acc_t is not None  # a kernel has at least one tap
            return acc_t.T
        if depthwise and len(phases) == 1:
            # every tap reads the same phase image: one pass over a (*k, rows, C) view
            image = images[phases[0]]
            step, item = image.strides
            taps_view = np.lib.stride_tricks.as_strided(
                image[p0:],
                shape=(*kernel, rows, image.shape[1]),
                strides=(
                    *(d // s * a * step for _, d, s, a in geometry),
                    step,
                    item,
                ),
                writeable=False,
            )
            letters = "uvw"[:rank]
            return np.einsum(f"{letters}pc,{letters}c->pc", taps_view, w_taps)
        acc = scratch = None
        for tap, (offset, phase) in zip(taps, reads, strict=True):  # one product per tap
            block = images[phase][p0 + offset : p0 + offset + rows]
            if depthwise:
                if acc is None:
                    acc = block * w_taps[tap]
                    scratch = np.empty_like(acc)
                else:
                    np.multiply(block, w_taps[tap], out=scratch)
                    acc += scratch
                continue
            if groups == 1:
                term = block @ w_taps[tap]  # (rows, c_out)
            else:  # (G, rows, cg) @ (G, cg, og)
                term = block.reshape(rows, groups, cg).transpose(1, 0, 2) @ w_taps[tap]
            if acc is None:
                acc = term
            else:
                acc += term
        assert acc is not None  # a kernel has at least one tap
        if groups > 1 and not depthwise:
            acc = acc.transpose(1, 0, 2).reshape(rows, c_out)
        return acc

    for images_span, index, level, (r0, r1) in blocks:
        # flat positions: whole images i0:i1 (level None), or the rows r0:r1 of axis `level`
        # below the output index `index` of the axes before it, in image i0
        i0, i1 = images_span
        if level is None:
            p0, rows = i0 * image_size, (i1 - i0) * image_size
        else:
            start = (*index, r0)  # the output index of the axes up to `level`
            p0 = i0 * image_size + sum(j * step for j, step in zip(start, steps, strict=False))
            rows = (r1 - r0) * steps[level]
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            acc = product_block(p0, rows)
        if level is None:  # whole images: positions past the output's extent are dropped
            kept = (slice(None), *map(slice, outs))
            result = acc.reshape(i1 - i0, *extents, c_out)[kept]
            out[i0:i1] = result.transpose(0, rank + 1, *range(1, rank + 1))
        else:
            kept = (slice(None), *map(slice, outs[level + 1 :]))
            result = acc.reshape(r1 - r0, *extents[level + 1 :], c_out)[kept]
            target = (i0, slice(None), *index, slice(r0, r1))
            out[target] = result.transpose(result.ndim - 1, *range(result.ndim - 1))
    return _add_bias(out, b)


conv1d = conv2d = conv3d = conv


def _blocks(n: int, outs, extents, budget: int) -> list:
    """Blocks of about `budget` output positions (of the phase images' extents), each
    ((i0, i1), index, level, (r0, r1)): whole images i0:i1 (level None) when an image fits,
    else one image's slabs r0:r1 along the leading axis (level 0, index ()), else in 3-D its rows
    r0:r1 along the second axis below leading index index[0] (level 1). An output row of the
    last axis (with its dropped positions) is never split."""
    image_size = math.prod(extents)
    if image_size <= budget:
        per_block = max(1, budget // image_size)
        return [((i0, min(n, i0 + per_block)), (), None, (0, 0)) for i0 in range(0, n, per_block)]
    level = 0
    while level < len(extents) - 2 and math.prod(extents[level + 1 :]) > budget:
        level += 1
    per_block = max(1, budget // math.prod(extents[level + 1 :]))
    return [
        ((i, i + 1), index, level, (r0, min(outs[level], r0 + per_block)))
        for i in range(n)
        for index in itertools.product(*(range(o) for o in outs[:level]))
        for r0 in range(0, outs[level], per_block)
    ]


def _per_channel(b: np.ndarray, rank: int) -> np.ndarray:
    """The bias shaped to broadcast over (N, C, *S)."""
    return b.reshape(1, -1, *(1,) * rank)


def _add_bias(out: np.ndarray, b) -> np.ndarray:
    if b is not None:
        with np.errstate(invalid="ignore", over="ignore"):  # an Inf output plus a -Inf bias
            out += _per_channel(b, out.ndim - 2)
    return out


def _gemm(dtype):
    """BLAS's general matrix product for float32/float64 (C = alpha*A@B + beta*C in place), else
    None: the other dtypes use NumPy's matmul and an explicit accumulation."""
    if dtype not in (np.float32, np.float64):
        return None
    from scipy.linalg import blas

    return blas.sgemm if dtype == np.float32 else blas.dgemm


def _phase_image(x, phase, stride, extents, befores, mode, tail):
    """One phase of the padded input: channels-last, flat over (n, *q), plus a tail.

    Element q = (q_0, ...) of phase a = (a_0, ...) is padded element a + s*q (per axis). Shape
    (n*prod(extents) + tail, C_in); the tail leaves room for the largest shift past the last
    image. Entries past the padded input are read only for dropped positions.
    """
    n, c_in, *sizes = x.shape
    rank = len(sizes)
    count = n * math.prod(extents)
    image = np.zeros((count + tail, c_in), dtype=x.dtype)
    view = image[:count].reshape(n, *extents, c_in)
    channels_last = (0, *range(2, rank + 2), 1)
    step = max(1, (8 * 2**20) // max(1, count * x.itemsize))  # channels per copy
    axes = list(zip(phase, stride, extents, befores, sizes, strict=True))
    if mode == "zeros":  # the indices inside the input form strided ranges: copy slices
        destination, origin = [], []
        for a, s, q, before, size in axes:  # q0:q1 read padded a + s*q0 - before .. in 0:size
            q0, q1 = max(0, (before - a + s - 1) // s), min(q, (size - 1 - a + before) // s + 1)
            if q1 <= q0:
                return image
            destination.append(slice(q0, q1))
            origin.append(slice(a + s * q0 - before, a + s * (q1 - 1) - before + 1, s))
        for c0 in range(0, c_in, step):
            target = (slice(None), *destination, slice(c0, c0 + step))
            read = (slice(None), slice(c0, c0 + step), *origin)
            view[target] = x[read].transpose(channels_last)
        return image
    sources = [source_index(a + s * np.arange(q) - b, size, mode) for a, s, q, b, size in axes]
    for c0 in range(0, c_in, step):
        block = x[:, c0 : c0 + step]
        for axis, source in enumerate(sources):
            block = np.take(block, source, axis=axis + 2)
        view[..., c0 : c0 + step] = block.transpose(channels_last)
    return image
