"""Convolutions whose bug shows only at some channel counts, for the diagnose tests (conv1d,
conv2d and conv3d, NumPy, one sliding-window view per call and a tensordot per group).

- `conv1d/conv2d/conv3d` (this module as a whole): the input channels of a group are summed in
  vector blocks of 4, and a tail that does not fill a block is forgotten wherever there is at
  least one full block (7 channels per group: the last 3 are dropped; 3 channels: all kept).
- `depthwise_modulo_conv2d`: in a depthwise convolution (groups = C_in) with a channel multiplier,
  output channel o reads input channel o % C_in instead of o // multiplier; right otherwise.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _per_axis(value, rank):
    return (int(value),) * rank if np.isscalar(value) else tuple(int(v) for v in value)


def _windows(x, kernel, stride, padding, dilation):
    rank = x.ndim - 2
    if padding == "valid":
        pads = [(0, 0)] * rank
    elif padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        pads = [(t // 2, t - t // 2) for t in totals]
    else:
        pads = [(p, p) for p in _per_axis(padding, rank)]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    view = sliding_window_view(xp, spans, axis=tuple(range(2, 2 + rank)))
    steps = tuple(slice(None, None, s) for s in stride)
    taps = tuple(slice(None, None, d) for d in dilation)
    return view[(slice(None), slice(None), *steps, *taps)]  # (N, C, *out, *kernel)


def _conv(input, weight, bias, stride, padding, dilation, groups, channels_of, block=None):
    x, w = np.asarray(input), np.asarray(weight)
    dtype = x.dtype
    work = np.complex128 if np.iscomplexobj(x) else np.float64
    x, w = x.astype(work), w.astype(work)
    rank = x.ndim - 2
    s, d = _per_axis(stride, rank), _per_axis(dilation, rank)
    windows = _windows(x, w.shape[2:], s, padding, d)
    c_out, cg = w.shape[:2]
    outs = []
    for o in range(c_out):
        channels = channels_of(o, c_out, cg, groups)
        if block is not None and cg >= block:
            channels = channels[: cg // block * block]  # BUG: the tail after the full blocks
        kept = channels - channels[0] if block is not None else np.arange(len(channels))
        patch = windows[:, channels]  # (N, c, *out, *kernel)
        kernel = w[o, kept]
        axes = [1, *range(2 + rank, 2 + 2 * rank)]
        outs.append(np.tensordot(patch, kernel, axes=(axes, list(range(kernel.ndim)))))
    out = np.stack(outs, axis=1)
    if bias is not None:
        out = out + np.asarray(bias, work).reshape(1, -1, *([1] * rank))
    return out.astype(dtype)


def _by_group(o, c_out, cg, groups):
    group = o // (c_out // groups)
    return np.arange(group * cg, (group + 1) * cg)


def _depthwise_modulo(o, c_out, cg, groups):
    if cg == 1 and groups > 1 and c_out > groups:  # BUG: depthwise with a multiplier
        return np.array([o % groups])
    return _by_group(o, c_out, cg, groups)


def blocked_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, _by_group, block=4)


def depthwise_modulo_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, _depthwise_modulo)


def exact_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The same windows without a bug."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, _by_group)


conv1d = conv2d = conv3d = blocked_conv
