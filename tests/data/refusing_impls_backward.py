"""A conv2d_backward returning gradients of impossible shapes (grad_input with its axes reversed,
grad_weight without its spatial axes), for the test that no probe ends in a traceback."""

import numpy as np


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1):  # fmt: skip
    x, w = np.asarray(input), np.asarray(weight)
    grad_bias = None if bias is None else np.asarray(grad_output).sum(axis=(0, 2, 3))
    return np.zeros(x.shape[::-1], x.dtype), np.zeros(w.shape[:2], w.dtype), grad_bias
