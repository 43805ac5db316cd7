"""conv2d implementations with one planted bug each, written for the tests of the bug families.

None of these bugs is among examples/ (those are flipped 180 degrees, first channel, mean,
'same' top/left, stride phase 1, dilation ignored, groups interleaved over outputs, no bias,
float16 accumulation): each family is tested on other parameters of it. Every function has
F.conv2d's signature on NumPy arrays and is correct but for its bug; `boundary_*` ones handle
padding modes themselves (`handles_padding_mode = True`), as the bug lives there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch's conv2d on NumPy arrays, in float64, cast back to the input's dtype."""
    x, w = (
        torch.from_numpy(np.asarray(input, np.float64)),
        torch.from_numpy(np.asarray(weight, np.float64)),
    )
    b = None if bias is None else torch.from_numpy(np.asarray(bias, np.float64))
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out.numpy().astype(np.asarray(input).dtype)


# kernel orientation ------------------------------------------------------------------------
def flipped_along_w(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Mirrors each kernel left-right (a scipy port that flipped one axis)."""
    return _conv(input, np.flip(weight, 3), bias, stride, padding, dilation, groups)


def flipped_along_h(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Mirrors each kernel upside down."""
    return _conv(input, np.flip(weight, 2), bias, stride, padding, dilation, groups)


def transposed_kernel(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads an HWIO-style kernel with H and W swapped (only square kernels keep the shape)."""
    return _conv(input, np.swapaxes(weight, 2, 3), bias, stride, padding, dilation, groups)


# depth summation ---------------------------------------------------------------------------
def second_channel_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Keeps only input channel 1 of every group."""
    kept = np.zeros_like(weight)
    kept[:, 1] = weight[:, 1]
    return _conv(input, kept, bias, stride, padding, dilation, groups)


def last_channel_dropped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """An off-by-one channel loop: range(C - 1)."""
    kept = weight.copy()
    kept[:, -1] = 0
    return _conv(input, kept, bias, stride, padding, dilation, groups)


# groups ------------------------------------------------------------------------------------
def groups_read_strided_inputs(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Group g reads input channels g, g + groups, ... instead of a contiguous block."""
    c_in = input.shape[1]
    cg = c_in // groups
    order = [c * groups + g for g in range(groups) for c in range(cg)]
    return _conv(input[:, order], weight, bias, stride, padding, dilation, groups)


def groups_reversed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Output group g reads input group groups - 1 - g."""
    c_in = input.shape[1]
    cg = c_in // groups
    order = [c for g in reversed(range(groups)) for c in range(g * cg, (g + 1) * cg)]
    return _conv(input[:, order], weight, bias, stride, padding, dilation, groups)


# padding -----------------------------------------------------------------------------------
def same_from_undilated_kernel(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """'same' padding computed as (k - 1) / 2, forgetting the dilation."""
    if padding == "same":
        kh, kw = weight.shape[2:]
        x = np.pad(input, ((0, 0), (0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
        return _conv(x, weight, bias, stride, 0, dilation, groups)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def padding_all_after(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Puts all of an explicit padding after the input (bottom/right)."""
    if isinstance(padding, str):
        return _conv(input, weight, bias, stride, padding, dilation, groups)
    ph, pw = _pair(padding)
    x = np.pad(input, ((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)))
    return _conv(x, weight, bias, stride, 0, dilation, groups)


def padding_one_more(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Pads one pixel more on every side than asked."""
    if isinstance(padding, str):
        return _conv(input, weight, bias, stride, padding, dilation, groups)
    ph, pw = _pair(padding)
    return _conv(input, weight, bias, stride, (ph + 1, pw + 1), dilation, groups)


# stride ------------------------------------------------------------------------------------
def stride_axes_swapped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads stride as (sW, sH)."""
    sh, sw = _pair(stride)
    return _conv(input, weight, bias, (sw, sh), padding, dilation, groups)


def stride_one_more(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Steps one pixel further than asked on strided axes."""
    s = tuple(v + 1 if v > 1 else v for v in _pair(stride))
    return _conv(input, weight, bias, s, padding, dilation, groups)


# dilation ----------------------------------------------------------------------------------
def dilation_as_zeros_between_taps(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """An adapter that passes torch's dilation to a library counting zeros between taps."""
    d = tuple(v + 1 if v > 1 else v for v in _pair(dilation))
    return _conv(input, weight, bias, stride, padding, d, groups)


def dilation_height_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Applies the dilation to H only."""
    return _conv(input, weight, bias, stride, padding, (_pair(dilation)[0], 1), groups)


# bias --------------------------------------------------------------------------------------
def bias_halved(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Adds half the bias (a bias shared between two terms)."""
    return _conv(
        input, weight, None if bias is None else bias * 0.5, stride, padding, dilation, groups
    )


def bias_reversed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Adds the bias in reverse channel order."""
    return _conv(
        input,
        weight,
        None if bias is None else bias[::-1].copy(),
        stride,
        padding,
        dilation,
        groups,
    )


# boundary ----------------------------------------------------------------------------------
def _with_modes(wrong: dict):
    def conv2d(
        input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
    ):
        if isinstance(padding, str):
            return _conv(input, weight, bias, stride, padding, dilation, groups)
        pads = (padding,) * 4 if isinstance(padding, int) else tuple(padding)
        if len(pads) == 2:
            pads = (pads[0], pads[0], pads[1], pads[1])
        top, bottom, left, right = pads
        mode = wrong.get(padding_mode, padding_mode)
        x = torch.from_numpy(np.asarray(input, np.float64))
        x = F.pad(x, (left, right, top, bottom), mode=MODES[mode])
        return _conv(x.numpy().astype(input.dtype), weight, bias, stride, 0, dilation, groups)

    conv2d.handles_padding_mode = True
    return conv2d


boundary_reflect_as_replicate = _with_modes({"reflect": "replicate"})
boundary_circular_as_reflect = _with_modes({"circular": "reflect"})


# two at once -------------------------------------------------------------------------------
def flipped_along_w_and_bias_twice(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """Mirrors each kernel left-right and adds the bias twice."""
    return _conv(
        input,
        np.flip(weight, 3),
        None if bias is None else 2 * bias,
        stride,
        padding,
        dilation,
        groups,
    )


def equal_axes_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A library that takes one stride and one dilation for both axes, and reads the dilation
    as zeros between taps (off by one): restricted, and wrong on dilation."""
    s, d = _pair(stride), _pair(dilation)
    if s[0] != s[1] or d[0] != d[1]:
        raise NotImplementedError("stride and dilation must be equal on both axes")
    return _conv(input, weight, bias, s, padding, (d[0] + 1, d[1] + 1) if d[0] > 1 else d, groups)
