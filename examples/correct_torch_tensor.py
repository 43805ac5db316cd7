"""Correct conv2d written with torch (unfold + matmul) that returns a torch tensor with
requires_grad=True.

Exercises the case where a user's result is a torch tensor still attached to an autograd graph.
"""

import numpy as np
import torch

from ._common import check_shapes, output_size, padding_amounts, pair

__all__ = ["conv2d"]

_TORCH_DTYPES = {
    np.dtype(t): getattr(torch, t)
    for t in ("float16", "float32", "float64", "complex64", "complex128")
}


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x_np, w_np = np.asarray(input), np.asarray(weight)
    b_np = None if bias is None else np.asarray(bias)
    check_shapes(x_np, w_np, b_np, groups)
    (sH, sW), (dH, dW) = pair(stride, "stride"), pair(dilation, "dilation")
    C_out, Cg, kH, kW = w_np.shape
    top, bottom, left, right = padding_amounts(padding, (kH, kW), (dH, dW), (sH, sW))
    work = torch.complex128 if np.iscomplexobj(x_np) else torch.float64
    x = torch.tensor(x_np, dtype=work, requires_grad=True)
    w = torch.tensor(w_np, dtype=work, requires_grad=True)
    xp = torch.nn.functional.pad(x, (left, right, top, bottom))
    N, Hp, Wp = x_np.shape[0], xp.shape[2], xp.shape[3]
    Ho, Wo = output_size(Hp, kH, sH, dH), output_size(Wp, kW, sW, dW)
    # cols[n, c*kH*kW + u*kW + v, i*Wo + j] = xp[n, c, i*sH + u*dH, j*sW + v*dW]
    cols = torch.nn.functional.unfold(xp, (kH, kW), dilation=(dH, dW), stride=(sH, sW))
    cols = cols.reshape(N, groups, Cg * kH * kW, Ho * Wo)
    wg = w.reshape(groups, C_out // groups, Cg * kH * kW)
    out = torch.einsum("gok,ngkp->ngop", wg, cols).reshape(N, C_out, Ho, Wo)
    if b_np is not None:
        out = out + torch.tensor(b_np, dtype=work, requires_grad=True)[None, :, None, None]
    return out.to(_TORCH_DTYPES[x_np.dtype])
