"""Correct rank-3 plug-in built from adjoints only: conv3d_backward by torch.nn.grad.conv3d_input
/ conv3d_weight; conv_transpose3d as conv3d's input gradient (nn.grad.conv3d_input with the input
as grad_output); its backward by conv3d (grad_input) and nn.grad.conv3d_weight with the roles of
input and grad_output exchanged. Expected: matches torch."""

import torch
import torch.nn.functional as F

from ._u import cbil, n, per_axis, t


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return n(
        F.conv3d(
            t(input),
            t(weight),
            None if bias is None else t(bias),
            stride,
            padding,
            dilation,
            groups,
        )
    )


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    go = t(grad_output)
    gi = cbil(
        lambda a, b: torch.nn.grad.conv3d_input(
            input.shape, a, b, stride, padding, dilation, groups
        ),
        t(weight).conj(),
        go,
    )
    gw = cbil(
        lambda a, b: torch.nn.grad.conv3d_weight(
            a, weight.shape, b, stride, padding, dilation, groups
        ),
        t(input).conj(),
        go,
    )
    gb = None if bias is None else grad_output.sum(axis=(0, 2, 3, 4))
    return n(gi), n(gw), gb


def _out_shape(input, weight, stride, padding, output_padding, groups, dilation):
    s, p, op, d = (per_axis(v, 3) for v in (stride, padding, output_padding, dilation))
    sp = [
        (input.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (weight.shape[2 + a] - 1) + op[a] + 1
        for a in range(3)
    ]
    return (input.shape[0], weight.shape[1] * groups, *sp)


def conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    shape = _out_shape(input, weight, stride, padding, output_padding, groups, dilation)
    y = cbil(
        lambda a, b: torch.nn.grad.conv3d_input(shape, a, b, stride, padding, dilation, groups),
        t(weight),
        t(input),
    )
    if bias is not None:
        y = y + t(bias).reshape(1, -1, 1, 1, 1)
    return n(y)


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
    go = t(grad_output)
    gi = F.conv3d(go, t(weight).conj(), None, stride, padding, dilation, groups)
    gw = cbil(
        lambda a, b: torch.nn.grad.conv3d_weight(
            a, weight.shape, b, stride, padding, dilation, groups
        ),
        go,
        t(input).conj(),
    )
    gb = None if bias is None else grad_output.sum(axis=(0, 2, 3, 4))
    return n(gi), n(gw), gb
