"""A conv2d as a torch.autograd.Function (accepts_tensors = True, so the harness back-propagates
through it): forward by F.conv2d, backward by torch.nn.grad, grad_bias averaged over batch and
positions instead of summed. Expected cause: bias."""

import torch
import torch.nn.functional as F
from torch.nn import grad as nngrad


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gi = nngrad.conv2d_input(x.shape, w, g, stride, padding, dilation, groups)
        gw = nngrad.conv2d_weight(x, w.shape, g, stride, padding, dilation, groups)
        gb = g.mean(dim=(0, 2, 3)) if ctx.has_bias else None  # BUG: mean, torch sums
        return gi, gw, gb, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _Conv.apply(input, weight, bias, stride, padding, dilation, groups)


conv2d.accepts_tensors = True
