"""Forward convolutions written as shift-and-add over kernel taps (one strided slice of the padded
input per tap, accumulated with einsum over channels), each with one bug that changes the output's
size on some probes, for the `shape` leak tests: the cause must be the family's alone, never
`shape` beside it.

- `rotated_conv2d`: the kernel rotated 90 degrees (np.rot90), so a kH x kW kernel is read as
  kW x kH;
- `stride_plus_one_conv2d`: one more than the stride along W wherever W is strided;
- `dilation_minus_one_conv1d`: one less than the dilation ("d - 1 zeros between taps");
- `dilation_d_ignored_conv3d`: the dilation of D ignored;
- `rotated_conv3d`: each D slice of the kernel rotated 90 degrees in (H, W);
- `stride_minus_one_conv3d`, `stride_plus_one_conv1d`: the stride off by one on every strided axis.
"""

from __future__ import annotations

import itertools

import numpy as np


def _per_axis(value, rank):
    return (int(value),) * rank if np.isscalar(value) else tuple(int(v) for v in value)


def _pads(padding, kernel, dilation):
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in _per_axis(padding, len(kernel))]


def shift_and_add(x, w, bias, stride, padding, dilation, groups):
    dtype = np.asarray(x).dtype
    work = np.complex128 if np.iscomplexobj(x) else np.float64
    x, w = np.asarray(x, work), np.asarray(w, work)
    rank = x.ndim - 2
    s, d = _per_axis(stride, rank), _per_axis(dilation, rank)
    kernel = w.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), *_pads(padding, kernel, d)])
    sizes = [(xp.shape[2 + a] - d[a] * (kernel[a] - 1) - 1) // s[a] + 1 for a in range(rank)]
    n = x.shape[0]
    c_out, per_group = w.shape[:2]
    out = np.zeros((n, c_out, *(max(size, 0) for size in sizes)), np.result_type(x, w))
    if out.size == 0:  # the kernel larger than the padded input: an empty output
        return out.astype(dtype)
    per_out = c_out // groups
    for g in range(groups):
        xs = xp[:, g * per_group : (g + 1) * per_group]
        ws = w[g * per_out : (g + 1) * per_out]
        for tap in itertools.product(*(range(k) for k in kernel)):
            window = tuple(
                slice(tap[a] * d[a], tap[a] * d[a] + (sizes[a] - 1) * s[a] + 1, s[a])
                for a in range(rank)
            )
            patch = xs[(slice(None), slice(None), *window)]
            out[:, g * per_out : (g + 1) * per_out] += np.einsum(
                "nc...,oc->no...", patch, ws[(slice(None), slice(None), *tap)]
            )
    if bias is not None:
        out += np.asarray(bias).reshape(1, -1, *([1] * rank))
    return out.astype(dtype)


def rotated_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    rotated = np.rot90(np.asarray(weight), 1, axes=(2, 3))
    return shift_and_add(input, rotated, bias, stride, padding, dilation, groups)


def stride_plus_one_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = _per_axis(stride, 2)
    wrong = (sh, sw + 1 if sw > 1 else sw)
    return shift_and_add(input, weight, bias, wrong, padding, dilation, groups)


def dilation_minus_one_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    (d,) = _per_axis(dilation, 1)
    return shift_and_add(input, weight, bias, stride, padding, max(d - 1, 1), groups)


def dilation_d_ignored_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    _, dh, dw = _per_axis(dilation, 3)
    return shift_and_add(input, weight, bias, stride, padding, (1, dh, dw), groups)


def rotated_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    rotated = np.rot90(np.asarray(weight), 1, axes=(3, 4))
    return shift_and_add(input, rotated, bias, stride, padding, dilation, groups)


def stride_minus_one_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    fewer = [max(s - 1, 1) for s in _per_axis(stride, 3)]
    return shift_and_add(input, weight, bias, fewer, padding, dilation, groups)


def stride_plus_one_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    (s,) = _per_axis(stride, 1)
    return shift_and_add(input, weight, bias, s + 1 if s > 1 else s, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The same shift-and-add without a bug."""
    return shift_and_add(input, weight, bias, stride, padding, dilation, groups)
