"""Backward and transposed convolutions from torch with one misconfiguration each, for the tests
of the quantity families: autograd through a forward given a wrong argument (a transposed
kernel, input channels permuted between groups, a conjugated kernel), F.conv_transposeNd called
with a wrong dilation or output_padding, and an honest one computed in float32 (rounding only).
Names end in the operation they implement; any rank.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(rank):
    return {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]


def _transpose(rank):
    return {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[rank]


def _autograd(grad_output, input, weight, bias, forward):
    x = _t(input).requires_grad_()
    w = _t(weight).requires_grad_()
    out = forward(x, w)
    grad_input, grad_weight = torch.autograd.grad(out, (x, w), _t(grad_output))
    dtype = np.asarray(input).dtype
    axes = (0, *range(2, np.ndim(grad_output)))
    grad_bias = None if bias is None else np.asarray(grad_output).sum(axis=axes).astype(dtype)
    grad_input, grad_weight = grad_input.resolve_conj(), grad_weight.resolve_conj()
    return grad_input.numpy().astype(dtype), grad_weight.numpy().astype(dtype), grad_bias


def transposed_kernel_conv2d_backward(
    grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
):
    """The forward read the kernel transposed (H and W swapped): both gradients follow."""
    return _autograd(
        grad_output,
        input,
        weight,
        bias,
        lambda x, w: F.conv2d(x, w.transpose(-1, -2), None, stride, padding, dilation, groups),
    )


def _permuted_groups(rank):
    def backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """The forward's input groups in reverse order (group g reads groups-1-g)."""
        c_in = np.shape(input)[1]
        cg = c_in // groups
        order = [(groups - 1 - c // cg) * cg + c % cg for c in range(c_in)]

        def forward(x, w):
            return _conv(rank)(x[:, order], w, None, stride, padding, dilation, groups)

        return _autograd(grad_output, input, weight, bias, forward)

    return backward


def _conjugated_kernel(rank):
    def backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """Autograd of a forward that conjugates the kernel: grad_input reads w, not conj(w)."""
        return _autograd(
            grad_output,
            input,
            weight,
            bias,
            lambda x, w: _conv(rank)(x, w.conj(), None, stride, padding, dilation, groups),
        )

    return backward


def _float32(rank):
    def backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """Right, but computed in float32 (complex64) and returned in the case dtype."""
        dtype = np.asarray(input).dtype
        narrow = np.complex64 if np.iscomplexobj(input) else np.float32
        grads = _autograd(
            np.asarray(grad_output, narrow),
            np.asarray(input, narrow),
            np.asarray(weight, narrow),
            bias,
            lambda x, w: _conv(rank)(x, w, None, stride, padding, dilation, groups),
        )
        grad_bias = (
            None
            if bias is None
            else np.asarray(grad_output).sum(axis=(0, *range(2, np.ndim(grad_output))))
        )
        return grads[0].astype(dtype), grads[1].astype(dtype), grad_bias

    return backward


def _transposed_call(rank, change):
    def conv_transpose(
        input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
    ):
        """F.conv_transposeNd with one argument misread."""
        arguments = {
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "groups": groups,
            "dilation": dilation,
        }
        arguments.update(change)
        b = None if bias is None else _t(bias)
        out = _transpose(rank)(_t(input), _t(weight), b, **arguments)
        return out.numpy()

    return conv_transpose


def _wrong_boundary(rank):
    def backward(
        grad_output,
        input,
        weight,
        bias=None,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        padding_mode="zeros",
    ):
        """Handles padding modes itself, but pads 'reflect' as 'replicate' (and the others as
        'reflect'): autograd folds the gradient back through the wrong padding."""
        wrong = "replicate" if padding_mode == "reflect" else "reflect"
        flat = [padding] * (2 * rank) if isinstance(padding, int) else list(padding)
        if len(flat) == rank:
            flat = [p for p in flat for _ in (0, 1)]
        torch_order = [p for axis in reversed(range(rank)) for p in flat[2 * axis : 2 * axis + 2]]

        def forward(x, w):
            padded = F.pad(x, torch_order, mode=wrong)
            return _conv(rank)(padded, w, None, stride, 0, dilation, groups)

        return _autograd(grad_output, input, weight, bias, forward)

    backward.handles_padding_mode = True
    return backward


for _rank in (1, 2, 3):
    globals()[f"wrong_boundary_conv{_rank}d_backward"] = _wrong_boundary(_rank)
    globals()[f"reversed_groups_conv{_rank}d_backward"] = _permuted_groups(_rank)
    globals()[f"conjugated_kernel_conv{_rank}d_backward"] = _conjugated_kernel(_rank)
    globals()[f"float32_conv{_rank}d_backward"] = _float32(_rank)
    globals()[f"no_dilation_conv_transpose{_rank}d"] = _transposed_call(_rank, {"dilation": 1})
    globals()[f"no_output_padding_conv_transpose{_rank}d"] = _transposed_call(
        _rank, {"output_padding": 0}
    )
