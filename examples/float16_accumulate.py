"""Wrong conv2d: everything is done in float16.

Planted bug: inputs are cast to float16 and every product and running sum is rounded to float16
(about 1e-3 relative error for C_in=16, 3x3 random normal data); the result is cast back to the
input dtype.
Expected diagnosis: precision.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._common import check_shapes, output_size, padding_amounts, pair, zero_pad

__all__ = ["conv2d"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = np.asarray(input)
    w = np.asarray(weight, dtype=np.float16)  # BUG: float16 instead of float64
    b = None if bias is None else np.asarray(bias, dtype=np.float16)
    check_shapes(x, w, b, groups)
    (sH, sW), (dH, dW) = pair(stride, "stride"), pair(dilation, "dilation")
    C_out, Cg, kH, kW = w.shape
    xp = zero_pad(x.astype(np.float16), *padding_amounts(padding, (kH, kW), (dH, dW), (sH, sW)))
    Ho = output_size(xp.shape[2], kH, sH, dH)
    Wo = output_size(xp.shape[3], kW, sW, dW)
    # win[n, c, i, j, u, v] = xp[n, c, i*sH + u*dH, j*sW + v*dW]
    win = sliding_window_view(xp, (dH * (kH - 1) + 1, dW * (kW - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sH, ::sW, ::dH, ::dW][:, :, :Ho, :Wo]
    Og = C_out // groups
    out = np.zeros((x.shape[0], C_out, Ho, Wo), dtype=np.float16)
    for g in range(groups):
        acc = out[:, g * Og : (g + 1) * Og]
        for c in range(Cg):  # BUG: one float16 rounding per product and per addition
            for u in range(kH):
                for v in range(kW):
                    acc += (
                        win[:, None, g * Cg + c, :, :, u, v]
                        * w[g * Og : (g + 1) * Og, c, u, v, None, None]
                    )
    if b is not None:
        out += b[None, :, None, None]
    return out.astype(x.dtype)
