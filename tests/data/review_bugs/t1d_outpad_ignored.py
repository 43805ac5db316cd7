"""conv_transpose1d as explicit scatter loops that never look at output_padding: the output is
output_padding samples short. Expected cause: padding."""

import numpy as np


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    s = stride if np.isscalar(stride) else stride[0]
    p = padding if np.isscalar(padding) else padding[0]
    d = dilation if np.isscalar(dilation) else dilation[0]
    n, c_in, length = input.shape
    _, per_out, k = weight.shape
    c_out = per_out * groups
    out_len = (length - 1) * s - 2 * p + d * (k - 1) + 1  # BUG: + output_padding forgotten
    out = np.zeros((n, c_out, out_len), dtype=np.result_type(input, weight))
    per_in = c_in // groups
    for c in range(c_in):
        g = c // per_in
        for ol in range(per_out):
            o = g * per_out + ol
            for i in range(length):
                for j in range(k):
                    at = i * s + j * d - p
                    if 0 <= at < out_len:
                        out[:, o, at] += input[:, c, i] * weight[c, ol, j]
    if bias is not None:
        out += bias[None, :, None]
    return out.astype(input.dtype)
