"""conv2d_backward by numpy im2col; grad_weight is computed from the first image of the
batch only (`cols[0]` where the batch should be summed). Expected cause: depth_sum (grad_weight's
batch sum)."""

import numpy as np

from ._util import conv_padding, per_axis


def _cols(xp, kh, kw, s, d, ho, wo):
    n, c = xp.shape[:2]
    cols = np.empty((n, c, kh, kw, ho, wo), xp.dtype)
    for a in range(kh):
        for b in range(kw):
            r0, c0 = a * d[0], b * d[1]
            cols[:, :, a, b] = xp[
                :, :, r0 : r0 + s[0] * (ho - 1) + 1 : s[0], c0 : c0 + s[1] * (wo - 1) + 1 : s[1]
            ]
    return cols


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    s, d = per_axis(stride, 2), per_axis(dilation, 2)
    pads = conv_padding(padding, weight.shape, dilation, 2)
    xp = np.pad(input, [(0, 0), (0, 0), *pads])
    c_out, per_in, kh, kw = weight.shape
    _, _, ho, wo = grad_output.shape
    cols = _cols(xp, kh, kw, s, d, ho, wo)  # (N, C_in, kh, kw, ho, wo)
    per_out = c_out // groups
    grad_weight = np.zeros(weight.shape, np.result_type(input, weight))
    grad_cols = np.zeros(cols.shape, grad_weight.dtype)
    for g in range(groups):
        gs = grad_output[:, g * per_out : (g + 1) * per_out]
        cs = cols[:, g * per_in : (g + 1) * per_in]
        # BUG: only image 0 (should sum over n)
        grad_weight[g * per_out : (g + 1) * per_out] = np.einsum(
            "ohw,ckahw->ocka", gs[0], np.conj(cs[0])
        )
        grad_cols[:, g * per_in : (g + 1) * per_in] = np.einsum(
            "nohw,ocka->nckahw", gs, np.conj(weight[g * per_out : (g + 1) * per_out])
        )
    grad_xp = np.zeros(xp.shape, grad_weight.dtype)
    for a in range(kh):
        for b in range(kw):
            r0, c0 = a * d[0], b * d[1]
            grad_xp[
                :, :, r0 : r0 + s[0] * (ho - 1) + 1 : s[0], c0 : c0 + s[1] * (wo - 1) + 1 : s[1]
            ] += grad_cols[:, :, a, b]
    h, w = input.shape[2:]
    grad_input = grad_xp[:, :, pads[0][0] : pads[0][0] + h, pads[1][0] : pads[1][0] + w]
    grad_bias = None if bias is None else grad_output.sum(axis=(0, 2, 3))
    dt = input.dtype
    return (
        grad_input.astype(dt),
        grad_weight.astype(dt),
        None if grad_bias is None else grad_bias.astype(dt),
    )
