"""conv1d_backward: grad_input by torch.nn.grad.conv1d_input with the weight's last input channel
of each group zeroed (an off-by-one range c < C_in/groups - 1). Expected cause: groups."""

import torch

from ._u import cbil, conv_grads, n, t


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    _, gw, gb = conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups)
    w = t(weight).clone()
    w[:, -1] = 0
    gi = cbil(
        lambda a, b: torch.nn.grad.conv1d_input(
            input.shape, a, b, stride, padding, dilation, groups
        ),
        w.conj(),
        t(grad_output),
    )
    return n(gi), gw, gb
