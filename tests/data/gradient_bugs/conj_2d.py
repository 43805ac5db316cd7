"""conjugation bugs, rank 2 (complex cases). conv2d (a torch.autograd.Function,
`accepts_tensors`): F.conv2d forward; the hand-written backward's grad_weight reads x instead of
conj(x). conv_transpose2d (tap loops): the kernel conjugated. conv_transpose2d_backward
(torch.autograd): grad_input taken through F.conv_transpose2d of conj(w), so it reads w where
torch reads conj(w); grad_weight and grad_bias right."""

from tests.data.gradient_bugs._taps import Planted, conv_transpose
from tests.data.gradient_bugs._torch_styles import (
    autograd_transpose_backward,
    bind,
    function_conv,
)

conv2d = function_conv(2, grad_weight_unconjugated=True)
conv_transpose2d = bind("conv_transpose2d", conv_transpose, planted=Planted(conj_kernel=True))
conv_transpose2d_backward = bind(
    "conv_transpose2d_backward", autograd_transpose_backward, kernel_conjugated_for_input=True
)
