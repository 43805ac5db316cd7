"""Correct direct conv2d (the model user's implementation): sliding windows + einsum per group.

Matches torch.nn.functional.conv2d; computes in float64 (complex128 for complex inputs: the plain
sum of products, no conjugation) and casts back to the input dtype.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._common import check_shapes, output_size, padding_amounts, pair, zero_pad

__all__ = ["conv2d"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = np.asarray(input)
    work = np.complex128 if np.iscomplexobj(x) else np.float64
    w = np.asarray(weight, dtype=work)
    b = None if bias is None else np.asarray(bias, dtype=work)
    check_shapes(x, w, b, groups)
    (sH, sW), (dH, dW) = pair(stride, "stride"), pair(dilation, "dilation")
    C_out, Cg, kH, kW = w.shape
    xp = zero_pad(x.astype(work), *padding_amounts(padding, (kH, kW), (dH, dW), (sH, sW)))
    Ho = output_size(xp.shape[2], kH, sH, dH)
    Wo = output_size(xp.shape[3], kW, sW, dW)
    # win[n, c, i, j, u, v] = xp[n, c, i*sH + u*dH, j*sW + v*dW]
    win = sliding_window_view(xp, (dH * (kH - 1) + 1, dW * (kW - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sH, ::sW, ::dH, ::dW][:, :, :Ho, :Wo]
    Og = C_out // groups
    out = np.empty((x.shape[0], C_out, Ho, Wo), dtype=work)
    for g in range(groups):
        out[:, g * Og : (g + 1) * Og] = np.einsum(
            "ncijuv,ocuv->noij", win[:, g * Cg : (g + 1) * Cg], w[g * Og : (g + 1) * Og]
        )
    if b is not None:
        out += b[None, :, None, None]
    return out.astype(x.dtype)
