"""conv3d_backward with scipy.signal, written from the formula but with `correlate` where grad_input
needs `convolve` (the 180-degree rotation forgotten at rank 3). grad_weight and grad_bias are right.
Expected cause: kernel_flip."""

import numpy as np
from scipy import signal

from ._util import conv_padding, per_axis


def conv3d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    s, d = per_axis(stride, 3), per_axis(dilation, 3)
    pads = conv_padding(padding, weight.shape, dilation, 3)
    n = input.shape[0]
    c_out, per_in = weight.shape[:2]
    per_out = c_out // groups
    ks = weight.shape[2:]
    go = grad_output
    up = np.zeros((n, c_out, *[(go.shape[2 + a] - 1) * s[a] + 1 for a in range(3)]), go.dtype)
    up[:, :, :: s[0], :: s[1], :: s[2]] = go
    wd = np.zeros((c_out, per_in, *[(ks[a] - 1) * d[a] + 1 for a in range(3)]), weight.dtype)
    wd[:, :, :: d[0], :: d[1], :: d[2]] = weight
    xp = np.pad(input, [(0, 0), (0, 0), *pads])
    work = np.result_type(input, weight, np.float64)
    grad_xp = np.zeros(xp.shape, work)
    grad_weight = np.zeros(weight.shape, work)
    for b in range(n):
        for o in range(c_out):
            g = o // per_out
            for cl in range(per_in):
                c = g * per_in + cl
                # BUG: correlate (no flip); the transposed convolution needs convolve
                full = signal.correlate(up[b, o], wd[o, cl], "full")
                sl = tuple(slice(0, min(full.shape[a], xp.shape[2 + a])) for a in range(3))
                grad_xp[(b, c, *sl)] += full[sl]
                gw = signal.correlate(xp[b, c], up[b, o], "valid")
                grad_weight[o, cl] += np.conj(
                    gw[:: d[0], :: d[1], :: d[2]][: ks[0], : ks[1], : ks[2]]
                )
    grad_input = grad_xp[
        :,
        :,
        pads[0][0] : pads[0][0] + input.shape[2],
        pads[1][0] : pads[1][0] + input.shape[3],
        pads[2][0] : pads[2][0] + input.shape[4],
    ]
    grad_bias = None if bias is None else grad_output.sum(axis=(0, 2, 3, 4))
    dt = input.dtype
    return (
        grad_input.astype(dt),
        grad_weight.astype(dt),
        None if grad_bias is None else grad_bias.astype(dt),
    )
