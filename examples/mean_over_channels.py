"""Wrong conv2d: averages over input channels instead of summing.

Planted bug: the sum over the input channels of each group is divided by C_in/groups.
Expected diagnosis: depth_sum.
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
        out[:, g * Og : (g + 1) * Og] = (
            np.einsum("ncijuv,ocuv->noij", win[:, g * Cg : (g + 1) * Cg], w[g * Og : (g + 1) * Og])
            / Cg
        )  # BUG: mean, not sum
    if b is not None:
        out += b[None, :, None, None]
    return out.astype(x.dtype)
