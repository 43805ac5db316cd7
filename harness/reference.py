"""The handwritten reference: conv2d as its formula, NumPy only, no library convolution routine.

Conventions (those of torch.nn.functional.conv2d): input NCHW, weight OIHW with I = C_in/groups,
cross-correlation (the kernel is NOT flipped), depth summation over the input channels of a group:

    out[n, o, i, j] = b[o] + sum_c sum_u sum_v  xp[n, g*Cg + c, i*sH + u*dH, j*sW + v*dW] * w[o, c, u, v]

with g = o // (C_out / groups), Cg = C_in / groups and xp the input padded by (top, bottom, left,
right) according to `padding_mode` (zeros | reflect | replicate | circular, torch's names).
`padding` may be an int, (pH, pW), (top, bottom, left, right), 'same' (extra pixel bottom/right,
as torch) or 'valid'.

Two forms: `conv2d` (vectorised: strided window views and one tensordot per group, chunked over
output rows so its extra memory stays bounded whatever the case size) and `conv2d_loop` (seven
literal loops, for small cases, to pin the vectorised form). Padding is done by index mapping,
not by np.pad, so the reference does not share the padding code of the scipy implementation.
"""

from __future__ import annotations

import numpy as np

CHUNK_BYTES = 32 * 2**20


def as_pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]


def padding_amounts(padding, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, ...]:
    """(top, bottom, left, right) for any accepted form of `padding`."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    values = tuple(int(p) for p in padding)
    if len(values) == 2:
        return (values[0], values[0], values[1], values[1])
    if len(values) == 4:
        return values
    raise ValueError(f"padding must be an int, a pair, a 4-tuple, 'same' or 'valid', got {padding!r}")


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


def check_padding(h: int, w: int, pads, mode: str) -> None:
    """Raise ValueError where torch's F.pad refuses: reflect pad >= size, circular beyond a period."""
    top, bottom, left, right = pads
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"reflect padding {tuple(pads)} must be smaller than the input {h}x{w}")
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise ValueError(f"circular padding {tuple(pads)} wraps more than once around {h}x{w}")


def output_size(size: int, before: int, after: int, kernel: int, stride: int, dilation: int) -> int:
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def check_arguments(x, w, b, groups):
    """Raise ValueError unless the shapes fit conv2d (4-D, channels divisible by groups, bias)."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"expected 4-D input and weight, got {x.ndim}-D and {w.ndim}-D")
    c_in, c_out = x.shape[1], w.shape[0]
    if groups < 1 or c_in % groups or c_out % groups or w.shape[1] * groups != c_in:
        raise ValueError(
            f"groups={groups} does not fit input channels {c_in} and weight {tuple(w.shape)}"
        )
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},), got {tuple(b.shape)}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """Vectorised reference; computes in the input's dtype (float64 for the baseline)."""
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
    check_padding(h, wd, (top, bottom, left, right), padding_mode)
    ho = output_size(h, top, bottom, kh, sh, dh)
    wo = output_size(wd, left, right, kw, sw, dw)
    if ho < 1 or wo < 1:
        raise ValueError("the dilated kernel is larger than the padded input")
    og = c_out // groups
    out = np.empty((n, c_out, ho, wo), dtype=x.dtype)
    cols = np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw - left  # (wo, kw)
    col_span = np.arange(cols.min(), cols.max() + 1)
    bytes_per_row = max(1, n * wo * cg * kh * kw * x.itemsize)
    rows_per_chunk = max(1, min(ho, CHUNK_BYTES // bytes_per_row))
    weight_groups = w.reshape(groups, og, cg * kh * kw)
    for r0 in range(0, ho, rows_per_chunk):
        r1 = min(ho, r0 + rows_per_chunk)
        row_span = np.arange(r0 * sh - top, (r1 - 1) * sh + (kh - 1) * dh - top + 1)
        block = _padded_rows(x, row_span, col_span, padding_mode)  # (n, c_in, R, Cspan)
        # windows[n, c, i, j, u, v] = block[n, c, i*sh + u*dh, j*sw + v*dw]
        s = block.strides
        windows = np.lib.stride_tricks.as_strided(
            block,
            shape=(n, c_in, r1 - r0, wo, kh, kw),
            strides=(s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw),
            writeable=False,
        )
        for g in range(groups):
            patches = windows[:, g * cg:(g + 1) * cg]  # (n, cg, rows, wo, kh, kw)
            patches = patches.transpose(0, 2, 3, 1, 4, 5).reshape(n, r1 - r0, wo, cg * kh * kw)
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
                result = patches @ weight_groups[g].T  # (n, rows, wo, og)
            out[:, g * og:(g + 1) * og, r0:r1] = result.transpose(0, 3, 1, 2)
    if b is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            out += b[None, :, None, None]
    return out


def conv2d_loop(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                padding_mode="zeros"):
    """The formula as seven literal loops, in float64. Only for small cases."""
    x = np.asarray(input, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    check_arguments(x, w, b, groups)
    (sh, sw), (dh, dw) = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    n_batch, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    top, bottom, left, right = padding_amounts(padding, (kh, kw), (dh, dw))
    ho = output_size(h, top, bottom, kh, sh, dh)
    wo = output_size(wd, left, right, kw, sw, dw)
    og = c_out // groups
    out = np.zeros((n_batch, c_out, ho, wo))
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf inputs are legitimate
        _loop(x, w, b, out, (sh, sw), (dh, dw), (top, left), og, padding_mode)
    return out


def _loop(x, w, b, out, stride, dilation, pads, og, padding_mode):
    (sh, sw), (dh, dw), (top, left) = stride, dilation, pads
    n_batch, c_out, ho, wo = out.shape
    _, cg, kh, kw = w.shape
    h, wd = x.shape[2], x.shape[3]
    for n in range(n_batch):
        for o in range(c_out):
            g = o // og
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else float(b[o])
                    for c in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                r = int(source_index(i * sh + u * dh - top, h, padding_mode))
                                q = int(source_index(j * sw + v * dw - left, wd, padding_mode))
                                if r >= 0 and q >= 0:
                                    total += x[n, g * cg + c, r, q] * w[o, c, u, v]
                    out[n, o, i, j] = total
