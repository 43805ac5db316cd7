"""Rounding only, rank 2: every operation computed by torch in float32 (inputs rounded to
float32, float32 accumulation) and returned as float64, the case's dtype. Right but for
rounding: on float64 cases with random data the expected cause is `precision`."""

import numpy as np
import torch
import torch.nn.functional as F


def _f32(a):
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float32))


def _back(tensors, dtype):
    return tuple(None if t is None else t.detach().numpy().astype(dtype) for t in tensors)


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    x, w, b = _f32(input), _f32(weight), _f32(bias)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with torch.enable_grad():
        y = F.conv2d(x, w, b, stride, padding, dilation, groups)
        grads = torch.autograd.grad(y, leaves, _f32(grad_output))
    gi, gw, *rest = _back(grads, np.asarray(input).dtype)
    return gi, gw, rest[0] if rest else None


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    y = F.conv_transpose2d(
        _f32(input), _f32(weight), _f32(bias), stride, padding, output_padding, groups, dilation
    )
    return y.numpy().astype(np.asarray(input).dtype)


def conv_transpose2d_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    x, w, b = _f32(input), _f32(weight), _f32(bias)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with torch.enable_grad():
        y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
        grads = torch.autograd.grad(y, leaves, _f32(grad_output))
    gi, gw, *rest = _back(grads, np.asarray(input).dtype)
    return gi, gw, rest[0] if rest else None
