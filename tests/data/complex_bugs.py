"""Complex-capable plug-ins for the complex tests: conv1d/conv2d/conv3d with F.convNd's signature
on NumPy arrays, computed with torch in complex128 (float64 for real inputs) and cast back to the
input's dtype.

- `conjugated_conv1d/2d/3d`: the kernel conjugated first (a Hermitian dot product per window,
  what scipy.signal.correlate computes): the bug the `conjugation` cause names;
- `complex64_inside_conv2d`: a complex128 conv computed in complex64 (cause `precision`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv(input, weight, bias, stride, padding, dilation, groups, conjugate, work=None):
    x = np.asarray(input)
    w = np.asarray(weight)
    if work is None:  # complex128 for complex inputs, float64 for real ones
        work = np.complex128 if np.iscomplexobj(x) else np.float64
    if conjugate:
        w = np.conj(w)
    tensors = [torch.from_numpy(np.ascontiguousarray(a, work)) for a in (x, w)]
    b = None if bias is None else torch.from_numpy(np.ascontiguousarray(bias, work))
    with warnings.catch_warnings():  # 'same' with an even kernel: torch pads a copy, and says so
        warnings.simplefilter("ignore", UserWarning)
        out = CONVOLUTIONS[x.ndim - 2](
            *tensors, b, stride=stride, padding=padding, dilation=dilation, groups=groups
        )
    return out.numpy().astype(x.dtype)


def conjugated_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, True)


def conjugated_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, True)


def conjugated_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, True)


def complex64_inside_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, False, np.complex64)


# module-level names a `diagnose tests.data.complex_bugs` would probe: every rank conjugating
conv1d, conv2d, conv3d = conjugated_conv1d, conjugated_conv2d, conjugated_conv3d


def vdot_patch_first_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Each window as np.vdot(patch, kernel): the patch (the input) conjugated, not the kernel."""
    x = np.asarray(input)
    return _conv(np.conj(x), weight, bias, stride, padding, dilation, groups, False).astype(x.dtype)


def conjugated_output_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The conjugate of torch's products (plus the bias as given)."""
    x = np.asarray(input)
    out = _conv(
        np.conj(x), np.conj(np.asarray(weight)), bias, stride, padding, dilation, groups, False
    )
    return out.astype(x.dtype)
