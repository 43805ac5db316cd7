"""conv3d_backward: grad_input computed over the padded input, then cropped on W from index 0
(the padding taken off the wrong side of W) instead of from pad_before. Expected cause: padding."""

import torch

from ._u import cbil, conv_grads, conv_padding, n, t


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    _, gw, gb = conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups)
    pads = conv_padding(padding, weight.shape, dilation, 3)
    N, C, D, H, W = input.shape
    shape = (N, C, *tuple(D_ + a + b for D_, (a, b) in zip((D, H, W), pads, strict=False)))
    gp = cbil(
        lambda a, b: torch.nn.grad.conv3d_input(shape, a, b, stride, 0, dilation, groups),
        t(weight).conj(),
        t(grad_output),
    )
    (d0, _), (h0, _), _ = pads
    return n(gp)[:, :, d0 : d0 + D, h0 : h0 + H, 0:W].copy(), gw, gb
