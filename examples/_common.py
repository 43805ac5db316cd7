"""Private argument-normalisation helpers shared by the example conv2d implementations.

Nothing here computes a convolution: it only checks shapes, turns ints into
pairs, works out how many zeros go on each side, and applies that zero padding.
"""

import numpy as np


def pair(value, name):
    """Return ``value`` as a pair of positive ints (an int ``v`` becomes ``(v, v)``)."""
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return value


def check_shapes(x, w, b, groups):
    """Validate the shapes of input ``x``, weight ``w`` and bias ``b`` against ``groups``."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"expected 4-D input and weight, got {x.ndim}-D and {w.ndim}-D")
    if groups < 1 or x.shape[1] % groups or w.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide C_in={x.shape[1]} and C_out={w.shape[0]}")
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"weight has {w.shape[1]} input channels per group, expected {x.shape[1] // groups}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias must have shape ({w.shape[0]},), got {b.shape}")


def padding_amounts(padding, kernel_size, dilation, stride):
    """Return ``(top, bottom, left, right)`` zero-padding amounts, torch-style.

    ``'same'`` pads ``dilation * (k - 1)`` per axis in total, the smaller half
    top/left and the extra pixel (if any) bottom/right; ``'valid'`` pads nothing.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"padding string must be 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        (tH, tW) = (d * (k - 1) for d, k in zip(dilation, kernel_size, strict=True))
        return tH // 2, tH - tH // 2, tW // 2, tW - tW // 2
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    pH, pW = (int(p) for p in padding)
    if pH < 0 or pW < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pH, pH, pW, pW


def zero_pad(x, top, bottom, left, right):
    """Return a new array: ``x`` with zeros added around its last two axes."""
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def output_size(size, kernel, stride, dilation):
    """Output length along one axis of an already padded input; raises if non-positive."""
    n = (size - dilation * (kernel - 1) - 1) // stride + 1
    if n < 1:
        raise ValueError("padded input is smaller than the dilated kernel")
    return n
