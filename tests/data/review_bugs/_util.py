"""Small shared helpers for the review plug-ins."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def per_axis(value, rank):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    return tuple(int(v) for v in value)


def t(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def conv_padding(padding, weight_shape, dilation, rank):
    """(before, after) per axis for an int / tuple / 'same' / 'valid' padding."""
    if padding == "valid":
        return [(0, 0)] * rank
    if padding == "same":
        d = per_axis(dilation, rank)
        out = []
        for a in range(rank):
            total = d[a] * (weight_shape[2 + a] - 1)
            out.append((total // 2, total - total // 2))
        return out
    return [(p, p) for p in per_axis(padding, rank)]


def torch_conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups):
    """The correct gradients, by torch autograd."""
    rank = input.ndim - 2
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    x = t(input).requires_grad_()
    w = t(weight).requires_grad_()
    b = None if bias is None else t(bias).requires_grad_()
    y = conv(x, w, b, stride, padding, dilation, groups)
    leaves = [x, w] + ([b] if b is not None else [])
    grads = torch.autograd.grad(y, leaves, t(grad_output))
    gi, gw = grads[0].numpy(), grads[1].numpy()
    gb = grads[2].numpy() if b is not None else None
    return gi, gw, gb
