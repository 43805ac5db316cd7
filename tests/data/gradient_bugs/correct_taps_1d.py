"""Correct, rank 1, tap loops: conv1d_backward, conv_transpose1d, conv_transpose1d_backward."""

from tests.data.gradient_bugs._taps import conv_backward, conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv1d_backward = bind("conv1d_backward", conv_backward)
conv_transpose1d = bind("conv_transpose1d", conv_transpose)
conv_transpose1d_backward = bind("conv_transpose1d_backward", conv_transpose_backward)
