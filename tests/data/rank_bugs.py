"""conv1d/conv2d/conv3d plug-ins for the tests of `diagnose` and `explain` at every rank.

Three plug-in modules, importable by name once this file is (each is registered in sys.modules
as a submodule of this one, so `diagnose tests.data.rank_bugs.flipped_d` finds it):

- `tests.data.rank_bugs.flipped_d`: a correct conv1d and a conv3d that flips the kernel along D
  only (a port that reversed one loop);
- `tests.data.rank_bugs.stride_phase`: a conv1d that samples outputs at i*s + 1 instead of i*s,
  and a correct conv3d;
- `tests.data.rank_bugs.correct`: correct conv1d, conv2d and conv3d.

The same functions are here under names that say their operation (`flipped_d_conv3d`,
`stride_phase_conv1d`), for the `module:function` form. Each has torch.nn.functional.convNd's
signature on NumPy arrays and computes with F.conv1d/2d/3d in float64, cast back to the input's
dtype; plug-ins get padding as an int, one value per axis, 'same' or 'valid' (the harness pads
first for other padding modes and (before, after) pairs).
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import torch
import torch.nn.functional as F

CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv(rank, input, weight, bias, stride, padding, dilation, groups):
    """torch's convNd on NumPy arrays, in float64, cast back to the input's dtype."""
    x, w = (torch.from_numpy(np.ascontiguousarray(a, np.float64)) for a in (input, weight))
    b = None if bias is None else torch.from_numpy(np.ascontiguousarray(bias, np.float64))
    with warnings.catch_warnings():  # 'same' with an even kernel: torch pads a copy, and says so
        warnings.simplefilter("ignore", UserWarning)
        out = CONVOLUTIONS[rank](
            x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups
        )
    return out.numpy().astype(np.asarray(input).dtype)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def flipped_d_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads every kernel with its depth taps reversed: flipped along D, not along H or W."""
    return conv3d(input, np.flip(weight, 2), bias, stride, padding, dilation, groups)


def stride_phase_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Samples the stride-1 output at i*s + 1 instead of i*s (an off-by-one start)."""
    step = stride if isinstance(stride, int) else stride[0]
    dense = conv1d(input, weight, bias, 1, padding, dilation, groups)
    return dense if step == 1 else np.ascontiguousarray(dense[..., 1::step])


def _module(name: str, **operations) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}", f"rank_bugs plug-in: {sorted(operations)}")
    module.__dict__.update(operations)
    sys.modules[module.__name__] = module
    return module


flipped_d = _module("flipped_d", conv1d=conv1d, conv3d=flipped_d_conv3d)
stride_phase = _module("stride_phase", conv1d=stride_phase_conv1d, conv3d=conv3d)
correct = _module("correct", conv1d=conv1d, conv2d=conv2d, conv3d=conv3d)
