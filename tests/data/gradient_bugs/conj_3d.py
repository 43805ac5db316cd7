"""conjugation bugs, rank 3 (complex cases). conv3d_backward (torch.autograd in JAX's
convention: the vector-Jacobian product without conjugation, conj(autograd(conj(g)))):
grad_input reads w and grad_weight reads x where torch conjugates them; grad_bias right.
conv_transpose3d (tap loops): the kernel conjugated. conv_transpose3d_backward (tap loops):
grad_input reads w instead of conj(w)."""

import torch
import torch.nn.functional as F

from tests.data.gradient_bugs._taps import Planted, conv_transpose, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor

conv_transpose3d = bind("conv_transpose3d", conv_transpose, planted=Planted(conj_kernel=True))
conv_transpose3d_backward = bind(
    "conv_transpose3d_backward", conv_transpose_backward, planted_gi=Planted(no_conj=True)
)


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    x, w, b = tensor(input), tensor(weight), tensor(bias)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with torch.enable_grad():
        y = F.conv3d(x, w, b, stride, padding, dilation, groups)
        grads = torch.autograd.grad(y, leaves, tensor(grad_output).conj())
    arrays = [g.conj().resolve_conj().numpy() for g in grads]
    return arrays[0], arrays[1], arrays[2] if b is not None else None
