"""kernel-orientation bugs, rank 1. conv1d (a torch.autograd.Function, `accepts_tensors`): the
forward is F.conv1d; the hand-written backward computes grad_input with the kernel reversed
(a correlation where torch convolves). conv_transpose1d (FFT): the kernel not reversed.
conv_transpose1d_backward (tap loops): grad_weight written reversed."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, function_conv

conv1d = function_conv(1, grad_input_unflipped=True)
conv_transpose1d = bind("conv_transpose1d", _fft.conv_transpose, correlate=True)
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward",
    conv_transpose_backward,
    planted_gw=Planted(kernel_flip_axes=(0,)),
)
