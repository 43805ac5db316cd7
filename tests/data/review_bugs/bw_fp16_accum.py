"""conv1d_backward as loops whose accumulators have the input's dtype: for float16 every partial
sum is rounded to float16 (torch accumulates in float32). Expected cause: precision."""

import numpy as np

from ._util import conv_padding, per_axis


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    (s,), (d,) = per_axis(stride, 1), per_axis(dilation, 1)
    ((pb, pa),) = conv_padding(padding, weight.shape, dilation, 1)
    xp = np.pad(input, [(0, 0), (0, 0), (pb, pa)])
    c_out, per_in, k = weight.shape
    per_out = c_out // groups
    n, _, lo = grad_output.shape
    dt = input.dtype  # BUG: accumulate in the data's own dtype
    gxp = np.zeros(xp.shape, dt)
    gw = np.zeros(weight.shape, dt)
    for o in range(c_out):
        g = o // per_out
        for cl in range(per_in):
            c = g * per_in + cl
            for j in range(k):
                acc = dt.type(0)
                for b in range(n):
                    for i in range(lo):
                        r = i * s + j * d
                        acc = dt.type(acc + grad_output[b, o, i] * np.conj(xp[b, c, r]))
                        gxp[b, c, r] = dt.type(
                            gxp[b, c, r] + grad_output[b, o, i] * np.conj(weight[o, cl, j])
                        )
                gw[o, cl, j] = acc
    gi = gxp[:, :, pb : pb + input.shape[2]]
    gb = None
    if bias is not None:
        gb = np.zeros(c_out, dt)
        for o in range(c_out):
            acc = dt.type(0)
            for v in grad_output[:, o].ravel():
                acc = dt.type(acc + v)
            gb[o] = acc
    return gi, gw, gb
