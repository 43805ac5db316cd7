"""conv1d/2d/3d that read the kernel undilated when padding is 'same' (so 'same' pads for the
undilated kernel: (1, 1) for 3 taps where torch, counting the dilated kernel, pads (2, 2)), and
are torch's (float64, rounded once) everywhere else. Written for the test that diagnose's words
on the 'same' dilated probe state the pads it measured."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FORWARD = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = torch.from_numpy(np.asarray(input, np.float64))
    w = torch.from_numpy(np.asarray(weight, np.float64))
    b = None if bias is None else torch.from_numpy(np.asarray(bias, np.float64))
    if padding == "same":
        dilation = 1  # the bug: the dilation dropped with 'same'
    out = FORWARD[x.ndim - 2](x, w, b, stride, padding, dilation, groups)
    return out.numpy().astype(np.asarray(input).dtype)


conv1d = conv2d = conv3d = _conv
