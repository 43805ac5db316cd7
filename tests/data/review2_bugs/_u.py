"""Helpers shared by the review2 plug-ins."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..review_bugs._util import conv_padding, per_axis  # noqa: F401

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def t(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def n(x):
    return None if x is None else x.detach().numpy()


def pad_input(x, padding, weight_shape, dilation, rank):
    pads = conv_padding(padding, weight_shape, dilation, rank)
    return np.pad(x, [(0, 0), (0, 0), *list(pads)]), pads


def conv_grads(go, x, w, b, stride, padding, dilation, groups):
    rank = x.ndim - 2
    xt, wt = t(x).requires_grad_(), t(w).requires_grad_()
    bt = None if b is None else t(b).requires_grad_()
    y = CONV[rank](xt, wt, bt, stride, padding, dilation, groups)
    y.backward(t(go))
    return n(xt.grad), n(wt.grad), (None if bt is None else n(bt.grad))


def convt_grads(go, x, w, b, stride, padding, output_padding, groups, dilation):
    rank = x.ndim - 2
    xt, wt = t(x).requires_grad_(), t(w).requires_grad_()
    bt = None if b is None else t(b).requires_grad_()
    y = CONVT[rank](xt, wt, bt, stride, padding, output_padding, groups, dilation)
    y.backward(t(go))
    return n(xt.grad), n(wt.grad), (None if bt is None else n(bt.grad))


def cbil(f, a, b):
    """f(a, b) for a real-bilinear torch op f, extended to complex a, b by real and imaginary parts
    (torch.nn.grad's dilated kernels refuse complex tensors)."""
    if not (a.is_complex() or b.is_complex()):
        return f(a, b)
    ar, ai = (a.real, a.imag) if a.is_complex() else (a, torch.zeros_like(a))
    br, bi = (b.real, b.imag) if b.is_complex() else (b, torch.zeros_like(b))
    return torch.complex(f(ar, br) - f(ai, bi), f(ar, bi) + f(ai, br))
