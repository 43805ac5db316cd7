"""conv1d_backward in plain loops: grad_input sends output channel o to group o % groups (the
depthwise-style mapping) instead of o // (C_out / groups). Expected cause: groups."""

import numpy as np

from ._u import conv_grads, conv_padding, per_axis


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    _, gw, gb = conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups)
    (s,), (d,) = per_axis(stride, 1), per_axis(dilation, 1)
    ((pb, _),) = conv_padding(padding, weight.shape, dilation, 1)
    N, _C, L = input.shape
    cout, cin_g, K = weight.shape
    gi = np.zeros_like(input)
    for b in range(N):
        for o in range(cout):
            g = o % groups
            for i in range(grad_output.shape[2]):
                for c in range(cin_g):
                    for k in range(K):
                        pos = i * s + k * d - pb
                        if 0 <= pos < L:
                            gi[b, g * cin_g + c, pos] += grad_output[b, o, i] * np.conj(
                                weight[o, c, k]
                            )
    return gi, gw, gb
