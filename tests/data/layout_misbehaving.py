"""Tensor plug-ins that misbehave only when a tensor is not contiguous, written for the tests:
each operation answers a non-contiguous input with something else than a result of the right
shape (`MODE`: a wrong shape, a raise, None, a backward tuple of the wrong length, NaN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSPOSED = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)
MODES = ("shape", "raise", "none", "short", "nan")


def _misbehave(mode, result):
    if mode == "shape":
        return result[..., :-1] if not isinstance(result, tuple) else tuple(r[:1] for r in result)
    if mode == "raise":
        raise ValueError("strided tensors are not supported")
    if mode == "none":
        return None
    if mode == "short":
        return result[:2] if isinstance(result, tuple) else [1.0, 2.0]
    return torch.full_like(result, float("nan")) if not isinstance(result, tuple) else result


def _transposed(mode):
    def conv_transpose(
        input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
    ):
        x, w = input.detach(), weight.detach()
        b = None if bias is None else bias.detach()
        out = TRANSPOSED[x.ndim - 3](x, w, b, stride, padding, output_padding, groups, dilation)
        return out if x.is_contiguous() else _misbehave(mode, out)

    return conv_transpose


def _backward(mode):
    def conv_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        leaves = [t.detach().clone().requires_grad_() for t in (input, weight)]
        b = None if bias is None else bias.detach().clone().requires_grad_()
        conv = (F.conv1d, F.conv2d, F.conv3d)[input.ndim - 3]
        with torch.enable_grad():
            out = conv(*leaves, b, stride, padding, dilation, groups)
            grads = torch.autograd.grad(
                out, [*leaves, *([b] if b is not None else [])], grad_output
            )
        result = (grads[0], grads[1], grads[2] if b is not None else None)
        return result if grad_output.is_contiguous() else _misbehave(mode, result)

    return conv_backward


for _mode in MODES:
    for _rank in (1, 2, 3):
        for _name, _make in (
            (f"conv_transpose{_rank}d", _transposed),
            (f"conv{_rank}d_backward", _backward),
        ):
            _function = _make(_mode)
            _function.accepts_tensors = True  # type: ignore[attr-defined]
            _function.__name__ = f"{_mode}_{_name}"
            globals()[_function.__name__] = _function
