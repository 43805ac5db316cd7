"""dilation bugs, rank 2. conv2d_backward (tap loops): grad_weight's dilation one smaller on W
only (3 read as 2). conv_transpose2d (tap loops): dilation one larger on H only (a taller
output). conv_transpose2d_backward (tap loops): grad_input ignores the dilation."""

from tests.data.gradient_bugs._taps import (
    Planted,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)
from tests.data.gradient_bugs._torch_styles import bind

conv2d_backward = bind("conv2d_backward", conv_backward, planted_gw=Planted(dilation_delta={1: -1}))
conv_transpose2d = bind("conv_transpose2d", conv_transpose, planted=Planted(dilation_delta={0: 1}))
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", conv_transpose_backward, planted_gi=Planted(dilation_ignored=True)
)
