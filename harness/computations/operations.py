"""The operations an implementation can define, for every spatial rank r in 1, 2, 3: the forward
convolution conv{r}d, its backward pass conv{r}d_backward, the transposed convolution
conv_transpose{r}d and its backward pass conv_transpose{r}d_backward, for the built-ins and for
plug-ins (`OPERATIONS`, `operation_name(kind, rank)`, `operation_kind(name)`).

Signatures (NumPy arrays in, arrays out; torch's argument conventions, the rank read from the
arrays: input (N, C, *S), weight (C_out, C_in/groups, *k), transposed (C_in, C_out/groups, *k)):

    conv{r}d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                      groups=1) -> (grad_input, grad_weight, grad_bias)  # grad_bias None w/o bias
    conv_transpose{r}d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1) -> output                             # F.conv_transpose{r}d's
    conv_transpose{r}d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                                output_padding=0, groups=1, dilation=1) -> (gi, gw, gb)

Built in (each one rank-generic function serving every rank's name): `torch` (autograd through
F.pad and F.conv{r}d / F.conv_transpose{r}d, one intra-op thread; a `device` keyword, which
harness.computations.devices binds for the torch@DEVICE family), `scipy`
(harness.computations.scipy_gradients: scipy.signal per slice, the flip explicit) and `reference`
(harness.computations.gradients). A plug-in module contributes every operation it defines by name
(`--impl mymod`); a function named like an operation (`mymod:conv3d_backward`) is that operation. A
forward convolution with `accepts_tensors = True` receives torch tensors that require grad, and
its result is back-propagated (`autograd_backward`): its backward is checked without extra code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.computations import gradients, scipy_gradients
from harness.computations.implementations import (
    reference_conv,
    scipy_conv,
    spatial_rank,
    torch_conv,
    torch_convolution,
    torch_pad,
    torch_tensors,
    torch_threads,
)

KINDS = ("conv", "conv_backward", "conv_transpose", "conv_transpose_backward")
RANKS = (1, 2, 3)


def operation_name(kind: str, rank: int) -> str:
    """The name of operation `kind` (one of KINDS) at spatial rank `rank`: ("conv_transpose", 3)
    is conv_transpose3d."""
    if kind not in KINDS or rank not in RANKS:
        raise ValueError(f"no operation {kind!r} of rank {rank!r}; kinds {KINDS}, ranks {RANKS}")
    stem = "conv_transpose" if kind.startswith("conv_transpose") else "conv"
    return f"{stem}{rank}d" + ("_backward" if kind.endswith("_backward") else "")


OPERATIONS = tuple(operation_name(kind, rank) for rank in RANKS for kind in KINDS)
_KIND_RANK = {operation_name(kind, rank): (kind, rank) for rank in RANKS for kind in KINDS}


def operation_kind(name: str) -> tuple[str, int]:
    """(kind, rank) of an operation name: conv_transpose3d_backward is
    ("conv_transpose_backward", 3); KeyError for a name not in OPERATIONS."""
    return _KIND_RANK[name]


def operation_of(function_name: str) -> str:
    """The operation a function implements, by its name (equal to an operation's, or ending in
    `_` and one): conv2d unless named otherwise."""
    for name in sorted(OPERATIONS, key=len, reverse=True):
        if function_name == name or function_name.endswith("_" + name):
            return name
    return "conv2d"


def _grad_tensor(grad_output, device="cpu"):
    import torch

    return torch.from_numpy(np.ascontiguousarray(grad_output).copy()).to(device)


def _arrays(grads, with_bias: bool):
    arrays = [None if t is None else t.detach().cpu().numpy() for t in grads]
    return arrays[0], arrays[1], arrays[2] if with_bias else None


def torch_conv_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    device="cpu",
):
    """torch.autograd through F.pad (for the padding mode) and F.conv1d / conv2d / conv3d."""
    import torch

    x, w, b = torch_tensors(input, weight, bias, device)
    g = _grad_tensor(grad_output, device)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    conv = torch_convolution(spatial_rank(w, x))
    with torch_threads(), torch.enable_grad():
        padded = torch_pad(x, w, padding, dilation, padding_mode)
        out = conv(padded, w, b, stride=stride, padding=0, dilation=dilation, groups=groups)
        grads = torch.autograd.grad(out, leaves, grad_outputs=g.to(out.dtype))
    return _arrays(grads, b is not None)


def torch_conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    device="cpu",
):
    """torch.nn.functional.conv_transpose1d / 2d / 3d by rank."""
    import torch

    x, w, b = torch_tensors(input, weight, bias, device)
    transpose = torch_convolution(spatial_rank(w, x), transposed=True)
    with torch_threads(), torch.no_grad():
        out = transpose(x, w, b, stride, padding, output_padding, groups, dilation)
    return out.cpu().numpy()


def torch_conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    device="cpu",
):
    """torch.autograd through F.conv_transpose1d / 2d / 3d."""
    import torch

    x, w, b = torch_tensors(input, weight, bias, device)
    g = _grad_tensor(grad_output, device)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    transpose = torch_convolution(spatial_rank(w, x), transposed=True)
    with torch_threads(), torch.enable_grad():
        out = transpose(x, w, b, stride, padding, output_padding, groups, dilation)
        grads = torch.autograd.grad(out, leaves, grad_outputs=g.to(out.dtype))
    return _arrays(grads, b is not None)


# torch's grad_weight of a padded transposed convolution propagates NaN by kernel path: float32
# keeps it to the taps that read it, float64 spreads 0 * NaN to every tap (as the exact gradients
# do). A divergence in NaN/Inf alone (cause `nan`) is torch's own, not a wrong value.
torch_conv_transpose_backward.known_causes = ("nan",)  # type: ignore[attr-defined]


def _in_float32(function: Callable) -> Callable:
    """The reference operation computed in float32 for float16 inputs (as its forward leg)."""

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


# harness.computations.gradients' functions keep their 2-D names and take any rank the reference
# takes
reference_conv_backward = _in_float32(gradients.conv2d_backward)
reference_conv_transpose = _in_float32(gradients.conv_transpose2d)
reference_conv_transpose_backward = _in_float32(gradients.conv_transpose2d_backward)


def _every_rank(by_kind: dict[str, Callable]) -> dict[str, Callable]:
    """{operation name: function} for every rank, from one rank-generic function per kind."""
    return {operation_name(kind, rank): by_kind[kind] for rank in RANKS for kind in KINDS}


# every operation of every rank of the built-ins, the forward ones included
# (harness.computations.registry also knows those as the built-ins themselves: the same functions)
BUILTIN_OPERATIONS: dict[str, dict[str, Callable]] = {
    "torch": _every_rank(
        {
            "conv": torch_conv,
            "conv_backward": torch_conv_backward,
            "conv_transpose": torch_conv_transpose,
            "conv_transpose_backward": torch_conv_transpose_backward,
        }
    ),
    "scipy": _every_rank(
        {
            "conv": scipy_conv,
            "conv_backward": scipy_gradients.conv_backward,
            "conv_transpose": scipy_gradients.conv_transpose,
            "conv_transpose_backward": scipy_gradients.conv_transpose_backward,
        }
    ),
    "reference": _every_rank(
        {
            "conv": reference_conv,
            "conv_backward": reference_conv_backward,
            "conv_transpose": reference_conv_transpose,
            "conv_transpose_backward": reference_conv_transpose_backward,
        }
    ),
}
for _operations in BUILTIN_OPERATIONS.values():
    _operations["conv2d_backward"].handles_padding_mode = True  # type: ignore[attr-defined]


def module_operations(module) -> dict[str, Callable]:
    """The operations a plug-in module defines, by name (any of OPERATIONS)."""
    return {
        name: getattr(module, name) for name in OPERATIONS if callable(getattr(module, name, None))
    }


def autograd_backward(conv: Callable, name: str = "conv2d_backward") -> Callable:
    """The backward operation (named `name`) of a forward convolution of any rank that takes
    torch tensors (`accepts_tensors = True`): its output is back-propagated with torch.autograd,
    through the harness's padding too."""

    forward = name.removesuffix("_backward")

    def conv_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        import torch

        x, w, b = torch_tensors(input, weight, bias)
        leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
        with torch.enable_grad():
            out = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                raise TypeError(
                    f"accepts_tensors: {forward} returned no tensor attached to autograd"
                )
            g = _grad_tensor(grad_output).to(out.dtype)
            grads = torch.autograd.grad(out, leaves, grad_outputs=g, allow_unused=True)
        return _arrays(grads, b is not None)

    conv_backward.__name__ = name
    conv_backward.autograd_of = conv  # type: ignore[attr-defined]  # for its layout rows
    return conv_backward


# the historical 2-D names, used across the harness: the same rank-generic functions
torch_conv2d_backward = torch_conv_backward
torch_conv_transpose2d = torch_conv_transpose
torch_conv_transpose2d_backward = torch_conv_transpose_backward
reference_conv2d_backward = reference_conv_backward
reference_conv_transpose2d = reference_conv_transpose
reference_conv_transpose2d_backward = reference_conv_transpose_backward
