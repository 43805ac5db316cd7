"""groups bugs, rank 1. conv1d_backward (tap loops): grad_weight reads input group o % groups.
conv_transpose1d (F.conv_transpose1d, then the output channels regrouped as (C_out/groups,
groups)): output channel o comes from group o % groups. conv_transpose1d_backward (tap loops):
grad_input reads output channels g, g + groups, ... for group g."""

import numpy as np
import torch.nn.functional as F

from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor

conv1d_backward = bind(
    "conv1d_backward", conv_backward, planted_gw=Planted(group_of_big="interleaved")
)
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gi=Planted(interleave_small=True)
)


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    y = F.conv_transpose1d(
        tensor(input), tensor(weight), None, stride, padding, output_padding, groups, dilation
    ).numpy()
    n, c, length = y.shape
    y = y.reshape(n, groups, c // groups, length).transpose(0, 2, 1, 3).reshape(n, c, length)
    if bias is not None:
        y = y + np.asarray(bias)[None, :, None]
    return y
