"""conv_transpose3d (torch) with the bias never added; its backward is correct.
Expected cause: bias."""

import torch.nn.functional as F

from ._u import convt_grads, n, t


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return n(
        F.conv_transpose3d(
            t(input), t(weight), None, stride, padding, output_padding, groups, dilation
        )
    )


def conv_transpose3d_backward(
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
    return convt_grads(
        grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
