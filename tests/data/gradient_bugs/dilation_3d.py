"""dilation bugs, rank 3. conv3d_backward (tap loops): grad_input's dilation one larger on W
only. conv_transpose3d (FFT): dilation ignored (a smaller output).
conv_transpose3d_backward (tap loops): grad_weight ignores the dilation."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv3d_backward = bind("conv3d_backward", conv_backward, planted_gi=Planted(dilation_delta={2: 1}))
conv_transpose3d = bind("conv_transpose3d", _fft.conv_transpose, dilation_ignored=True)
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", conv_transpose_backward, planted_gw=Planted(dilation_ignored=True)
)
