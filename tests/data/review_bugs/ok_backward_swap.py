"""Correct conv2d_backward by the classic tricks, no autograd: grad_input is conv_transpose2d of
grad_output with conj(w) and the output_padding that restores the input size; grad_weight is a
conv2d of the input with batch and channel axes swapped, grad_output as the kernel (stride and
dilation exchanged), then cropped; group by group. Expected: matches torch everywhere."""

import numpy as np
import torch
import torch.nn.functional as F

from ._util import conv_padding, per_axis, t


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    s, d = per_axis(stride, 2), per_axis(dilation, 2)
    pads = conv_padding(padding, weight.shape, dilation, 2)
    xp = np.pad(input, [(0, 0), (0, 0), *pads])
    c_out, per_in, kh, kw = weight.shape
    per_out = c_out // groups
    g = t(grad_output)
    gip = F.conv_transpose2d(g, t(np.conj(weight)), None, s, 0, 0, groups, d)
    gxp = torch.zeros(xp.shape, dtype=gip.dtype)
    gxp[:, :, : gip.shape[2], : gip.shape[3]] = gip
    h, w = input.shape[2:]
    gi = gxp[:, :, pads[0][0] : pads[0][0] + h, pads[1][0] : pads[1][0] + w].numpy()
    gws = []
    for grp in range(groups):
        xs = t(
            np.conj(xp[:, grp * per_in : (grp + 1) * per_in]).swapaxes(0, 1).copy()
        )  # (C, N, H, W)
        gs = (
            g[:, grp * per_out : (grp + 1) * per_out].transpose(0, 1).contiguous()
        )  # (O, N, ho, wo)
        r = F.conv2d(xs, gs, None, d, 0, s, 1)  # (C, O, >=kh, >=kw)
        gws.append(r[:, :, :kh, :kw].transpose(0, 1))
    gw = torch.cat(gws, 0).resolve_conj().numpy()
    gb = None if bias is None else grad_output.sum(axis=(0, 2, 3))
    return gi, gw, gb
