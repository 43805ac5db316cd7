"""padding bugs, rank 1 (stride 1, so no stride phase can explain a shift). conv1d_backward
(tap loops): grad_weight reads the input as if all its padding were after it. conv_transpose1d
(tap loops): output_padding ignored (a shorter output). conv_transpose1d_backward (tap loops):
grad_input reads grad_output as if the padding were cropped after the output, not before."""

from tests.data.gradient_bugs._taps import (
    Planted,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)
from tests.data.gradient_bugs._torch_styles import bind

conv1d_backward = bind("conv1d_backward", conv_backward, planted_gw=Planted(padding_after=(0,)))
conv_transpose1d = bind("conv_transpose1d", conv_transpose, output_padding_ignored=True)
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gi=Planted(padding_after=(0,))
)
