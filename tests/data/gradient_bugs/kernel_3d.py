"""kernel-orientation bugs, rank 3. conv3d_backward (tap loops): grad_input reads the kernel
flipped along D only. conv_transpose3d (F.conv_transpose3d of the kernel flipped along W): the
kernel mirrored on one axis. conv_transpose3d_backward (tap loops): grad_input reads the kernel
rotated on every axis (a true convolution where torch correlates)."""

import torch.nn.functional as F

from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gi=Planted(kernel_flip_axes=(0,)))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward",
    conv_transpose_backward,
    planted_gi=Planted(kernel_flip_axes=(0, 1, 2)),
)


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    return F.conv_transpose3d(
        tensor(input),
        tensor(weight).flip(-1),
        tensor(bias),
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    ).numpy()
