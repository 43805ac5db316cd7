"""torch-based styles: a custom torch.autograd.Function whose forward is F.convNd and whose
backward is written by hand (`function_conv`), and autograd through a deliberately misconfigured
F.conv_transposeNd (`autograd_transpose_backward`). `bind` names a configured operation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def bind(name: str, func: Callable, **planted) -> Callable:
    """func with its planted switches fixed, under an operation's name."""

    def operation(*args, **kwargs):
        return func(*args, **kwargs, **planted)

    operation.__name__ = operation.__qualname__ = name
    return operation


def tensor(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def function_conv(
    rank: int,
    *,
    bias_mean=False,
    grad_input_unflipped=False,
    grad_weight_unconjugated=False,
) -> Callable:
    """conv{rank}d on torch tensors (`accepts_tensors`): F.convNd forward, a hand-written
    backward (grad_input and grad_weight re-derived from one more F.convNd, grad_bias a sum)."""
    conv = CONV[rank]
    spatial = tuple(range(2, 2 + rank))

    class Conv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, stride, padding, dilation, groups):
            ctx.save_for_backward(x, w)
            ctx.config = (stride, padding, dilation, groups)
            ctx.has_bias = b is not None
            return conv(x, w, b, stride, padding, dilation, groups)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            stride, padding, dilation, groups = ctx.config
            with torch.enable_grad():
                xr = x.detach().requires_grad_()
                wr = (w.flip(spatial) if grad_input_unflipped else w).detach()
                (gi,) = torch.autograd.grad(
                    conv(xr, wr, None, stride, padding, dilation, groups), xr, g
                )
                xs = x.detach().conj() if grad_weight_unconjugated else x.detach()
                ws = w.detach().requires_grad_()
                (gw,) = torch.autograd.grad(
                    conv(xs.resolve_conj(), ws, None, stride, padding, dilation, groups), ws, g
                )
            gb = None
            if ctx.has_bias:
                axes = (0, *spatial)
                gb = g.mean(axes) if bias_mean else g.sum(axes)
            return gi, gw, gb, None, None, None, None

    def convolution(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return Conv.apply(input, weight, bias, stride, padding, dilation, groups)

    convolution.__name__ = f"conv{rank}d"
    convolution.accepts_tensors = True  # type: ignore[attr-defined]
    return convolution


def autograd_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    outputs_interleaved=False,  # the output channels come out as (C_out/groups, groups)
    output_padding_first=False,  # op=0, then the extra rows/columns put before the output
    kernel_conjugated_for_input=False,  # grad_input from the forward with conj(w): JAX's w
):
    """(grad_input, grad_weight, grad_bias) of a conv_transposeNd forward written with F, by
    torch.autograd."""
    x, w, b = tensor(input), tensor(weight), tensor(bias)
    g = tensor(grad_output)
    rank = x.ndim - 2
    transpose = TRANSPOSE[rank]
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with torch.enable_grad():
        if output_padding_first:
            y = transpose(x, w, None, stride, padding, 0, groups, dilation)
            extra = (
                output_padding
                if isinstance(output_padding, (tuple, list))
                else ((output_padding,) * rank)
            )
            pads = []
            for amount in reversed(extra):
                pads += [amount, 0]
            y = F.pad(y, pads)
        else:
            y = transpose(x, w, None, stride, padding, output_padding, groups, dilation)
        if outputs_interleaved:
            n, c = y.shape[:2]
            y = y.reshape(n, groups, c // groups, *y.shape[2:]).transpose(1, 2).reshape(y.shape)
        if b is not None:
            y = y + b.reshape(1, -1, *([1] * rank))
        grads = list(torch.autograd.grad(y, leaves, g))
        if kernel_conjugated_for_input:
            xr = x.detach().requires_grad_()
            yc = transpose(
                xr, w.detach().conj(), None, stride, padding, output_padding, groups, dilation
            )
            grads[0] = torch.autograd.grad(yc, xr, g)[0]
    arrays = [t.detach().numpy() for t in grads]
    return arrays[0], arrays[1], arrays[2] if b is not None else None
