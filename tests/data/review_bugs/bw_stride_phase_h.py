"""conv2d_backward whose grad_input zero-upsamples grad_output by hand and then runs a stride-1
conv_transpose2d; on H the samples are placed one position late (`up[..., 1::sH, :]`, the last
row dropped), W is right. grad_weight and grad_bias come from autograd. Expected cause: stride."""

import numpy as np
import torch.nn.functional as F

from ._util import per_axis, t, torch_conv_grads


def conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    _, gw, gb = torch_conv_grads(
        grad_output, input, weight, bias, stride, padding, dilation, groups
    )
    if isinstance(padding, str):
        raise NotImplementedError("string padding")
    s, p, d = per_axis(stride, 2), per_axis(padding, 2), per_axis(dilation, 2)
    n, _, ho, wo = grad_output.shape
    uh, uw = (ho - 1) * s[0] + 1, (wo - 1) * s[1] + 1
    up = np.zeros((n, grad_output.shape[1], uh, uw), grad_output.dtype)
    phase = 1 if s[0] > 1 else 0  # BUG: should be 0
    rows = up[:, :, phase :: s[0], :: s[1]]
    rows[...] = grad_output[:, :, : rows.shape[2]]
    gi = F.conv_transpose2d(t(up), t(np.conj(weight)), None, 1, p, 0, groups, d).numpy()
    h, w = input.shape[2:]
    out = np.zeros(input.shape, gi.dtype)
    out[:, :, : min(h, gi.shape[2]), : min(w, gi.shape[3])] = gi[:, :, :h, :w]
    return out, gw, gb
