"""Backward passes of transposed convolutions (conv_transpose1d/2d/3d_backward) with one planted
bug each, written for the fuzzer's tests.

`float32_conv_transpose{r}d_backward`: torch autograd, but on float32 copies of the inputs, so
float64 cases get float32-rounded gradients (cause `precision`).

`tap_loop_gradients` is a NumPy tap-by-tap scatter written independently of the harness: for each
kernel tap t and input position i the output element i*s - p + t*d receives x[i] * w[t]; its
transposes give the gradients (complex: torch's conjugate convention). Two bugs are planted on
top of it: `flipped_weight_conv_transpose{r}d_backward` returns grad_weight reversed along every
spatial axis (cause `kernel_flip`), `undilated_input_conv_transpose{r}d_backward` forms grad_input
as if the dilation were 1 (cause `dilation`).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import torch
import torch.nn.functional as F

TRANSPOSES = {3: F.conv_transpose1d, 4: F.conv_transpose2d, 5: F.conv_transpose3d}


def _per_axis(value, rank: int) -> tuple[int, ...]:
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _float32_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    dtype = np.asarray(input).dtype
    x = torch.tensor(np.asarray(input), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(np.asarray(weight), dtype=torch.float32, requires_grad=True)
    b = None if bias is None else torch.tensor(np.asarray(bias), dtype=torch.float32)
    if b is not None:
        b.requires_grad_()
    g = torch.tensor(np.asarray(grad_output), dtype=torch.float32)
    y = TRANSPOSES[x.ndim](x, w, b, stride, padding, output_padding, groups, dilation)
    leaves = [t for t in (x, w, b) if t is not None]
    grads = [t.detach().numpy().astype(dtype) for t in torch.autograd.grad(y, leaves, g)]
    return grads[0], grads[1], grads[2] if b is not None else None


float32_conv_transpose1d_backward = _float32_backward
float32_conv_transpose2d_backward = _float32_backward
float32_conv_transpose3d_backward = _float32_backward


def tap_loop_gradients(
    grad_output, input, weight, with_bias, stride, padding, groups, dilation, input_dilation=None
):
    """(grad_input, grad_weight, grad_bias) of a transposed convolution, tap by tap, exact in
    float64 / complex128; `input_dilation` replaces the dilation in grad_input only."""
    g = np.asarray(grad_output)
    x = np.asarray(input)
    w = np.asarray(weight)
    wide = np.complex128 if np.iscomplexobj(x) else np.float64
    g, x, w = g.astype(wide), x.astype(wide), w.astype(wide)
    rank = x.ndim - 2
    s, p, d = (_per_axis(v, rank) for v in (stride, padding, dilation))
    d_input = d if input_dilation is None else _per_axis(input_dilation, rank)
    grad_input = np.zeros_like(x)
    grad_weight = np.zeros_like(w)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):  # NaN inputs spread quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        _accumulate(g, x, w, groups, s, p, d, d_input, grad_input, grad_weight)
    grad_bias = g.sum(axis=(0, *range(2, g.ndim))) if with_bias else None
    return grad_input, grad_weight, grad_bias


def _accumulate(g, x, w, groups, s, p, d, d_input, grad_input, grad_weight):
    rank = x.ndim - 2
    c_in, per_out = w.shape[:2]
    per_in = c_in // groups
    for taps in itertools.product(*(range(k) for k in w.shape[2:])):
        for dilations, into_input in ((d_input, True), (d, False)):
            reads = g
            for axis in range(rank):  # g at i*s - p + t*d along each axis, 0 outside it
                where = (
                    np.arange(x.shape[2 + axis]) * s[axis] - p[axis] + taps[axis] * dilations[axis]
                )
                inside = (where >= 0) & (where < g.shape[2 + axis])
                reads = np.take(reads, np.clip(where, 0, g.shape[2 + axis] - 1), axis=2 + axis)
                shape = [1] * reads.ndim
                shape[2 + axis] = inside.size
                reads = reads * inside.reshape(shape)
            for group in range(groups):
                ins = slice(group * per_in, (group + 1) * per_in)
                outs = reads[:, group * per_out : (group + 1) * per_out]
                tap = w[(ins, slice(None), *taps)]  # (per_in, per_out)
                if into_input:
                    grad_input[:, ins] += np.einsum("no...,co->nc...", outs, tap.conj())
                else:
                    spatial = tuple(range(2, x.ndim))
                    grad_weight[(ins, slice(None), *taps)] += np.tensordot(
                        x[:, ins].conj(), outs, axes=((0, *spatial), (0, *spatial))
                    )


def _cast(values, like):
    dtype = np.asarray(like).dtype
    return tuple(None if v is None else v.astype(dtype) for v in values)


def _flipped_weight(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    gi, gw, gb = tap_loop_gradients(
        grad_output, input, weight, bias is not None, stride, padding, groups, dilation
    )
    spatial = tuple(range(2, gw.ndim))
    return _cast((gi, np.flip(gw, spatial), gb), input)  # BUG: grad_weight reversed


def _undilated_input(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    gradients = tap_loop_gradients(  # BUG: grad_input reads the taps as if undilated
        grad_output, input, weight, bias is not None, stride, padding, groups, dilation, 1
    )
    return _cast(gradients, input)


flipped_weight_conv_transpose1d_backward = _flipped_weight
flipped_weight_conv_transpose2d_backward = _flipped_weight
flipped_weight_conv_transpose3d_backward = _flipped_weight
undilated_input_conv_transpose1d_backward = _undilated_input
undilated_input_conv_transpose2d_backward = _undilated_input
undilated_input_conv_transpose3d_backward = _undilated_input
