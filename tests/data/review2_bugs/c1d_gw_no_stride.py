"""conv1d_backward in numpy: grad_weight correlates grad_output with windows taken at every
position (stride ignored) of the padded input. Expected cause: stride."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._u import conv_grads, pad_input, per_axis


def conv1d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    gi, _, gb = conv_grads(grad_output, input, weight, bias, stride, padding, dilation, groups)
    (d,) = per_axis(dilation, 1)
    xp, _ = pad_input(input, padding, weight.shape, dilation, 1)
    K = weight.shape[2]
    win = sliding_window_view(xp, d * (K - 1) + 1, axis=2)[..., ::d]  # (N, C, L', K)
    win = win[:, :, : grad_output.shape[2]]
    cout, cin_g = weight.shape[:2]
    og = cout // groups
    gw = np.zeros_like(weight)
    for g in range(groups):
        gw[g * og : (g + 1) * og] = np.einsum(
            "nol,nclk->ock",
            grad_output[:, g * og : (g + 1) * og],
            np.conj(win[:, g * cin_g : (g + 1) * cin_g]),
        )
    return gi, gw, gb
