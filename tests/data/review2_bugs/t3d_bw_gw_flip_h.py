"""conv_transpose3d_backward (torch autograd), grad_weight returned flipped along H only.
Expected cause: kernel_flip."""

import numpy as np

from ._u import convt_grads


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
    gi, gw, gb = convt_grads(
        grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    return gi, np.ascontiguousarray(gw[:, :, :, ::-1, :]), gb
