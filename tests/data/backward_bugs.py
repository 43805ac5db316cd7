"""Implementations of the backward pass with one planted bug each, written for the tests.

`NoFlipConv` is a custom torch.autograd.Function whose forward is right and whose backward
forgets to flip the kernel for grad_input (a correlation instead of the true convolution);
`conv2d` wraps it with `accepts_tensors = True`, so the harness back-propagates through it.
`conv2d_backward` (NumPy) averages grad_bias instead of summing it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class NoFlipConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.params = (stride, padding, dilation, groups, b is not None)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.params
        flipped = w.flip(2, 3)  # BUG: autograd's grad_input of the flipped kernel = no flip
        with torch.enable_grad():
            xv = x.detach().requires_grad_()
            wv = w.detach().requires_grad_()
            out = F.conv2d(xv, flipped.detach(), None, stride, padding, dilation, groups)
            (grad_input,) = torch.autograd.grad(out, xv, grad)
            out = F.conv2d(x.detach(), wv, None, stride, padding, dilation, groups)
            (grad_weight,) = torch.autograd.grad(out, wv, grad)
        grad_bias = grad.sum((0, 2, 3)) if has_bias else None
        return grad_input, grad_weight, grad_bias, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Forward right; its autograd backward forgets the flip."""
    return NoFlipConv.apply(input, weight, bias, stride, padding, dilation, groups)


conv2d.accepts_tensors = True


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """Right grad_input and grad_weight (torch autograd); grad_bias the mean, not the sum."""
    x = torch.from_numpy(np.asarray(input, np.float64)).requires_grad_()
    w = torch.from_numpy(np.asarray(weight, np.float64)).requires_grad_()
    g = torch.from_numpy(np.asarray(grad_output, np.float64))
    out = F.conv2d(x, w, None, stride, padding, dilation, groups)
    grad_input, grad_weight = torch.autograd.grad(out, (x, w), g)
    dtype = np.asarray(input).dtype
    grad_bias = None if bias is None else g.numpy().mean(axis=(0, 2, 3)).astype(dtype)  # BUG
    return grad_input.numpy().astype(dtype), grad_weight.numpy().astype(dtype), grad_bias
