"""depth bugs, rank 3. conv3d_backward (tap loops): grad_input averages the output channels
instead of summing them. conv_transpose3d (F.conv_transpose3d on all but the last input
channel): one channel dropped from the sum. conv_transpose3d_backward (tap loops): grad_weight
leaves out the batch's last image."""

import torch.nn.functional as F

from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gi=Planted(channel_mean=True))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", conv_transpose_backward, planted_gw=Planted(drop_last_image=True)
)


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    if groups != 1:
        raise NotImplementedError("groups")
    return F.conv_transpose3d(
        tensor(input[:, :-1]),
        tensor(weight[:-1]),
        tensor(bias),
        stride,
        padding,
        output_padding,
        1,
        dilation,
    ).numpy()
