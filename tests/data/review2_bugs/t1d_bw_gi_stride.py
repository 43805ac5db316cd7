"""conv_transpose1d_backward: grad_input is conv1d(grad_output, weight) but with stride 1 (the
first L_in outputs kept). Expected cause: stride."""

import torch.nn.functional as F

from ._u import convt_grads, n, t


def conv_transpose1d_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    _, gw, gb = convt_grads(
        grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    gi = F.conv1d(t(grad_output), t(weight).conj(), None, 1, padding, dilation, groups)
    return n(gi)[:, :, : input.shape[2]].copy(), gw, gb
