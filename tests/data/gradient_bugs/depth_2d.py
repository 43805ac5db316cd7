"""depth bugs, rank 2. conv2d_backward (tap loops): grad_weight leaves out the batch's last
image. conv_transpose2d (tap loops): the last input channel of each group left out.
conv_transpose2d_backward (tap loops): grad_input leaves out the last output channel."""

from tests.data.gradient_bugs._taps import (
    Planted,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)
from tests.data.gradient_bugs._torch_styles import bind

conv2d_backward = bind("conv2d_backward", conv_backward, planted_gw=Planted(drop_last_image=True))
conv_transpose2d = bind("conv_transpose2d", conv_transpose, planted=Planted(drop_last_channel=True))
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", conv_transpose_backward, planted_gi=Planted(drop_last_channel=True)
)
