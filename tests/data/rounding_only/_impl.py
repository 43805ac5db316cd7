"""Rounding-only implementations of every operation of every rank, written for the property test
of honest families: each computes torch's semantics exactly (geometry, groups, bias, conjugation)
and differs from torch only in how it rounds, in one of these styles:

- `f32_bias_after`: the convolution in float32, rounded to the dtype, then the bias added in the
  dtype (round(round(conv) + b)); gradients in float32, rounded once;
- `dtype_per_tap`: each kernel tap's contribution formed in float32 and rounded, the taps summed
  in the dtype one after the other (grad_weight: one image at a time, summed in the dtype);
- `reversed_order`: float32, the input channels summed last to first, one partial output at a
  time, then the bias, rounded once;
- `f64_round`: everything in float64 (complex128), rounded once (torch's own rounding, exactly).

Each style module (next to this file) exposes conv{r}d, conv{r}d_backward, conv_transpose{r}d and
conv_transpose{r}d_backward for r = 1, 2, 3 on NumPy arrays, returning the input's dtype.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FORWARD = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _tensor(a, dtype=None):
    if a is None:
        return None
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t if dtype is None else t.to(dtype)


def _tensors(*arrays):
    """The arrays as tensors of their case dtype: float32 arrays that all hold bfloat16 values
    (as the harness passes a bfloat16 case) become bfloat16 tensors."""
    tensors = [_tensor(a) for a in arrays]
    given = [t for t in tensors if t is not None]
    if all(t.dtype == torch.float32 for t in given) and all(
        torch.equal(t.to(torch.bfloat16).float(), t) for t in given
    ):
        tensors = [None if t is None else t.to(torch.bfloat16) for t in tensors]
    return tensors


def _wide(like) -> torch.dtype:
    """What a style computes in before rounding: float32 for the half dtypes, else float64 (or
    complex128)."""
    if like.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return torch.complex128 if like.is_complex() else torch.float64


def _channel_view(b, ndim: int):
    return b.reshape(1, -1, *(1,) * (ndim - 2))


def _numpy(t, like):
    """t rounded to like's dtype, as NumPy (bfloat16 values as float32)."""
    t = t.to(like.dtype)
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _forward(style, rank, input, weight, bias, stride, padding, dilation, groups):
    x, w, b = _tensors(input, weight, bias)
    conv = FORWARD[rank]
    geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    wide = torch.float64 if style == "f64_round" and not x.is_complex() else _wide(x)
    if x.is_complex() and style != "f64_round":
        wide = torch.complex128
    if style == "f64_round" or (style == "reversed_order" and x.is_complex()):
        out = conv(x.to(wide), w.to(wide), None if b is None else b.to(wide), **geometry)
        return _numpy(out, x)
    if style == "f32_bias_after":
        out = conv(x.to(wide), w.to(wide), None, **geometry).to(x.dtype)
        if b is not None:
            out = out + _channel_view(b, out.ndim)
        return _numpy(out, x)
    if style == "reversed_order":
        cg = w.shape[1]
        total = None
        for c in reversed(range(cg)):  # each group's input channel c alone, last first
            only = torch.zeros_like(w, dtype=wide)
            only[:, c] = w[:, c].to(wide)
            part = conv(x.to(wide), only, None, **geometry)
            total = part if total is None else total + part
        if b is not None:
            total = total + _channel_view(b.to(wide), total.ndim)
        return _numpy(total, x)
    # dtype_per_tap: every tap's contribution rounded, the taps summed in the dtype
    total = None
    for tap in np.ndindex(*w.shape[2:]):
        only = torch.zeros_like(w, dtype=wide)
        only[(slice(None), slice(None), *tap)] = w[(slice(None), slice(None), *tap)].to(wide)
        part = conv(x.to(wide), only, None, **geometry).to(x.dtype)
        total = part if total is None else total + part
    if b is not None:
        total = total + _channel_view(b, total.ndim)
    return _numpy(total, x)


def _transposed(
    style, rank, input, weight, bias, stride, padding, output_padding, groups, dilation
):
    x, w, b = _tensors(input, weight, bias)
    geometry = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }
    wide = torch.float64 if style == "f64_round" and not x.is_complex() else _wide(x)
    conv = TRANSPOSED[rank]
    if style in ("f32_bias_after", "dtype_per_tap"):  # the bias added to the rounded sum
        out = conv(x.to(wide), w.to(wide), None, **geometry).to(x.dtype)
        if b is not None:
            out = out + _channel_view(b, out.ndim)
        return _numpy(out, x)
    out = conv(x.to(wide), w.to(wide), None if b is None else b.to(wide), **geometry)
    return _numpy(out, x)


def _gradients(style, forward, grad_output, input, weight, bias, **geometry):
    x, w, g = _tensors(input, weight, grad_output)
    wide = torch.float64 if style == "f64_round" and not x.is_complex() else _wide(x)
    xv = x.to(wide).requires_grad_()
    wv = w.to(wide).requires_grad_()
    out = forward(xv, wv, None, **geometry)
    gw = g.to(wide)
    grad_input, grad_weight = torch.autograd.grad(out, (xv, wv), gw, allow_unused=True)
    if grad_input is None:
        grad_input = torch.zeros_like(xv)
    if grad_weight is None:
        grad_weight = torch.zeros_like(wv)
    spatial = tuple(range(2, g.ndim))
    if style == "dtype_per_tap" and x.shape[0] > 0:  # grad_weight one image at a time
        total = None
        for n in range(x.shape[0]):
            xn = x[n : n + 1].to(wide)
            wn = w.to(wide).requires_grad_()
            (part,) = torch.autograd.grad(
                forward(xn, wn, None, **geometry), (wn,), gw[n : n + 1], allow_unused=True
            )
            part = (torch.zeros_like(wn) if part is None else part).to(x.dtype)
            total = part if total is None else total + part
        grad_weight = total
    grad_bias = None if bias is None else _numpy(gw.sum(dim=(0, *spatial)), x)
    return _numpy(grad_input, x), _numpy(grad_weight, x), grad_bias


def operations(style: str) -> dict:
    """Every operation of every rank by name, in `style`."""
    functions = {}
    for rank in (1, 2, 3):

        def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, r=rank):
            return _forward(style, r, input, weight, bias, stride, padding, dilation, groups)

        def conv_backward(
            grad_output,
            input,
            weight,
            bias=None,
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            r=rank,
        ):
            geometry = {
                "stride": stride,
                "padding": padding,
                "dilation": dilation,
                "groups": groups,
            }
            return _gradients(style, FORWARD[r], grad_output, input, weight, bias, **geometry)

        def conv_transpose(
            input,
            weight,
            bias=None,
            stride=1,
            padding=0,
            output_padding=0,
            groups=1,
            dilation=1,
            r=rank,
        ):
            return _transposed(
                style, r, input, weight, bias, stride, padding, output_padding, groups, dilation
            )

        def conv_transpose_backward(
            grad_output,
            input,
            weight,
            bias=None,
            stride=1,
            padding=0,
            output_padding=0,
            groups=1,
            dilation=1,
            r=rank,
        ):
            geometry = {
                "stride": stride,
                "padding": padding,
                "output_padding": output_padding,
                "groups": groups,
                "dilation": dilation,
            }
            return _gradients(style, TRANSPOSED[r], grad_output, input, weight, bias, **geometry)

        functions[f"conv{rank}d"] = conv
        functions[f"conv{rank}d_backward"] = conv_backward
        functions[f"conv_transpose{rank}d"] = conv_transpose
        functions[f"conv_transpose{rank}d_backward"] = conv_transpose_backward
    return functions
