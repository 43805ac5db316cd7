"""Tensor plug-ins with one planted layout bug each, written for the tests: one tensor read from
its storage as if it were contiguous, the others read right.

`{role}_strides_ignored_{op}` (role: input, weight or grad_output; op: conv{r}d,
conv_transpose{r}d, conv{r}d_backward, conv_transpose{r}d_backward at r = 1, 2, 3) takes torch
tensors (`accepts_tensors = True`) and rebuilds that one tensor from its untyped storage at its
offset with Tensor.set_ (contiguous strides, whatever the tensor's own): right for a contiguous
tensor, wrong for channels_last, a channel slice, a transposed or strided view. The forward and
transposed ones call F.conv{r}d / F.conv_transpose{r}d; the conv backward writes its gradients
with torch.nn.grad's formulas; the transposed backward runs autograd on fresh leaves.

`format_from_weight_strides_conv{r}d` replays a kernel that picks the input's memory format from
the weight's strides: a weight whose channel axis has stride 1 makes it read the input's storage
as channels-last. A one-channel weight whose size-1 axis has stride 1 (as torch 1.12's
channels_last gave it) then makes it misread a contiguous input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.nn.grad as G

FORWARD = (F.conv1d, F.conv2d, F.conv3d)
TRANSPOSED = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)
GRAD_INPUT = (G.conv1d_input, G.conv2d_input, G.conv3d_input)
GRAD_WEIGHT = (G.conv1d_weight, G.conv2d_weight, G.conv3d_weight)


def storage_read(tensor):
    """The tensor's storage from its offset, taken as contiguous (N, C, *spatial): the bug."""
    plain = tensor.detach()
    flat = torch.empty(0, dtype=plain.dtype, device=plain.device)
    return flat.set_(plain.untyped_storage(), plain.storage_offset(), plain.shape)


def _reader(role, bug_role):
    return storage_read if role == bug_role else (lambda t: t.detach())


def _forward(rank, bug_role):
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        x = _reader("input", bug_role)(input)
        w = _reader("weight", bug_role)(weight)
        b = None if bias is None else bias.detach()
        return FORWARD[rank - 1](x, w, b, stride, padding, dilation, groups)

    return conv


def _transposed(rank, bug_role):
    def conv_transpose(
        input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
    ):
        x = _reader("input", bug_role)(input)
        w = _reader("weight", bug_role)(weight)
        b = None if bias is None else bias.detach()
        transpose = TRANSPOSED[rank - 1]
        return transpose(x, w, b, stride, padding, output_padding, groups, dilation)

    return conv_transpose


def _backward(rank, bug_role):
    def conv_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        g = _reader("grad_output", bug_role)(grad_output)
        x = _reader("input", bug_role)(input)
        w = _reader("weight", bug_role)(weight)
        grad_input = GRAD_INPUT[rank - 1](x.shape, w, g, stride, padding, dilation, groups)
        grad_weight = GRAD_WEIGHT[rank - 1](x, w.shape, g, stride, padding, dilation, groups)
        grad_bias = None if bias is None else g.sum(dim=[0, *range(2, g.ndim)])
        return grad_input, grad_weight, grad_bias

    return conv_backward


def _transposed_backward(rank, bug_role):
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
    ):
        g = _reader("grad_output", bug_role)(grad_output)
        x = _reader("input", bug_role)(input).clone().requires_grad_()
        w = _reader("weight", bug_role)(weight).clone().requires_grad_()
        b = None if bias is None else bias.detach().clone().requires_grad_()
        leaves = [t for t in (x, w, b) if t is not None]
        with torch.enable_grad():
            out = TRANSPOSED[rank - 1](x, w, b, stride, padding, output_padding, groups, dilation)
            grads = torch.autograd.grad(out, leaves, g)
        return grads[0], grads[1], grads[2] if b is not None else None

    return conv_transpose_backward


def _format_from_weight_strides(rank):
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        x = input.detach()
        if weight.stride(1) == 1:  # "the weight is channels-last, so the input is too"
            stored = (x.shape[0], *x.shape[2:], x.shape[1])
            flat = torch.empty(0, dtype=x.dtype, device=x.device)
            nhwc = flat.set_(x.untyped_storage(), x.storage_offset(), stored)
            x = nhwc.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
        b = None if bias is None else bias.detach()
        return FORWARD[rank - 1](x, weight.detach(), b, stride, padding, dilation, groups)

    return conv


MAKERS = {
    "conv{r}d": (_forward, ("input", "weight")),
    "conv_transpose{r}d": (_transposed, ("input", "weight")),
    "conv{r}d_backward": (_backward, ("input", "weight", "grad_output")),
    "conv_transpose{r}d_backward": (_transposed_backward, ("input", "weight", "grad_output")),
}

for _rank in (1, 2, 3):
    for _pattern, (_make, _roles) in MAKERS.items():
        _op = _pattern.format(r=_rank)
        for _role in _roles:
            _function = _make(_rank, _role)
            _function.accepts_tensors = True  # type: ignore[attr-defined]
            _function.__name__ = f"{_role}_strides_ignored_{_op}"
            globals()[_function.__name__] = _function
    _replay = _format_from_weight_strides(_rank)
    _replay.accepts_tensors = True  # type: ignore[attr-defined]
    _replay.__name__ = f"format_from_weight_strides_conv{_rank}d"
    globals()[_replay.__name__] = _replay


def honest(op: str):
    """The same plug-in reading every tensor right (through its strides), for the tests' honest
    side: `honest("conv_transpose2d")`."""
    for pattern, (make, _) in MAKERS.items():
        for rank in (1, 2, 3):
            if pattern.format(r=rank) == op:
                function = make(rank, None)
                function.accepts_tensors = True  # type: ignore[attr-defined]
                function.__name__ = op
                return function
    raise KeyError(op)
