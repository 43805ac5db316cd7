"""Private argument helpers for the conv2d implementations in tests/data (no convolution here).

They turn F.conv2d-style arguments into explicit numbers: validated NumPy arrays, (sH, sW) and
(dH, dW) pairs, the zero padding on each side, the padded input, the output size, and views of the
padded input at each kernel tap or each receptive field.
"""

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Conv(NamedTuple):
    """A conv2d call with its arguments made explicit."""

    x: np.ndarray  # input as given (N, C_in, H, W)
    w: np.ndarray  # (C_out, Cg, kH, kW)
    b: object  # (C_out,) array or None
    xp: np.ndarray  # x zero-padded (same dtype as x)
    stride: tuple
    dilation: tuple
    groups: int
    out_hw: tuple  # (Ho, Wo)
    pads: tuple  # (top, bottom, left, right)


def to_pair(value, name):
    """An int v becomes (v, v); a pair is checked. Both entries must be >= 0."""
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 0:
        raise ValueError(f"{name} must be a non-negative int or a pair, got {value!r}")
    return value


def pad_sides(padding, kernel, dilation, stride):
    """(top, bottom, left, right) for int, (pH, pW), 'same' or 'valid' padding."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"unknown padding {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' needs stride 1")
        th, tw = (d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    ph, pw = to_pair(padding, "padding")
    return ph, ph, pw, pw


def validate(x, w, b, groups):
    """Raise ValueError where F.conv2d would refuse the shapes."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError("input and weight must be 4-D")
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide C_in={x.shape[1]} and C_out={w.shape[0]}")
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(f"weight expects {w.shape[1] * groups} input channels, got {x.shape[1]}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias shape {b.shape} does not match C_out={w.shape[0]}")


def prepare(input, weight, bias, stride, padding, dilation, groups, check=True):
    """Validate and normalise the arguments; returns a Conv with the padded input."""
    x, w = np.asarray(input), np.asarray(weight)
    b = None if bias is None else np.asarray(bias)
    groups = int(groups)
    if check:
        validate(x, w, b, groups)
    stride, dilation = to_pair(stride, "stride"), to_pair(dilation, "dilation")
    if min(stride + dilation) < 1:
        raise ValueError("stride and dilation must be positive")
    kh, kw = w.shape[2:]
    top, bottom, left, right = pad_sides(padding, (kh, kw), dilation, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = []
    for size, k, s, d in zip(xp.shape[2:], (kh, kw), stride, dilation, strict=True):
        n = (size - d * (k - 1) - 1) // s + 1
        if n < 1:
            raise ValueError("padded input is smaller than the dilated kernel")
        out.append(n)
    return Conv(x, w, b, xp, stride, dilation, groups, tuple(out), (top, bottom, left, right))


def padded(conv, array):
    """`array` (shaped like conv.x, any dtype) zero-padded the way conv.xp is."""
    top, bottom, left, right = conv.pads
    return np.pad(array, ((0, 0), (0, 0), (top, bottom), (left, right)))


def work_dtype(dtype):
    """The dtype arithmetic is done in: float16 is widened to float32, others kept."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def tap(conv, u, v, array=None):
    """Strided view of the padded input read by kernel tap (u, v): shape (N, C, Ho, Wo)."""
    xp = conv.xp if array is None else array
    (sh, sw), (dh, dw), (ho, wo) = conv.stride, conv.dilation, conv.out_hw
    return xp[
        :, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dw : v * dw + sw * (wo - 1) + 1 : sw
    ]


def fields(conv, array=None):
    """Receptive fields of the padded input: view of shape (N, C, Ho, Wo, kH, kW)."""
    xp = conv.xp if array is None else array
    kh, kw = conv.w.shape[2:]
    (sh, sw), (dh, dw), (ho, wo) = conv.stride, conv.dilation, conv.out_hw
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]


def dilated_kernel(w, dilation):
    """The weight with dilation - 1 zeros between taps: shape (..., dH*(kH-1)+1, dW*(kW-1)+1)."""
    dh, dw = dilation
    kh, kw = w.shape[-2:]
    out = np.zeros((*w.shape[:-2], (kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=w.dtype)
    out[..., ::dh, ::dw] = w
    return out


def by_group(conv):
    """Padded input and weight split by group: (N, G, Cg, Hp, Wp) and (G, Og, Cg, kH, kW)."""
    n, c, hp, wp = conv.xp.shape
    g = conv.groups
    return conv.xp.reshape(n, g, c // g, hp, wp), conv.w.reshape(g, -1, *conv.w.shape[1:])
