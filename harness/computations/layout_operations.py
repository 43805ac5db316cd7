"""Which function takes an implementation's tensors in other memory layouts, for every operation.

`layout_operation(func, op)` (found once per operation by the resolver,
harness.computations.registry, and kept in Implementation.tensor_operations) is the function that
`run --layouts` and diagnose's layout probes call with tensors laid out by harness.cases.layouts, or
None for an implementation that takes NumPy arrays: the function itself when it says
`accepts_tensors`; for the built-in torch (and torch@DEVICE, on its device) the same F.conv{r}d /
F.conv_transpose{r}d / autograd calls as harness.computations.operations' without their contiguous
copies; for a backward that autograd derives from a forward convolution taking tensors
(harness.computations.operations.autograd_backward), the same derivation on the laid-out tensors.
`in_layout` turns such a function back into one that takes NumPy arrays and lays them out itself, so
the backward path calls it as it calls any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from harness.cases.layouts import laid_out
from harness.computations.calling import layout_function
from harness.computations.implementations import (
    spatial_rank,
    torch_convolution,
    torch_pad,
    torch_threads,
)
from harness.computations.operations import (
    torch_conv_backward,
    torch_conv_transpose,
    torch_conv_transpose_backward,
)


def _threads(tensor):
    """TORCH_THREADS on CPU, as the built-in's contiguous calls; nothing on other devices."""
    return torch_threads() if tensor.device.type == "cpu" else contextlib.nullcontext()


def _gradients(out, leaves, grad_output):
    import torch

    grads = torch.autograd.grad(
        out, leaves, grad_outputs=grad_output.to(out.dtype), allow_unused=True
    )
    return tuple(None if g is None else g.detach() for g in grads)


def _leaves(*tensors):
    """The tensors that are given (bias may be None), each requiring grad."""
    return [t if t.requires_grad else t.requires_grad_() for t in tensors if t is not None]


def _with_none_bias(grads, bias) -> tuple:
    return (*grads[:2], grads[2] if bias is not None else None)


def torch_layout_conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    device=None,
):
    """F.conv_transpose{r}d on the tensors as they are laid out (the built-in's
    torch_conv_transpose without its contiguous copies)."""
    import torch

    transpose = torch_convolution(spatial_rank(weight, input), transposed=True)
    with _threads(input), torch.no_grad():
        out = transpose(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return out.contiguous().cpu().numpy()


def torch_layout_conv_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    device=None,
):
    """torch.autograd through F.pad and F.conv{r}d on the tensors as they are laid out (the
    built-in's torch_conv_backward without its contiguous copies)."""
    import torch

    leaves = _leaves(input, weight, bias)
    conv = torch_convolution(spatial_rank(weight, input))
    with _threads(input), torch.enable_grad():
        padded = torch_pad(input, weight, padding, dilation, padding_mode)
        out = conv(padded, weight, bias, stride=stride, padding=0, dilation=dilation, groups=groups)
        return _with_none_bias(_gradients(out, leaves, grad_output), bias)


def torch_layout_conv_transpose_backward(
    grad_output,
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    device=None,
):
    """torch.autograd through F.conv_transpose{r}d on the tensors as they are laid out."""
    import torch

    leaves = _leaves(input, weight, bias)
    transpose = torch_convolution(spatial_rank(weight, input), transposed=True)
    with _threads(input), torch.enable_grad():
        out = transpose(input, weight, bias, stride, padding, output_padding, groups, dilation)
        return _with_none_bias(_gradients(out, leaves, grad_output), bias)


def tensor_autograd_backward(forward: Callable) -> Callable:
    """The backward of a forward convolution that takes tensors, on tensors as they are laid out:
    its output back-propagated with torch.autograd
    (harness.computations.operations.autograd_backward's derivation without the contiguous
    copies)."""

    def conv_backward(
        grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1
    ):
        import torch

        leaves = _leaves(input, weight, bias)
        with torch.enable_grad():
            out = forward(
                input,
                weight,
                bias,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
            )
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                raise TypeError(
                    "accepts_tensors: the forward returned no tensor attached to autograd"
                )
            return _with_none_bias(_gradients(out, leaves, grad_output), bias)

    conv_backward.accepts_tensors = True  # type: ignore[attr-defined]
    return conv_backward


torch_layout_conv_transpose.accepts_tensors = True  # type: ignore[attr-defined]
torch_layout_conv_backward.accepts_tensors = True  # type: ignore[attr-defined]
torch_layout_conv_transpose_backward.accepts_tensors = True  # type: ignore[attr-defined]
torch_layout_conv_backward.handles_padding_mode = True  # type: ignore[attr-defined]

# the built-in torch's NumPy operations -> their counterparts on laid-out tensors
_TORCH_LAYOUT: dict[Callable, Callable] = {
    torch_conv_transpose: torch_layout_conv_transpose,
    torch_conv_backward: torch_layout_conv_backward,
    torch_conv_transpose_backward: torch_layout_conv_transpose_backward,
}
_BY_NAME: dict[str, Callable] = {f.__name__: g for f, g in _TORCH_LAYOUT.items()}


def layout_operation(func: Callable, op: str = "conv2d", bind: Callable | None = None):
    """The function that takes `func`'s tensors in other memory layouts, `func` being an
    implementation's operation `op` (harness.computations.operations.OPERATIONS); None for one that
    takes NumPy arrays. `bind` puts a built-in torch function on a torch@DEVICE's device (the
    resolver, harness.computations.registry, passes it for such a device's operations)."""
    if not (op.startswith("conv_transpose") or op.endswith("_backward")):
        return layout_function(func, bind)
    if func in _TORCH_LAYOUT:
        return _TORCH_LAYOUT[func]
    if bind is not None and getattr(func, "device", None):
        counterpart = _BY_NAME.get(getattr(func, "__name__", ""))
        if counterpart is not None:
            return bind(counterpart)
    if getattr(func, "accepts_tensors", False):
        return func
    forward = getattr(func, "autograd_of", None)
    if forward is not None and getattr(forward, "accepts_tensors", False):
        return tensor_autograd_backward(forward)
    return None


# what a wrapper keeps of the function it lays tensors out for: how the harness calls it
_KEPT = ("handles_padding_mode", "numerics_note", "known_causes", "device")


def in_layout(func: Callable, layout: str, roles: Sequence[str]) -> Callable:
    """A function taking NumPy arrays (in `roles`' order, then keywords) that calls `func`, one
    taking tensors, with them laid out as `layout` says on `func`'s device."""

    def called_in_layout(*args, **kwargs):
        count = len(roles)
        try:
            tensors = laid_out(args[:count], layout, getattr(func, "device", None) or "cpu", roles)
        except Exception as error:  # the harness's own fault: say so in the row
            raise RuntimeError(f"laying out the tensors ({layout}): {error}") from None
        return func(*tensors, *args[count:], **kwargs)

    for attribute in _KEPT:
        if hasattr(func, attribute):
            setattr(called_in_layout, attribute, getattr(func, attribute))
    called_in_layout.__name__ = getattr(func, "__name__", "called_in_layout")
    return called_in_layout
