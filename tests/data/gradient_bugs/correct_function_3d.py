"""Correct, rank 3: conv3d as a torch.autograd.Function with a hand-written backward
(`accepts_tensors`), conv_transpose3d by FFT, conv_transpose3d_backward by tap loops."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, function_conv

conv3d = function_conv(3)
conv_transpose3d = bind("conv_transpose3d", _fft.conv_transpose)
conv_transpose3d_backward = bind("conv_transpose3d_backward", conv_transpose_backward)
