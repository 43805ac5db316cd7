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
`expanded` (a batch of 1 read through a batch stride of 0; applicable only when N == 1). A
layout that is not applicable to a case makes no row. It imports torch only when a tensor is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ROLES = ("input", "weight", "bias")

BASE_LAYOUTS = ("contiguous", "channels_last", "channel_slice", "transposed", "strided", "expanded")

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
}

LAYOUT_NAMES = tuple(LAYOUTS)

CONTIGUOUS = "contiguous"


def parse_layouts(text: str) -> tuple[str, ...]:
    """`all` or a comma list of layout names, in LAYOUTS order; ValueError with a did-you-mean
    for an unknown name."""
    from harness.naming import suggest

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


def applicable(layout: str, shapes: Sequence[Sequence[int] | None]) -> bool:
    """Whether every role's base layout holds its tensor (shapes: input, weight, bias or None),
    and the layout differs from contiguous somewhere."""
    bases = LAYOUTS[layout]
    used = False
    for shape, base in zip(shapes, bases, strict=True):
        if shape is None or base == CONTIGUOUS:
            continue
        if not base_applicable(shape, base):
            return False
        used = True
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
    if base == "expanded":
        one = values[0].clone()  # the batch of 1, read through a batch stride of 0
        return torch.as_strided(one, tuple(values.shape), (0, *one.stride()))
    raise ValueError(f"unknown base layout {base!r}")


def apply_layout(array: np.ndarray, layout: str, role: str = "input", device: str = "cpu"):
    """The array as a torch tensor (on `device`) in `layout`'s base layout for `role` (input,
    weight or bias); its values are exactly the array's."""
    return base_tensor(array, LAYOUTS[layout][ROLES.index(role)], device)


def laid_out(args: Sequence[Any], layout: str, device: str = "cpu") -> tuple:
    """(input, weight, bias) arrays (bias may be None) as tensors in `layout` on `device`,
    requiring grad as safe_call's tensors do."""
    tensors: list[Any] = []
    for array, role in zip(args, ROLES, strict=True):
        if array is None:
            tensors.append(None)
            continue
        tensor = apply_layout(array, layout, role, device)
        tensors.append(tensor.requires_grad_() if tensor.is_leaf else tensor)
    return tuple(tensors)


def layout_strides(tensor) -> str:
    """A tensor's strides as text, for messages."""
    return "x".join(str(s) for s in tensor.stride())
