"""conv1d/conv2d/conv3d plug-ins in plain NumPy, each with one planted bug, for the tests of
diagnose's human output and counterexample.

Each bug is a plug-in module registered in sys.modules as a submodule of this one (so
`diagnose tests.data.planted_bugs.flip_w` finds it once this file is imported, and
`diagnose tests/data/planted_bugs.py:flip_w_conv2d` finds one function); PLANTED maps each module
name to the cause its bug is. The convolution is a tap loop: for every kernel tap, the strided
window of the zero-padded input it reads, contracted over the group's input channels; float64
inside, cast back to the input's dtype.

- flip_w: the kernel flipped along W only (the last axis; at rank 1 the only axis);
- flip_h: flipped along H only (ranks 2 and 3);
- first_channel: each output reads only the first input channel of its group (depth_sum);
- no_bias: the bias is never added;
- stride_phase: outputs sampled at i*s + 1 instead of i*s along the last axis where its stride
  is above 1 (zeros read past the end);
- no_dilation: the taps are read next to each other whatever the dilation (and 'same' pads
  for the undilated kernel).
"""

from __future__ import annotations

import sys
import types
from itertools import product

import numpy as np


def _per_axis(value, rank: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    return tuple(int(v) for v in value)


def _pads(padding, kernel, dilation, rank) -> list[tuple[int, int]]:
    """(before, after) per spatial axis for an int, one value per axis, 'same' or 'valid'."""
    if padding == "valid":
        return [(0, 0)] * rank
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return [(t // 2, t - t // 2) for t in total]
    return [(p, p) for p in _per_axis(padding, rank)]


def convolve(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    flip_axes=(),
    first_channel=False,
    drop_bias=False,
    phase=0,
    ignore_dilation=False,
):
    """torch's convNd (cross-correlation) on NumPy arrays, with the planted bug the keywords say.
    flip_axes counts spatial axes from the last one (-1 is W)."""
    x = np.asarray(input)
    dtype = x.dtype
    x = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
    w = np.asarray(weight).astype(x.dtype if not np.iscomplexobj(weight) else np.complex128)
    rank = x.ndim - 2
    kernel = w.shape[2:]
    strides = _per_axis(stride, rank)
    dilations = (1,) * rank if ignore_dilation else _per_axis(dilation, rank)
    pads = _pads(padding, kernel, dilations, rank)
    for axis in flip_axes:
        w = np.flip(w, axis)
    if first_channel:
        kept = np.zeros_like(w)
        kept[:, 0] = w[:, 0]
        w = kept
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    n = x.shape[0]
    c_out, per_group = w.shape[:2]
    outs_per_group = c_out // groups
    dense = [
        x.shape[2 + a] - dilations[a] * (kernel[a] - 1) for a in range(rank)
    ]  # stride-1 output length
    size = [max(0, (dense[a] - 1) // strides[a] + 1) for a in range(rank)]
    if phase and strides[-1] > 1:  # every window starts `phase` late (zeros read past the end)
        x = np.pad(x, [*[(0, 0)] * (rank + 1), (0, phase)])[..., phase:]
    out = np.zeros((n, c_out, *size), dtype=np.result_type(x, w))
    for g in range(groups):
        xs = x[:, g * per_group : (g + 1) * per_group]
        ws = w[g * outs_per_group : (g + 1) * outs_per_group]
        for tap in product(*(range(k) for k in kernel)):
            window = tuple(
                slice(
                    tap[a] * dilations[a],
                    tap[a] * dilations[a] + (size[a] - 1) * strides[a] + 1,
                    strides[a],
                )
                for a in range(rank)
            )
            taps = ws[(slice(None), slice(None), *tap)]  # (outs, per_group)
            out[:, g * outs_per_group : (g + 1) * outs_per_group] += np.einsum(
                "nc...,oc->no...", xs[(slice(None), slice(None), *window)], taps
            )
    if bias is not None and not drop_bias:
        out += np.asarray(bias).reshape(1, -1, *([1] * rank))
    return out.astype(dtype)


PLANTED = {
    "flip_w": "kernel_flip",
    "flip_h": "kernel_flip",
    "first_channel": "depth_sum",
    "no_bias": "bias",
    "stride_phase": "stride",
    "no_dilation": "dilation",
}

_BUGS = {
    "flip_w": dict(flip_axes=(-1,)),
    "flip_h": dict(flip_axes=(-2,)),
    "first_channel": dict(first_channel=True),
    "no_bias": dict(drop_bias=True),
    "stride_phase": dict(phase=1),
    "no_dilation": dict(ignore_dilation=True),
}
RANKS = {name: (2, 3) if name == "flip_h" else (1, 2, 3) for name in _BUGS}


def _operation(bug: dict, rank: int):
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if np.asarray(input).ndim != rank + 2:
            raise ValueError(f"conv{rank}d takes a {rank + 2}-D input")
        return convolve(input, weight, bias, stride, padding, dilation, groups, **bug)

    conv.__name__ = f"conv{rank}d"
    return conv


def _module(name: str) -> types.ModuleType:
    operations = {f"conv{rank}d": _operation(_BUGS[name], rank) for rank in RANKS[name]}
    module = types.ModuleType(f"{__name__}.{name}", f"planted bug: {name}")
    module.__dict__.update(operations)
    sys.modules[module.__name__] = module
    for op, function in operations.items():  # the module:function form, by its own name
        globals()[f"{name}_{op}"] = function
    return module


correct = types.ModuleType(f"{__name__}.correct", "no planted bug")
correct.__dict__.update({f"conv{r}d": _operation({}, r) for r in (1, 2, 3)})
sys.modules[correct.__name__] = correct
flip_w = _module("flip_w")
flip_h = _module("flip_h")
first_channel = _module("first_channel")
no_bias = _module("no_bias")
stride_phase = _module("stride_phase")
no_dilation = _module("no_dilation")
