"""conv_transpose1d/2d/3d written as a scatter per kernel tap (each tap adds its products to a
strided slice of the uncropped output, which is then cropped by the padding), for the diagnose
tests. This module is right; `tests.data.transposed_unflipped` scatters with the kernel reversed
along every axis, the bug `kernel_flip` names.
"""

from __future__ import annotations

import itertools

import numpy as np


def _per_axis(value, rank):
    return (int(value),) * rank if np.isscalar(value) else tuple(int(v) for v in value)


def scatter(input, weight, bias, stride, padding, output_padding, groups, dilation, reverse):
    x, w = np.asarray(input), np.asarray(weight)
    dtype = x.dtype
    work = np.complex128 if np.iscomplexobj(x) else np.float64
    x, w = x.astype(work), w.astype(work)
    if reverse:
        w = w[(slice(None), slice(None), *([slice(None, None, -1)] * (w.ndim - 2)))]
    rank = x.ndim - 2
    s, p, op, d = (_per_axis(v, rank) for v in (stride, padding, output_padding, dilation))
    sizes, kernel = x.shape[2:], w.shape[2:]
    full = [(n - 1) * s[a] + d[a] * (kernel[a] - 1) + 1 + op[a] for a, n in enumerate(sizes)]
    c_in, per_out = w.shape[:2]
    per_in = c_in // groups
    out = np.zeros((x.shape[0], per_out * groups, *full), work)
    for g in range(groups):
        xs = x[:, g * per_in : (g + 1) * per_in]
        for tap in itertools.product(*(range(k) for k in kernel)):
            target = tuple(
                slice(tap[a] * d[a], tap[a] * d[a] + (sizes[a] - 1) * s[a] + 1, s[a])
                for a in range(rank)
            )
            taps = w[(slice(g * per_in, (g + 1) * per_in), slice(None), *tap)]
            out[(slice(None), slice(g * per_out, (g + 1) * per_out), *target)] += np.einsum(
                "nc...,co->no...", xs, taps
            )
    crop = tuple(slice(p[a], full[a] - p[a]) for a in range(rank))
    out = out[(slice(None), slice(None), *crop)]
    if bias is not None:
        out = out + np.asarray(bias, work).reshape(1, -1, *([1] * rank))
    return out.astype(dtype)


def conv_transpose(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return scatter(input, weight, bias, stride, padding, output_padding, groups, dilation, False)


conv_transpose1d = conv_transpose2d = conv_transpose3d = conv_transpose
