"""A torch implementation with one planted layout bug, written for the tests.

`conv2d` (and `conv1d`, `conv3d`) takes torch tensors (`accepts_tensors = True`) and reads each
tensor's memory as if it were contiguous in (N, C, *spatial) order, ignoring its strides: right
for contiguous tensors, wrong for channels_last, a channel slice or a strided view.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_contiguous_memory(tensor):
    """The tensor's storage from its offset read with contiguous strides (the bug)."""
    if tensor is None:
        return None
    strides, step = [], 1
    for size in reversed(tensor.shape):
        strides.insert(0, step)
        step *= size
    return torch.as_strided(tensor, tensor.shape, tuple(strides), tensor.storage_offset())


def _conv(rank):
    convolution = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]

    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        x, w, b = (_as_contiguous_memory(t) for t in (input, weight, bias))
        return convolution(x, w, b, stride, padding, dilation, groups)

    conv.accepts_tensors = True  # type: ignore[attr-defined]
    conv.__name__ = f"conv{rank}d"
    return conv


conv1d = _conv(1)
conv2d = _conv(2)
conv3d = _conv(3)
