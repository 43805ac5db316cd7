"""conjugation bugs, rank 1 (complex cases). conv1d_backward (tap loops): grad_input reads w
where torch reads conj(w), as JAX's convention does. conv_transpose1d (FFT): the kernel
conjugated. conv_transpose1d_backward (tap loops): grad_weight reads x instead of conj(x)."""

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind

conv1d_backward = bind("conv1d_backward", conv_backward, planted_gi=Planted(no_conj=True))
conv_transpose1d = bind("conv_transpose1d", _fft.conv_transpose, conj_kernel=True)
conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gw=Planted(no_conj=True)
)
