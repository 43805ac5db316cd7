"""A module with one operation, conv_transpose2d_backward (tap loops), whose grad_input reads
the kernel rotated 180 degrees (a true convolution where torch's forward convolution of
grad_output correlates): cause kernel_flip on grad_input; grad_weight and grad_bias right."""

from tests.data.gradient_bugs._taps import Planted, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv_transpose2d_backward = bind(
    "conv_transpose2d_backward",
    conv_transpose_backward,
    planted_gi=Planted(kernel_flip_axes=(0, 1)),
)
