"""stride bugs, rank 1. conv1d_backward: grad_input by FFT with grad_output's samples put at
i*s + 1 instead of i*s (the stride's zeros inserted at the wrong phase); grad_weight and
grad_bias by tap loops, right. conv_transpose1d (F.conv_transpose1d with stride + 1): the wrong
step, a longer output. conv_transpose1d_backward (tap loops): grad_weight samples grad_output
with a step one larger."""

import torch.nn.functional as F

from tests.data.gradient_bugs import _fft
from tests.data.gradient_bugs._taps import Planted, conv_backward, conv_transpose_backward
from tests.data.gradient_bugs._torch_styles import bind, tensor


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    _, gw, gb = conv_backward(grad_output, input, weight, bias, stride, padding, dilation, groups)
    gi = _fft.conv_grad_input(
        grad_output, input, weight, stride, padding, dilation, groups, phase={0: 1}
    )
    return gi, gw, gb


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    step = stride + 1 if isinstance(stride, int) else tuple(s + 1 for s in stride)
    return F.conv_transpose1d(
        tensor(input), tensor(weight), tensor(bias), step, padding, output_padding, groups, dilation
    ).numpy()


conv_transpose1d_backward = bind(
    "conv_transpose1d_backward", conv_transpose_backward, planted_gw=Planted(stride_delta={0: 1})
)
