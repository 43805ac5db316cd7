"""Correct, rank 2, three styles: conv2d_backward by im2col and matrix products,
conv_transpose2d by FFT, conv_transpose2d_backward by torch.autograd through F.conv_transpose2d."""

from tests.data.gradient_bugs import _fft, _im2col
from tests.data.gradient_bugs._torch_styles import autograd_transpose_backward, bind

conv2d_backward = bind("conv2d_backward", _im2col.conv_backward)
conv_transpose2d = bind("conv_transpose2d", _fft.conv_transpose)
conv_transpose2d_backward = bind("conv_transpose2d_backward", autograd_transpose_backward)
