"""bias bugs, rank 2. conv2d (a torch.autograd.Function, `accepts_tensors`): the forward is
F.conv2d, the hand-written backward returns grad_bias as the mean of grad_output. conv_transpose2d
(F.conv_transpose2d called without the bias). conv_transpose2d_backward (tap loops): grad_bias
the mean instead of the sum."""

import torch.nn.functional as F

from tests.data.gradient_bugs._taps import conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, function_conv, tensor

conv2d = function_conv(2, bias_mean=True)
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", conv_transpose_backward, bias_mean=True
)


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return F.conv_transpose2d(
        tensor(input), tensor(weight), None, stride, padding, output_padding, groups, dilation
    ).numpy()
