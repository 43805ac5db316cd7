"""stride bugs, rank 2 (cases with stride (1, 3)). conv2d_backward (tap loops): grad_weight
steps 2 instead of 3 along W. conv_transpose2d (FFT): the input's samples put at j*3 + 1 along
W (zeros inserted at the wrong phase on one axis). conv_transpose2d_backward (tap loops):
grad_input reads grad_output at j*3 + 1 along W."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv2d_backward = bind("conv2d_backward", conv_backward, planted_gw=Planted(stride_delta={1: -1}))
conv_transpose2d = bind("conv_transpose2d", _fft.conv_transpose, phase={1: 1})
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", conv_transpose_backward, planted_gi=Planted(offset={1: 1})
)
