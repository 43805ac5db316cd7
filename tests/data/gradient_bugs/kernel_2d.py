"""kernel-orientation bugs, rank 2 (square kernels). conv2d_backward (im2col): the kernel's
rows and columns swapped: grad_input reads the transposed kernel and grad_weight comes out
transposed. conv_transpose2d (tap loops): the kernel read transposed.
conv_transpose2d_backward (tap loops): grad_input reads the kernel flipped along H only."""

from tests.data.gradient_bugs import _im2col
from tests.data.gradient_bugs._taps import Planted, conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv2d_backward = bind("conv2d_backward", _im2col.conv_backward, weight_transposed=True)
conv_transpose2d = bind("conv_transpose2d", conv_transpose, planted=Planted(kernel_transposed=True))
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward",
    conv_transpose_backward,
    planted_gi=Planted(kernel_flip_axes=(0,)),
)
