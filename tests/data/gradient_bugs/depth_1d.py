"""depth bugs, rank 1. conv1d_backward (im2col): grad_input leaves out the last output channel
of each group. conv_transpose1d (tap loops): the input channels averaged instead of summed.
conv_transpose1d_backward (tap loops): grad_weight averaged over the batch instead of summed."""

from tests.data.gradient_bugs import _im2col
from tests.data.gradient_bugs._taps import Planted, conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv1d_backward = bind("conv1d_backward", _im2col.conv_backward, drop_last_output=True)
conv_transpose1d = bind("conv_transpose1d", conv_transpose, planted=Planted(channel_mean=True))
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gw=Planted(batch_mean=True)
)
