"""Correct conv_transpose1d/2d/3d, any rank, by numpy: one einsum per tap, scattered into a
buffer padded on both sides and then cropped (output_padding as extra room at the end). Expected:
matches torch everywhere."""

import itertools

import numpy as np

from ._util import per_axis


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation):
    rank = input.ndim - 2
    s, p, op, d = (per_axis(v, rank) for v in (stride, padding, output_padding, dilation))
    n, c_in = input.shape[:2]
    per_out = weight.shape[1]
    ks = weight.shape[2:]
    per_in = c_in // groups
    sizes = [(input.shape[2 + a] - 1) * s[a] + (ks[a] - 1) * d[a] + 1 + op[a] for a in range(rank)]
    work = np.result_type(input, weight, np.float64)
    buf = np.zeros((n, groups, per_out, *sizes), work)
    xg = input.reshape(n, groups, per_in, *input.shape[2:])
    wg = weight.reshape(groups, per_in, per_out, *ks)
    for k in itertools.product(*(range(m) for m in ks)):
        contrib = np.einsum(
            "ngc...,gco->ngo...", xg, wg[(slice(None), slice(None), slice(None), *k)]
        )
        where = tuple(
            slice(k[a] * d[a], k[a] * d[a] + (input.shape[2 + a] - 1) * s[a] + 1, s[a])
            for a in range(rank)
        )
        buf[(slice(None), slice(None), slice(None), *where)] += contrib
    crop = tuple(slice(p[a], sizes[a] - p[a]) for a in range(rank))
    out = buf[(slice(None), slice(None), slice(None), *crop)].reshape(
        n, groups * per_out, *[sizes[a] - 2 * p[a] for a in range(rank)]
    )
    if bias is not None:
        out = out + bias.reshape(1, -1, *([1] * rank))
    return out.astype(input.dtype)


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation)


conv_transpose2d = conv_transpose1d
conv_transpose3d = conv_transpose1d
