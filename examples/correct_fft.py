"""Correct conv2d computed with numpy.fft: zero-padded FFT cross-correlation per (n, group), summed
over channels.

Differs from torch.nn.functional.conv2d only by floating-point rounding (~1e-15 relative in
float64).
"""

import numpy as np

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
    Hp, Wp = xp.shape[2:]
    Ho, Wo = output_size(Hp, kH, sH, dH), output_size(Wp, kW, sW, dW)
    # Dilated kernel, zero-padded to the padded input's size.
    wd = np.zeros((C_out, Cg, Hp, Wp), dtype=work)
    wd[:, :, : dH * (kH - 1) + 1 : dH, : dW * (kW - 1) + 1 : dW] = w
    # Circular cross-correlation: corr = irfft(rfft(x) * conj(rfft(w))). No wrap-around
    # reaches the positions kept below, since the dilated kernel fits inside (Hp, Wp).
    # Complex inputs: full FFTs, and conj(fft(conj(w))) so that the product sums x * w unconjugated.
    if work is np.complex128:
        X, K = np.fft.fft2(xp), np.conj(np.fft.fft2(np.conj(wd)))
    else:
        X, K = np.fft.rfft2(xp), np.conj(np.fft.rfft2(wd))
    Og = C_out // groups
    out = np.empty((x.shape[0], C_out, Ho, Wo), dtype=work)
    for g in range(groups):
        spec = np.einsum("ncij,ocij->noij", X[:, g * Cg : (g + 1) * Cg], K[g * Og : (g + 1) * Og])
        if work is np.complex128:
            full = np.fft.ifft2(spec, s=(Hp, Wp))
        else:
            full = np.fft.irfft2(spec, s=(Hp, Wp))
        out[:, g * Og : (g + 1) * Og] = full[:, :, ::sH, ::sW][:, :, :Ho, :Wo]
    if b is not None:
        out += b[None, :, None, None]
    return out.astype(x.dtype)
