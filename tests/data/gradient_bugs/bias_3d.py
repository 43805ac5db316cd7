"""bias bugs, rank 3. conv3d_backward (im2col): grad_bias the mean instead of the sum.
conv_transpose3d (tap loops): the bias never added. conv_transpose3d_backward (tap loops):
grad_bias the mean instead of the sum."""

from tests.data.gradient_bugs import _im2col
from tests.data.gradient_bugs._taps import conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv3d_backward = bind("conv3d_backward", _im2col.conv_backward, bias_mean=True)
conv_transpose3d = bind("conv_transpose3d", conv_transpose, bias_missing=True)
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", conv_transpose_backward, bias_mean=True
)
