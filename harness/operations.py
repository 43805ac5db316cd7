"""The operations an implementation can define beyond conv2d: its backward pass and the transposed
convolution, for the built-ins and for plug-ins.

Signatures (NumPy arrays in, arrays out; torch's argument conventions):

    conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1) -> (grad_input, grad_weight, grad_bias)   # grad_bias None w/o bias
    conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> output                              # F.conv_transpose2d's

Built in: `torch` (autograd through F.conv2d / F.conv_transpose2d, one intra-op thread),
`scipy` (harness.scipy_gradients: convolve2d/correlate2d per slice, the flip explicit) and
`reference` (harness.gradients). A plug-in module contributes every operation it defines by name
(`--impl mymod`); a function named like an operation (`mymod:conv2d_backward`) is that
operation. A conv2d with `accepts_tensors = True` receives torch tensors that require grad, and
its result is back-propagated: its backward is checked without extra code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness import gradients, scipy_gradients
from harness.implementations import torch_tensors, torch_threads

OPERATIONS = ("conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward")


def operation_of(function_name: str) -> str:
    """The operation a function implements, by its name (conv2d unless named otherwise)."""
    for name in ("conv_transpose2d_backward", "conv2d_backward", "conv_transpose2d"):
        if function_name == name or function_name.endswith("_" + name):
            return name
    return "conv2d"


def _torch_modes(padding_mode: str) -> str:
    return "constant" if padding_mode == "zeros" else padding_mode


def torch_conv2d_backward(
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
    """torch.autograd through F.pad (for the padding mode) and F.conv2d."""
    import torch
    import torch.nn.functional as F

    from harness import reference

    x, w, b = torch_tensors(input, weight, bias)
    (g,) = (torch.from_numpy(np.ascontiguousarray(grad_output).copy()),)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    kernel = tuple(w.shape[2:])
    top, bottom, left, right = reference.padding_amounts(
        padding, kernel, reference.as_pair(dilation, "dilation")
    )
    with torch_threads(), torch.enable_grad():
        padded = F.pad(x, (left, right, top, bottom), mode=_torch_modes(padding_mode))
        out = F.conv2d(padded, w, b, stride=stride, padding=0, dilation=dilation, groups=groups)
        grads = torch.autograd.grad(out, leaves, grad_outputs=g.to(out.dtype))
    arrays = [t.detach().numpy() for t in grads]
    return arrays[0], arrays[1], arrays[2] if b is not None else None


def torch_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """torch.nn.functional.conv_transpose2d."""
    import torch
    import torch.nn.functional as F

    x, w, b = torch_tensors(input, weight, bias)
    with torch_threads(), torch.no_grad():
        out = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    return out.numpy()


def torch_conv_transpose2d_backward(
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
    """torch.autograd through F.conv_transpose2d."""
    import torch
    import torch.nn.functional as F

    x, w, b = torch_tensors(input, weight, bias)
    g = torch.from_numpy(np.ascontiguousarray(grad_output).copy())
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with torch_threads(), torch.enable_grad():
        out = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
        grads = torch.autograd.grad(out, leaves, grad_outputs=g.to(out.dtype))
    arrays = [t.detach().numpy() for t in grads]
    return arrays[0], arrays[1], arrays[2] if b is not None else None


def _in_float32(function: Callable) -> Callable:
    """The reference operation computed in float32 for float16 inputs (as its conv2d leg)."""

    def wrapped(*args, **kwargs):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        dtype = arrays[0].dtype if arrays else np.dtype(np.float64)
        if dtype != np.float16:
            return function(*args, **kwargs)
        widened = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args]
        if "bias" in kwargs and kwargs["bias"] is not None:
            kwargs = {**kwargs, "bias": np.asarray(kwargs["bias"]).astype(np.float32)}
        result = function(*widened, **kwargs)
        with np.errstate(over="ignore"):
            if isinstance(result, tuple):
                return tuple(None if r is None else r.astype(np.float16) for r in result)
            return result.astype(np.float16)

    wrapped.__name__ = function.__name__
    wrapped.__doc__ = function.__doc__
    return wrapped


reference_conv2d_backward = _in_float32(gradients.conv2d_backward)
reference_conv_transpose2d = _in_float32(gradients.conv_transpose2d)
reference_conv_transpose2d_backward = _in_float32(gradients.conv_transpose2d_backward)

# the built-ins' operations besides conv2d (which harness.registry knows)
BUILTIN_OPERATIONS: dict[str, dict[str, Callable]] = {
    "torch": {
        "conv2d_backward": torch_conv2d_backward,
        "conv_transpose2d": torch_conv_transpose2d,
        "conv_transpose2d_backward": torch_conv_transpose2d_backward,
    },
    "scipy": {
        "conv2d_backward": scipy_gradients.conv2d_backward,
        "conv_transpose2d": scipy_gradients.conv_transpose2d,
        "conv_transpose2d_backward": scipy_gradients.conv_transpose2d_backward,
    },
    "reference": {
        "conv2d_backward": reference_conv2d_backward,
        "conv_transpose2d": reference_conv_transpose2d,
        "conv_transpose2d_backward": reference_conv_transpose2d_backward,
    },
}
for _operations in BUILTIN_OPERATIONS.values():
    _operations["conv2d_backward"].handles_padding_mode = True  # type: ignore[attr-defined]


def module_operations(module) -> dict[str, Callable]:
    """The operations a plug-in module defines, by name."""
    return {
        name: getattr(module, name) for name in OPERATIONS if callable(getattr(module, name, None))
    }


def autograd_backward(conv2d: Callable) -> Callable:
    """conv2d_backward for a conv2d that takes torch tensors (`accepts_tensors = True`): its
    output is back-propagated with torch.autograd, through the harness's padding too."""

    def conv2d_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        import torch

        x, w, b = torch_tensors(input, weight, bias)
        leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
        with torch.enable_grad():
            out = conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                raise TypeError("accepts_tensors: conv2d returned no tensor attached to autograd")
            g = torch.from_numpy(np.ascontiguousarray(grad_output).copy()).to(out.dtype)
            grads = torch.autograd.grad(out, leaves, grad_outputs=g, allow_unused=True)
        arrays = [None if t is None else t.detach().cpu().numpy() for t in grads]
        return arrays[0], arrays[1], arrays[2] if b is not None else None

    conv2d_backward.__name__ = "conv2d_backward"
    return conv2d_backward
