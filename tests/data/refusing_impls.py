"""Plug-ins that refuse some probes, for the diagnose tests (torch on float64 underneath).

- `conv2d` and `conv_transpose2d` raise ValueError on groups other than 1 and TypeError on complex
  data (this module as a whole): diagnosed on everything else, the groups probes retried with one
  group, the complex probes unsupported;
- `broken_conv_transpose2d` raises RuntimeError on every call (two lines of message): every probe
  an error, the verdict `error`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _tensors(*arrays):
    for a in arrays:
        if a is not None and np.iscomplexobj(a):
            raise TypeError("complex inputs are not supported")
    return [None if a is None else torch.from_numpy(np.asarray(a, np.float64)) for a in arrays]


def _dtype(input):
    return np.asarray(input).dtype


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise ValueError(f"grouped convolution (groups={groups}) is not implemented")
    x, w, b = _tensors(input, weight, bias)
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    return out.numpy().astype(_dtype(input))


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    if groups != 1:
        raise ValueError(f"grouped convolution (groups={groups}) is not implemented")
    x, w, b = _tensors(input, weight, bias)
    out = F.conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation)
    return out.numpy().astype(_dtype(input))


def broken_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    raise RuntimeError("the device kernel failed to launch\n(error code 719)")
