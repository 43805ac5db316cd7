"""conv3d_backward: grad_weight by np.einsum over sliding windows, the window taps read with
dilation 1 on D (H and W dilated). Expected cause: dilation."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._u import conv_grads, pad_input, per_axis


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    gi, _, gb = conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups)
    s, d = per_axis(stride, 3), per_axis(dilation, 3)
    d_bug = (1, d[1], d[2])
    xp, _ = pad_input(input, padding, weight.shape, dilation, 3)
    k = weight.shape[2:]
    span = [d_bug[a] * (k[a] - 1) + 1 for a in range(3)]
    win = sliding_window_view(xp, span, axis=(2, 3, 4))
    win = win[:, :, :: s[0], :: s[1], :: s[2], :: d_bug[0], :: d_bug[1], :: d_bug[2]]
    go = grad_output
    od, oh, ow = go.shape[2:]
    win = win[:, :, :od, :oh, :ow]
    cout, cin_g = weight.shape[:2]
    og = cout // groups
    gw = np.zeros_like(weight)
    for g in range(groups):
        gw[g * og : (g + 1) * og] = np.einsum(
            "nodhw,ncdhwxyz->ocxyz",
            go[:, g * og : (g + 1) * og],
            np.conj(win[:, g * cin_g : (g + 1) * cin_g]),
        )
    return gi, gw, gb
