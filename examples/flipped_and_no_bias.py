"""Wrong conv2d with two bugs: true convolution and no bias.

Planted bugs: every kernel slice is rotated by 180 degrees, and the bias is never added.
Expected diagnosis: kernel_flip and bias.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._common import check_shapes, output_size, padding_amounts, pair, zero_pad

__all__ = ["conv2d"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = np.asarray(input)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    check_shapes(x, w, b, groups)
    (sH, sW), (dH, dW) = pair(stride, "stride"), pair(dilation, "dilation")
    w = w[:, :, ::-1, ::-1]  # BUG 1: kernel rotated 180 degrees (true convolution)
    C_out, Cg, kH, kW = w.shape
    xp = zero_pad(x.astype(np.float64), *padding_amounts(padding, (kH, kW), (dH, dW), (sH, sW)))
    Ho = output_size(xp.shape[2], kH, sH, dH)
    Wo = output_size(xp.shape[3], kW, sW, dW)
    # win[n, c, i, j, u, v] = xp[n, c, i*sH + u*dH, j*sW + v*dW]
    win = sliding_window_view(xp, (dH * (kH - 1) + 1, dW * (kW - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sH, ::sW, ::dH, ::dW][:, :, :Ho, :Wo]
    Og = C_out // groups
    out = np.empty((x.shape[0], C_out, Ho, Wo))
    for g in range(groups):
        out[:, g * Og : (g + 1) * Og] = np.einsum(
            "ncijuv,ocuv->noij", win[:, g * Cg : (g + 1) * Cg], w[g * Og : (g + 1) * Og]
        )
    # BUG 2: bias never added
    return out.astype(x.dtype)
