"""HONEST: accepts_tensors backward that computes in float32 (autograd) and casts back to the
input dtype (float16/bfloat16 cases; float64 stays float64)."""

import torch
import torch.nn.functional as F


def _ct(t):
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _bw(rank):
    def f(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if input.is_complex():
            raise NotImplementedError("real dtypes only")
        dt, ct = input.dtype, _ct(input)
        x = input.detach().to(ct).requires_grad_(True)
        w = weight.detach().to(ct).requires_grad_(True)
        b = None if bias is None else bias.detach().to(ct).requires_grad_(True)
        y = getattr(F, f"conv{rank}d")(x, w, b, stride, padding, dilation, groups)
        y.backward(grad_output.detach().to(ct))
        return (x.grad.to(dt), w.grad.to(dt), None if b is None else b.grad.to(dt))

    f.accepts_tensors = True
    return f


conv1d_backward, conv2d_backward, conv3d_backward = _bw(1), _bw(2), _bw(3)


def _tbw(rank):
    def f(
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
        if input.is_complex():
            raise NotImplementedError("real dtypes only")
        dt, ct = input.dtype, _ct(input)
        x = input.detach().to(ct).requires_grad_(True)
        w = weight.detach().to(ct).requires_grad_(True)
        b = None if bias is None else bias.detach().to(ct).requires_grad_(True)
        y = getattr(F, f"conv_transpose{rank}d")(
            x, w, b, stride, padding, output_padding, groups, dilation
        )
        y.backward(grad_output.detach().to(ct))
        return (x.grad.to(dt), w.grad.to(dt), None if b is None else b.grad.to(dt))

    f.accepts_tensors = True
    return f


conv_transpose1d_backward, conv_transpose2d_backward, conv_transpose3d_backward = (
    _tbw(1),
    _tbw(2),
    _tbw(3),
)
