"""Shared helpers for the review3 plug-ins: exact float64 computation through torch autograd,
rounded once to the case dtype."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _t64(a):
    if a is None:
        return None
    if np.iscomplexobj(a) if not isinstance(a, torch.Tensor) else a.is_complex():
        raise NotImplementedError("real dtypes only")
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu", torch.float64).clone()
    return torch.from_numpy(np.array(a, dtype=np.float64))


def _is_bf16_values(arrays):
    for a in arrays:
        if a is None:
            continue
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if not torch.equal(t.to(torch.bfloat16).to(torch.float32), t):
            return False
    return True


def round_np(t64, like_arrays):
    """Round a float64 tensor to the dtype of numpy inputs (float32 arrays holding bfloat16
    values -> bfloat16 values in float32)."""
    dt = like_arrays[0].dtype
    if dt == np.float32 and _is_bf16_values(like_arrays):
        return t64.to(torch.bfloat16).to(torch.float32).numpy()
    return t64.to(torch.from_numpy(np.zeros(0, dtype=dt)).dtype).numpy()


def backward64(rank, grad_output, input, weight, bias, stride, padding, dilation, groups):
    g, x, w = _t64(grad_output), _t64(input), _t64(weight)
    b = _t64(bias)
    x.requires_grad_(True)
    w.requires_grad_(True)
    if b is not None:
        b.requires_grad_(True)
    y = getattr(F, f"conv{rank}d")(x, w, b, stride, padding, dilation, groups)
    y.backward(g)
    return x.grad, w.grad, (b.grad if b is not None else None)


def tbackward64(
    rank, grad_output, input, weight, bias, stride, padding, output_padding, groups, dilation
):
    g, x, w = _t64(grad_output), _t64(input), _t64(weight)
    b = _t64(bias)
    x.requires_grad_(True)
    w.requires_grad_(True)
    if b is not None:
        b.requires_grad_(True)
    y = getattr(F, f"conv_transpose{rank}d")(
        x, w, b, stride, padding, output_padding, groups, dilation
    )
    y.backward(g)
    return x.grad, w.grad, (b.grad if b is not None else None)


def transpose64(rank, input, weight, bias, stride, padding, output_padding, groups, dilation):
    return getattr(F, f"conv_transpose{rank}d")(
        _t64(input), _t64(weight), _t64(bias), stride, padding, output_padding, groups, dilation
    )
