"""groups bugs, rank 2. conv2d_backward (im2col): grad_input takes group g's output channels as
g, g + groups, ... (grad_output reshaped (C_out/groups, groups)). conv_transpose2d (tap loops):
input channel c is put in group c % groups. conv_transpose2d_backward (tap loops): grad_weight
pairs group g with output channels g, g + groups, ..."""

from tests.data.gradient_bugs import _im2col
from tests.data.gradient_bugs._taps import Planted, conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv2d_backward = bind("conv2d_backward", _im2col.conv_backward, outputs_interleaved=True)
conv_transpose2d = bind(
    "conv_transpose2d", conv_transpose, planted=Planted(group_of_big="interleaved")
)
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", conv_transpose_backward, planted_gw=Planted(interleave_small=True)
)
