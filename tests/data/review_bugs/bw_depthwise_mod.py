"""conv2d_backward as explicit loops written for depthwise layers with a channel multiplier: output
channel o is taken to read group o % groups (for depthwise, input channel o % C_in) where torch
reads o // (C_out/groups). Both grad_input and grad_weight follow the wrong map. Expected cause:
groups."""

import itertools

import numpy as np

from ._util import conv_padding, per_axis


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    s, d = per_axis(stride, 2), per_axis(dilation, 2)
    pads = conv_padding(padding, weight.shape, dilation, 2)
    xp = np.pad(input, [(0, 0), (0, 0), *pads])
    c_out, per_in, kh, kw = weight.shape
    _, _, ho, wo = grad_output.shape
    work = np.result_type(input, weight, np.float64)
    gxp = np.zeros(xp.shape, work)
    gw = np.zeros(weight.shape, work)
    for o in range(c_out):
        g = o % groups  # BUG: torch's group is o // (c_out // groups)
        for cl, a, b in itertools.product(range(per_in), range(kh), range(kw)):
            c = g * per_in + cl
            for i, j in itertools.product(range(ho), range(wo)):
                r, q = i * s[0] + a * d[0], j * s[1] + b * d[1]
                go = grad_output[:, o, i, j]
                gxp[:, c, r, q] += go * np.conj(weight[o, cl, a, b])
                gw[o, cl, a, b] += np.sum(go * np.conj(xp[:, c, r, q]))
    h, w = input.shape[2:]
    gi = gxp[:, :, pads[0][0] : pads[0][0] + h, pads[1][0] : pads[1][0] + w]
    gb = None if bias is None else grad_output.sum(axis=(0, 2, 3))
    dt = input.dtype
    return gi.astype(dt), gw.astype(dt), None if gb is None else gb.astype(dt)
