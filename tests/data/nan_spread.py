"""A conv2d and a conv2d_backward computed in float32 that spread NaN where torch does not, and
are otherwise right up to float32 rounding. Written for the test that a NaN spread is `nan` for
every quantity, with a message naming a NaN element.

conv2d emulates dilation by a kernel with zeros inserted between its taps: 0 * NaN reaches
outputs torch's dilated taps never read. conv2d_backward's grad_weight multiplies the whole padded
input by a mask of grad_output per kernel tap (zeros where the tap reads nothing): 0 * NaN spreads
a NaN of the input to every tap of its channel, where torch's grad_weight has NaN only at the taps
that read it. grad_input and grad_bias are torch's (float64 autograd, rounded once). Numeric
padding only."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    dtype = np.asarray(input).dtype
    w = np.asarray(weight, np.float32)
    (dh, dw) = _pair(dilation)
    kh, kw = w.shape[2:]
    spread = np.zeros((*w.shape[:2], (kh - 1) * dh + 1, (kw - 1) * dw + 1), np.float32)
    spread[:, :, ::dh, ::dw] = w
    b = None if bias is None else torch.from_numpy(np.asarray(bias, np.float32))
    x = torch.from_numpy(np.asarray(input, np.float32))
    out = F.conv2d(x, torch.from_numpy(spread), b, stride, padding, 1, groups)
    return out.numpy().astype(dtype)


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    dtype = np.asarray(input).dtype
    x = torch.from_numpy(np.asarray(input, np.float64)).requires_grad_()
    w = torch.from_numpy(np.asarray(weight, np.float64)).requires_grad_()
    g = np.asarray(grad_output, np.float64)
    g32 = g.astype(np.float32)
    out = F.conv2d(x, w, None, stride, padding, dilation, groups)
    (grad_input,) = torch.autograd.grad(out, (x,), torch.from_numpy(g))
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    (ph, pw) = _pair(padding)
    xp = np.pad(np.asarray(input, np.float32), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    c_out, cg, kh, kw = np.asarray(weight).shape
    og = c_out // groups
    ho, wo = g.shape[2:]
    grad_weight = np.zeros((c_out, cg, kh, kw), np.float32)
    with np.errstate(invalid="ignore"):
        for u in range(kh):
            for v in range(kw):
                mask = np.zeros((g.shape[0], c_out, *xp.shape[2:]), np.float32)
                mask[
                    :,
                    :,
                    u * dh : u * dh + sh * (ho - 1) + 1 : sh,
                    v * dw : v * dw + sw * (wo - 1) + 1 : sw,
                ] = g32
                for o in range(c_out):
                    block = xp[:, (o // og) * cg : (o // og + 1) * cg]
                    grad_weight[o, :, u, v] = np.einsum("ncij,nij->c", block, mask[:, o])
    grad_bias = None if bias is None else g.sum(axis=(0, 2, 3))
    return (
        grad_input.numpy().astype(dtype),
        grad_weight.astype(dtype),
        None if grad_bias is None else grad_bias.astype(dtype),
    )
