"""dilation bugs, rank 1. conv1d_backward (tap loops): grad_input ignores the dilation (taps
1 apart). conv_transpose1d (F.conv_transpose1d called with dilation=1): dilation ignored, so
the output is shorter. conv_transpose1d_backward (tap loops): grad_weight with the dilation one
larger."""

import torch.nn.functional as F

from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor

conv1d_backward = bind("conv1d_backward", conv_backward, planted_gi=Planted(dilation_ignored=True))
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gw=Planted(dilation_delta={0: 1})
)


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return F.conv_transpose1d(
        tensor(input), tensor(weight), tensor(bias), stride, padding, output_padding, groups, 1
    ).numpy()
