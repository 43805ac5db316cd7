"""bias bugs, rank 1. conv1d_backward (tap loops): grad_bias the mean of grad_output over the
batch and length instead of the sum. conv_transpose1d (FFT): the bias never added.
conv_transpose1d_backward (tap loops): grad_bias the mean instead of the sum."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv1d_backward = bind("conv1d_backward", conv_backward, bias_mean=True)
conv_transpose1d = bind("conv_transpose1d", _fft.conv_transpose, bias_missing=True)
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, bias_mean=True
)
