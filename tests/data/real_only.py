"""Real-only plug-ins of every rank: conv{r}d, conv{r}d_backward and conv_transpose{r}d computed
by torch in float64 and rounded to the input's dtype, refusing complex inputs the way real-only
libraries do.

The module's functions raise NotImplementedError on complex data; `typed` (a module attribute
read at call time, set by the tests) makes them raise TypeError instead, as a library that never
checks does when NumPy cannot cast. Written for the test that `run` (forward and backward) and
`diagnose` share one rule for such an implementation: `unsupported`, never an error, and no
claim about complex behaviour it never showed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FORWARD = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
typed = False  # raise TypeError (not NotImplementedError) on complex inputs


def _real(*arrays):
    if any(a is not None and np.iscomplexobj(a) for a in arrays):
        if typed:
            raise TypeError("can't convert complex to float")
        raise NotImplementedError("complex inputs are not supported")
    return [None if a is None else torch.from_numpy(np.asarray(a, np.float64)) for a in arrays]


def _forward(rank):
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        x, w, b = _real(input, weight, bias)
        out = FORWARD[rank](x, w, b, stride, padding, dilation, groups)
        return out.numpy().astype(np.asarray(input).dtype)

    return conv


def _backward(rank):
    def conv_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        g, x, w = _real(grad_output, input, weight)
        x.requires_grad_()
        w.requires_grad_()
        out = FORWARD[rank](x, w, None, stride, padding, dilation, groups)
        grad_input, grad_weight = torch.autograd.grad(out, (x, w), g)
        dtype = np.asarray(input).dtype
        spatial = tuple(range(2, g.ndim))
        grad_bias = None if bias is None else g.sum(dim=(0, *spatial)).numpy().astype(dtype)
        return grad_input.numpy().astype(dtype), grad_weight.numpy().astype(dtype), grad_bias

    return conv_backward


def _transposed(rank):
    def conv_transpose(
        input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
    ):
        x, w, b = _real(input, weight, bias)
        out = TRANSPOSED[rank](x, w, b, stride, padding, output_padding, groups, dilation)
        return out.numpy().astype(np.asarray(input).dtype)

    return conv_transpose


conv1d, conv2d, conv3d = _forward(1), _forward(2), _forward(3)
conv_transpose1d, conv_transpose2d, conv_transpose3d = (
    _transposed(1),
    _transposed(2),
    _transposed(3),
)
conv1d_backward, conv2d_backward, conv3d_backward = _backward(1), _backward(2), _backward(3)
