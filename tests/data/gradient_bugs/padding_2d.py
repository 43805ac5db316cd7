"""padding bugs, rank 2. conv2d_backward (tap loops): grad_input with H's padding taken after
the input instead of before. conv_transpose2d (FFT): output_padding's extra row put before the
output instead of after. conv_transpose2d_backward (torch.autograd through F.conv_transpose2d
with output_padding 0, then F.pad putting the extra row first): grad_input and grad_weight read
grad_output one row off."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_backward
from tests.data.gradient_bugs._torch_styles import autograd_transpose_backward, bind

conv2d_backward = bind("conv2d_backward", conv_backward, planted_gi=Planted(padding_after=(0,)))
conv_transpose2d = bind("conv_transpose2d", _fft.conv_transpose, output_padding_first=True)
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", autograd_transpose_backward, output_padding_first=True
)
