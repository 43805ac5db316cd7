"""The handwritten reference: conv2d as its formula, NumPy and BLAS matrix products only (no
library convolution routine).

Conventions (those of torch.nn.functional.conv2d): input NCHW, weight OIHW with I = C_in/groups,
cross-correlation (the kernel is NOT flipped), depth summation over the input channels of a group:

    out[n, o, i, j] = b[o] + sum_c sum_u sum_v xp[n, g*Cg+c, i*sH+u*dH, j*sW+v*dW] * w[o, c, u, v]

with g = o // (C_out / groups), Cg = C_in / groups and xp the input padded by (top, bottom, left,
right) according to `padding_mode` (zeros | reflect | replicate | circular, torch's names).
`padding` may be an int, (pH, pW), (top, bottom, left, right), 'same' (extra pixel bottom/right,
as torch) or 'valid'.

Two forms: `conv2d` (vectorised: one matrix product per kernel tap on a channels-last copy of the
input, chunked over output positions so its extra memory stays bounded whatever the case size)
and harness.reference_loop.conv2d_loop (seven literal loops, for small cases, to pin this one).
Padding is done by index mapping,
not by np.pad, so the reference does not share the padding code of the scipy implementation.
"""

from __future__ import annotations

import os
import threading

import numpy as np

CHUNK_BYTES = 32 * 2**20
BLOCK_BYTES = 2 * 2**20  # accumulator block of output positions: stays in cache
TAP_COLUMNS = 16  # taps with fewer input channels than this share one matrix product


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


def pad(x: np.ndarray, pads, mode: str = "zeros") -> np.ndarray:
    """x padded by (top, bottom, left, right) in `mode` (torch's names, plus 'symmetric')."""
    top, bottom, left, right = pads
    h, w = x.shape[2], x.shape[3]
    return _padded_rows(x, np.arange(-top, h + bottom), np.arange(-left, w + right), mode)


def _padded_rows(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """x gathered at padded row/column coordinates (already shifted by the pad)."""
    h, w = x.shape[2], x.shape[3]
    r = source_index(rows, h, mode)
    c = source_index(cols, w, mode)
    out = x[:, :, np.maximum(r, 0)][:, :, :, np.maximum(c, 0)]
    if (r < 0).any() or (c < 0).any():
        out[:, :, r < 0, :] = 0
        out[:, :, :, c < 0] = 0
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


def conv2d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """Vectorised reference; computes in the input's dtype (float64 for the baseline).

    Polyphase shifted products: the padded input is split into sH*sW phase images
    (rows a + sH*r, columns b + sW*q), stored channels-last and flattened over (n, r, q). Tap
    (u, v) then reads phase (u*dH % sH, v*dW % sW) shifted by ((u*dH)//sH, (v*dW)//sW): a
    contiguous block of rows, so each tap is one matrix product (C_in/groups -> C_out/groups per
    group) accumulated into the output block, with no im2col copy. In float32/float64 without
    groups the products go to BLAS's gemm (scipy.linalg.blas), which adds each product into the
    block in place (beta = 1) instead of writing a temporary and adding it in a second pass; taps
    with fewer than TAP_COLUMNS input channels are copied side by side into one wider product.
    Positions past the output's width are computed and dropped. Work is chunked over output rows,
    so the extra memory is one channels-last copy of the input plus a bounded block.
    """
    x = np.asarray(input)
    w = np.asarray(weight, dtype=x.dtype)
    b = None if bias is None else np.asarray(bias, dtype=x.dtype)
    check_arguments(x, w, b, groups)
    (sh, sw), (dh, dw) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    if padding == "same" and (sh, sw) != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    top, bottom, left, right = padding_amounts(padding, (kh, kw), (dh, dw))
    check_padding((h, wd), (top, bottom, left, right), padding_mode)
    ho = output_size(h, top, bottom, kh, sh, dh)
    wo = output_size(wd, left, right, kw, sw, dw)
    if ho < 1 or wo < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    out = np.empty((n, c_out, ho, wo), dtype=x.dtype)
    if out.size == 0 or c_in == 0:
        out[...] = 0 if b is None else b[None, :, None, None]
        return out
    og = c_out // groups
    if cg == 1 and groups == c_in == c_out and (sh, sw) == (1, 1):
        _depthwise_planes(x, w, out, (dh, dw), (top, left), padding_mode)
        return _add_bias(out, b)
    hq = ho + (kh - 1) * dh // sh  # phase image height/width: every row/column a tap reads
    wq = wo + (kw - 1) * dw // sw
    taps = [(u, v) for u in range(kh) for v in range(kw)]
    max_shift = ((kh - 1) * dh // sh) * wq + (kw - 1) * dw // sw  # flat offset of the last tap
    phases = sorted({(u * dh % sh, v * dw % sw) for u, v in taps})
    depthwise = cg == 1 and groups > 1
    images = {}
    for phase in phases:
        image = _phase_image(x, phase, (sh, sw), (hq, wq), (top, left), padding_mode, max_shift)
        if depthwise and og > 1:  # output channel o reads input channel o // og
            image = image[:, np.arange(c_out) // og]
        images[phase] = image
    w_taps = w.reshape(groups, og, cg, kh, kw).transpose(3, 4, 0, 2, 1)  # (kh, kw, G, cg, og)
    if groups == 1:
        w_taps = np.ascontiguousarray(w_taps[:, :, 0])  # (kh, kw, c_in, c_out)
    elif depthwise:
        w_taps = np.ascontiguousarray(w_taps.reshape(kh, kw, c_out))
    # taps read side by side into one matrix product when each tap alone has few channels: a
    # product with (taps * cg) columns instead of one thin product and one accumulation per tap
    gemm = _gemm(x.dtype) if groups == 1 else None
    per_product = 1 if gemm is None else max(1, min(len(taps), TAP_COLUMNS // cg))
    tap_groups = [taps[k : k + per_product] for k in range(0, len(taps), per_product)]
    if gemm is not None:
        w_groups = [np.concatenate([w_taps[u, v] for u, v in group]) for group in tap_groups]
    # blocks of output positions: whole images when they are small, else rows of one image
    position_bytes = (c_out + c_in + (cg * per_product if per_product > 1 else 0)) * x.itemsize * 2
    budget = max(1, BLOCK_BYTES // position_bytes)  # positions per block
    if hq * wq <= budget:
        images_per_block = max(1, budget // (hq * wq))
        blocks = [
            (i0, min(n, i0 + images_per_block), 0, hq) for i0 in range(0, n, images_per_block)
        ]
    else:
        rows_per_block = max(1, budget // wq)
        blocks = [
            (i, i + 1, r0, min(ho, r0 + rows_per_block))
            for i in range(n)
            for r0 in range(0, ho, rows_per_block)
        ]

    def product_block(p0: int, rows: int) -> np.ndarray:
        """(rows, c_out) outputs of the flat positions p0 .. p0 + rows (of every phase image)."""
        if gemm is not None:
            # groups == 1: BLAS accumulates every product into one (c_out, rows) block in place
            # (beta = 1), Fortran-ordered so that its transpose is the (rows, c_out) result
            stack = np.empty((rows, cg * per_product), dtype=x.dtype) if per_product > 1 else None
            acc_t = None
            for group, w_group in zip(tap_groups, w_groups, strict=True):
                if stack is None:
                    ((u, v),) = group
                    start = p0 + (u * dh // sh) * wq + (v * dw // sw)
                    columns = images[(u * dh % sh, v * dw % sw)][start : start + rows]
                else:  # several thin taps side by side: one product with taps * cg columns
                    for t, (u, v) in enumerate(group):
                        start = p0 + (u * dh // sh) * wq + (v * dw // sw)
                        stack[:, t * cg : (t + 1) * cg] = images[(u * dh % sh, v * dw % sw)][
                            start : start + rows
                        ]
                    columns = stack[:, : len(group) * cg]
                if acc_t is None:
                    acc_t = gemm(1.0, w_group.T, columns.T)
                else:
                    acc_t = gemm(1.0, w_group.T, columns.T, beta=1.0, c=acc_t, overwrite_c=1)
            assert acc_t is not None  # a kernel has at least one tap
            return acc_t.T
        if depthwise and len(phases) == 1:
            # every tap reads the same phase image: one pass over a (kh, kw, rows, C) view
            image = images[phases[0]]
            step, item = image.strides
            taps_view = np.lib.stride_tricks.as_strided(
                image[p0:],
                shape=(kh, kw, rows, image.shape[1]),
                strides=((dh // sh) * wq * step, (dw // sw) * step, step, item),
                writeable=False,
            )
            return np.einsum("uvpc,uvc->pc", taps_view, w_taps)
        acc = scratch = None
        for u, v in taps:  # one product per tap, accumulated
            start = p0 + (u * dh // sh) * wq + (v * dw // sw)
            block = images[(u * dh % sh, v * dw % sw)][start : start + rows]
            if depthwise:
                if acc is None:
                    acc = block * w_taps[u, v]
                    scratch = np.empty_like(acc)
                else:
                    np.multiply(block, w_taps[u, v], out=scratch)
                    acc += scratch
                continue
            if groups == 1:
                term = block @ w_taps[u, v]  # (rows, c_out)
            else:  # (G, rows, cg) @ (G, cg, og)
                term = block.reshape(rows, groups, cg).transpose(1, 0, 2) @ w_taps[u, v]
            if acc is None:
                acc = term
            else:
                acc += term
        assert acc is not None  # a kernel has at least one tap
        if groups > 1 and not depthwise:
            acc = acc.transpose(1, 0, 2).reshape(rows, c_out)
        return acc

    def compute(block) -> None:
        i0, i1, r0, r1 = block
        p0 = (i0 * hq + r0) * wq
        rows = (i1 - i0 - 1) * hq * wq + (r1 - r0) * wq
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            acc = product_block(p0, rows)
        if i1 - i0 > 1 or r1 - r0 == hq:  # whole images: rows past ho are dropped too
            full = np.empty(((i1 - i0) * hq * wq, c_out), dtype=acc.dtype)
            full[:rows] = acc
            result = full.reshape(i1 - i0, hq, wq, c_out)[:, :ho, :wo]
            out[i0:i1] = result.transpose(0, 3, 1, 2)
        else:
            result = acc.reshape(r1 - r0, wq, c_out)[:, :wo]
            out[i0, :, r0:r1] = result.transpose(2, 0, 1)

    for block in blocks:
        compute(block)
    return _add_bias(out, b)


def _add_bias(out: np.ndarray, b) -> np.ndarray:
    if b is not None:
        with np.errstate(invalid="ignore", over="ignore"):  # an Inf output plus a -Inf bias
            out += b[None, :, None, None]
    return out


def _depthwise_planes(x, w, out, dilation, pads, mode) -> None:
    """Depthwise (one input channel per output channel), stride 1, in NCHW: out = sum over taps
    of w[c, u, v] times the padded plane shifted by (u*dH, v*dW), one multiply and one add per tap
    on blocks of whole planes that stay in cache. Planes are independent and NumPy releases the
    GIL inside its loops, so blocks run on a thread pool (a thread per available core); each plane
    is summed in the same order by one thread, so the result does not depend on the threads."""
    n, c, h, wd = x.shape
    _, _, kh, kw = w.shape
    (dh, dw), (top, left) = dilation, pads
    _, _, ho, wo = out.shape
    hp, wp = ho + (kh - 1) * dh, wo + (kw - 1) * dw  # the padded rows and columns that are read
    length = ho * wp  # flat positions per plane; columns past wo are computed and dropped
    rows = np.arange(-top, hp - top)
    cols = np.arange(-left, wp - left)
    planes = x.reshape(1, n * c, h, wd)
    weights = w.reshape(c, kh * kw)
    flat_out = out.reshape(n * c, ho, wo)
    per_block = max(1, DEPTHWISE_BLOCK_BYTES // (3 * hp * wp * x.itemsize))

    local = threading.local()  # each thread's buffers, reused for its blocks

    def compute(p0: int) -> None:
        p1 = min(n * c, p0 + per_block)
        if not hasattr(local, "buffers"):  # zeroed once: later blocks only write the interior
            local.buffers = (
                np.zeros((per_block, hp * wp + (kw - 1) * dw), dtype=x.dtype),
                np.empty((per_block, length), dtype=x.dtype),
                np.empty((per_block, length), dtype=x.dtype),
            )
        padded, acc, term = (buffer[: p1 - p0] for buffer in local.buffers)
        image = padded[:, : hp * wp].reshape(p1 - p0, hp, wp)
        if mode == "zeros":  # copy the input into the zero border (the part of it that is read)
            r0, r1 = max(0, top), min(hp, top + h)
            c0, c1 = max(0, left), min(wp, left + wd)
            if r1 > r0 and c1 > c0:
                image[:, r0:r1, c0:c1] = planes[
                    0, p0:p1, r0 - top : r1 - top, c0 - left : c1 - left
                ]
        else:
            image[...] = _padded_rows(planes[:, p0:p1], rows, cols, mode)[0]
        w_block = weights[np.arange(p0, p1) % c]
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
            for t, (u, v) in enumerate((u, v) for u in range(kh) for v in range(kw)):
                shift = u * dh * wp + v * dw
                np.multiply(
                    padded[:, shift : shift + length],
                    w_block[:, t, None],
                    out=acc if t == 0 else term,
                )
                if t:
                    acc += term
        flat_out[p0:p1] = acc.reshape(p1 - p0, ho, wp)[:, :, :wo]

    starts = list(range(0, n * c, per_block))
    threads = min(_threads(), len(starts))
    if threads > 1:  # this thread takes the first share of the blocks, the pool the others
        shares = [starts[k::threads] for k in range(threads)]
        pending = [_thread_pool(threads - 1).submit(_each, compute, share) for share in shares[1:]]
        _each(compute, shares[0])
        for future in pending:
            future.result()
    else:
        _each(compute, starts)


def _each(function, items) -> None:
    for item in items:
        function(item)


DEPTHWISE_BLOCK_BYTES = 4 * 2**20
_POOLS: dict = {}


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threads() -> int:
    """Threads for the depthwise blocks: OMP_NUM_THREADS when set (as in --jobs workers), else
    one per available core."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return available_cores()


def _thread_pool(threads: int):
    if threads not in _POOLS:
        import concurrent.futures

        _POOLS[threads] = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="reference"
        )
    return _POOLS[threads]


def _gemm(dtype):
    """BLAS's general matrix product for float32/float64 (C = alpha*A@B + beta*C in place), else
    None: the other dtypes use NumPy's matmul and an explicit accumulation."""
    if dtype not in (np.float32, np.float64):
        return None
    from scipy.linalg import blas

    return blas.sgemm if dtype == np.float32 else blas.dgemm


def _phase_image(x, phase, stride, size, pads, mode, tail):
    """One phase of the padded input: channels-last, flat over (n, row, column), plus a tail.

    Row r, column q of phase (a, b) is padded pixel (a + sH*r, b + sW*q). Shape
    (n*hq*wq + tail, C_in); the tail leaves room for the largest shift past the last image.
    Entries past the padded input are read only for dropped positions.
    """
    n, c_in, h, w = x.shape
    (sh, sw), (hq, wq), (top, left) = stride, size, pads
    rows = source_index(phase[0] + sh * np.arange(hq) - top, h, mode)
    cols = source_index(phase[1] + sw * np.arange(wq) - left, w, mode)
    image = np.zeros((n * hq * wq + tail, c_in), dtype=x.dtype)
    view = image[: n * hq * wq].reshape(n, hq, wq, c_in)
    step = max(1, (8 * 2**20) // max(1, hq * wq * x.itemsize * n))  # channels per copy
    if mode == "zeros":  # the valid rows/columns form strided ranges: copy slices, fill zeros
        r_ok, c_ok = np.flatnonzero(rows >= 0), np.flatnonzero(cols >= 0)
        if r_ok.size and c_ok.size:
            r_dst = slice(r_ok[0], r_ok[-1] + 1)
            c_dst = slice(c_ok[0], c_ok[-1] + 1)
            r_src = slice(rows[r_ok[0]], rows[r_ok[-1]] + 1, sh)
            c_src = slice(cols[c_ok[0]], cols[c_ok[-1]] + 1, sw)
            for c0 in range(0, c_in, step):
                view[:, r_dst, c_dst, c0 : c0 + step] = x[
                    :, c0 : c0 + step, r_src, c_src
                ].transpose(0, 2, 3, 1)
        return image
    safe_rows, safe_cols = np.maximum(rows, 0), np.maximum(cols, 0)
    for c0 in range(0, c_in, step):
        block = x[:, c0 : c0 + step][:, :, safe_rows][:, :, :, safe_cols]
        view[..., c0 : c0 + step] = block.transpose(0, 2, 3, 1)
    return image
