"""conv_transpose3d_backward: grad_input is conv3d(grad_output, conj(weight)) but with dilation 1
on W (D and H dilated), cropped to the input's shape. Expected cause: dilation."""

import torch.nn.functional as F

from ._u import convt_grads, n, per_axis, t


def conv_transpose3d_backward(
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
    d = per_axis(dilation, 3)
    gi = F.conv3d(t(grad_output), t(weight).conj(), None, stride, padding, (d[0], d[1], 1), groups)
    D, H, W = input.shape[2:]
    return n(gi)[:, :, :D, :H, :W].copy(), gw, gb
