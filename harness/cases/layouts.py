"""Memory layouts: the same values held in torch tensors with other strides or storage.

An implementation that takes torch tensors (a plug-in with `accepts_tensors = True`, and the
built-in `torch`) may read a tensor's memory as if it were contiguous, or take a fast path that
only some layouts reach. `run --layouts` calls it again with its tensors laid out otherwise; the
values are always exactly the contiguous ones, only strides, offsets and storage differ.

A layout (LAYOUTS) names one base layout per role (input, weight, bias); the base layouts:
`contiguous`; `channels_last` (stored (N, *spatial, C), seen through a permute: torch's
channels_last in 4-D, channels_last_3d in 5-D); `channel_slice` (channels [1:C+1] of a tensor
with C+2 channels, the two extra ones NaN); `transposed` (the last two spatial axes swapped in
storage, seen through a transpose; not applicable to 1-D tensors, where it would be
channels_last); `strided` (every other element of a tensor twice as long along the last axis);
`expanded` (a batch of 1 read through a batch stride of 0; applicable only when N == 1);
`unit_strides` (every size-1 axis given stride 1 through as_strided, as torch 1.12 gave a
one-channel channels_last weight: torch's own is_contiguous ignores such strides, a kernel that
decides a memory format from them may not; applicable where some size-1 axis would change stride).

A backward call also takes a grad_output (GRADIENT_ROLES): a layout of the whole graph
(`channels_last`, `channel_slice`, `transposed`, `strided`) lays it out as the input, the
`_grad_output` layouts lay out only it (GRAD_OUTPUT_LAYOUTS); a forward or transposed call has no
grad_output, so those make no row there. A layout that is not applicable to a case makes no row.
It imports torch only when a tensor is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ROLES = ("input", "weight", "bias")

GRADIENT_ROLES = ("grad_output", *ROLES)  # a backward call's tensors, in its argument order

BASE_LAYOUTS = (
    "contiguous",
    "channels_last",
    "channel_slice",
    "transposed",
    "strided",
    "expanded",
    "unit_strides",
)

# name -> (input, weight, bias) base layouts, in the order layout rows come
LAYOUTS: dict[str, tuple[str, str, str]] = {
    "contiguous": ("contiguous", "contiguous", "contiguous"),
    "channels_last": ("channels_last", "channels_last", "contiguous"),
    "channels_last_input": ("channels_last", "contiguous", "contiguous"),
    "channels_last_weight": ("contiguous", "channels_last", "contiguous"),
    "channel_slice": ("channel_slice", "channel_slice", "channel_slice"),
    "channel_slice_input": ("channel_slice", "contiguous", "contiguous"),
    "channel_slice_weight": ("contiguous", "channel_slice", "contiguous"),
    "transposed": ("transposed", "transposed", "contiguous"),
    "transposed_input": ("transposed", "contiguous", "contiguous"),
    "transposed_weight": ("contiguous", "transposed", "contiguous"),
    "strided": ("strided", "strided", "strided"),
    "strided_input": ("strided", "contiguous", "contiguous"),
    "strided_weight": ("contiguous", "strided", "contiguous"),
    "expanded": ("expanded", "contiguous", "contiguous"),
    "unit_strides": ("unit_strides", "unit_strides", "contiguous"),
    "unit_strides_weight": ("contiguous", "unit_strides", "contiguous"),
    "channels_last_grad_output": ("contiguous", "contiguous", "contiguous"),
    "channel_slice_grad_output": ("contiguous", "contiguous", "contiguous"),
    "transposed_grad_output": ("contiguous", "contiguous", "contiguous"),
    "strided_grad_output": ("contiguous", "contiguous", "contiguous"),
    "expanded_grad_output": ("contiguous", "contiguous", "contiguous"),
}

# name -> grad_output's base layout in a backward call (contiguous for a name not listed)
GRAD_OUTPUT_LAYOUTS: dict[str, str] = {
    "channels_last": "channels_last",
    "channel_slice": "channel_slice",
    "transposed": "transposed",
    "strided": "strided",
    "channels_last_grad_output": "channels_last",
    "channel_slice_grad_output": "channel_slice",
    "transposed_grad_output": "transposed",
    "strided_grad_output": "strided",
    "expanded_grad_output": "expanded",
}

LAYOUT_NAMES = tuple(LAYOUTS)

CONTIGUOUS = "contiguous"


def parse_layouts(text: str) -> tuple[str, ...]:
    """`all` or a comma list of layout names, in LAYOUTS order; ValueError with a did-you-mean
    for an unknown name."""
    from harness.cases.naming import suggest

    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return LAYOUT_NAMES
    for name in names:
        if name not in LAYOUTS:
            raise ValueError(
                f"unknown layout {name!r}{suggest(name, LAYOUT_NAMES)}; known: all, "
                + ", ".join(LAYOUT_NAMES)
            )
    return tuple(n for n in LAYOUT_NAMES if n in names)


def role_base(layout: str, role: str) -> str:
    """The base layout `layout` gives a tensor of `role` (one of GRADIENT_ROLES)."""
    if role == "grad_output":
        return GRAD_OUTPUT_LAYOUTS.get(layout, CONTIGUOUS)
    return LAYOUTS[layout][ROLES.index(role)]


def _contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides: list[int] = []
    step = 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= max(size, 1)
    return tuple(strides)


def unit_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Contiguous strides with every size-1 axis given stride 1."""
    contiguous = _contiguous_strides(shape)
    return tuple(1 if size == 1 else s for size, s in zip(shape, contiguous, strict=True))


def base_changes(shape: Sequence[int], base: str) -> bool:
    """Whether a base layout (one that applies) gives a tensor of this shape other strides than
    contiguous ones: unit_strides only where it has a size-1 axis of another stride."""
    if base == "unit_strides":
        return unit_strides(shape) != _contiguous_strides(shape)
    return base != CONTIGUOUS


def base_applicable(shape: Sequence[int], base: str) -> bool:
    """Whether a base layout can hold a tensor of this shape."""
    if base == "transposed":
        return len(shape) >= 4  # two spatial axes
    if base == "expanded":
        return len(shape) >= 2 and shape[0] == 1
    if base == "channels_last":
        return len(shape) >= 3
    if base == "channel_slice":
        return len(shape) >= 1
    return True


def applicable(
    layout: str,
    shapes: Sequence[Sequence[int] | None],
    grad_output: Sequence[int] | None = None,
) -> bool:
    """Whether every role's base layout holds its tensor (shapes: input, weight, bias or None;
    `grad_output`: its shape in a backward call, None elsewhere), and the layout differs from
    contiguous somewhere."""
    bases = list(LAYOUTS[layout])
    shapes = list(shapes)
    if grad_output is not None:
        bases.append(role_base(layout, "grad_output"))
        shapes.append(grad_output)
    used = False
    for shape, base in zip(shapes, bases, strict=True):
        if shape is None or base == CONTIGUOUS:
            continue
        if not base_applicable(shape, base):
            return False
        used = used or base_changes(shape, base)
    return used or layout == CONTIGUOUS


def _permuted(values, order: Sequence[int]):
    """A tensor stored in `order` of the axes, seen in the original order."""
    import torch

    stored = values.permute(*order).contiguous()
    inverse = [order.index(k) for k in range(len(order))]
    return torch.Tensor.permute(stored, *inverse)


def base_tensor(array: np.ndarray, base: str, device: str = "cpu"):
    """The array's values in a torch tensor of one base layout, made on `device` (so that its
    strides are the layout's there too)."""
    import torch

    values = torch.from_numpy(np.ascontiguousarray(array).copy()).to(device)
    ndim = values.ndim
    if base == CONTIGUOUS:
        return values
    if not base_applicable(values.shape, base):
        raise ValueError(
            f"layout {base!r} does not apply to a tensor of shape {tuple(array.shape)}"
        )
    if base == "channels_last":
        return _permuted(values, [0, *range(2, ndim), 1])
    if base == "transposed":
        order = list(range(ndim))
        order[-1], order[-2] = order[-2], order[-1]
        return _permuted(values, order)
    if base == "channel_slice":
        axis = 0 if ndim == 1 else 1
        shape = list(values.shape)
        size = shape[axis]
        shape[axis] = size + 2
        holder = torch.full(shape, float("nan"), dtype=values.dtype, device=values.device)
        holder.narrow(axis, 1, size).copy_(values)
        return holder.narrow(axis, 1, size)
    if base == "strided":
        shape = list(values.shape)
        shape[-1] *= 2
        holder = torch.full(shape, float("nan"), dtype=values.dtype, device=values.device)
        holder[..., ::2] = values
        return holder[..., ::2]
    if base == "unit_strides":
        return torch.as_strided(values, tuple(values.shape), unit_strides(values.shape))
    if base == "expanded":
        one = values[0].clone()  # the batch of 1, read through a batch stride of 0
        return torch.as_strided(one, tuple(values.shape), (0, *one.stride()))
    raise ValueError(f"unknown base layout {base!r}")


def apply_layout(array: np.ndarray, layout: str, role: str = "input", device: str = "cpu"):
    """The array as a torch tensor (on `device`) in `layout`'s base layout for `role` (input,
    weight, bias or grad_output); its values are exactly the array's."""
    return base_tensor(array, role_base(layout, role), device)


def laid_out(
    args: Sequence[Any], layout: str, device: str = "cpu", roles: Sequence[str] = ROLES
) -> tuple:
    """The arrays of `roles` ((input, weight, bias), or GRADIENT_ROLES for a backward call; bias
    may be None) as tensors in `layout` on `device`, requiring grad as safe_call's tensors do."""
    tensors: list[Any] = []
    for array, role in zip(args, roles, strict=True):
        if array is None:
            tensors.append(None)
            continue
        tensor = apply_layout(array, layout, role, device)
        tensors.append(tensor.requires_grad_() if tensor.is_leaf else tensor)
    return tuple(tensors)


def layout_strides(tensor) -> str:
    """A tensor's strides as text, for messages."""
    return "x".join(str(s) for s in tensor.stride())
