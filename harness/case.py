"""The validated, normalised case and the shapes derived from it.

Tensors stay as specs or literals until harness.data materialises them; a literal array of lower
rank gets leading axes of size 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.schema import TensorSpec, literal_shape


@dataclass(frozen=True)
class Case:
    """A validated, normalised case. Tensors stay as specs or literals until `materialize`."""

    id: str
    file: str
    description: str
    tags: tuple[str, ...]
    input: Any  # TensorSpec | nested list
    weight: Any
    bias: Any
    stride: tuple[int, int]
    padding: str | tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int
    padding_mode: str
    dtype: str
    op: str = "conv2d"  # or conv_transpose2d
    output_padding: tuple[int, int] = (0, 0)  # conv_transpose2d only
    grad_output: Any = None  # TensorSpec | nested list | None (drawn from the case)
    expected: Any = None
    diverges: dict = field(default_factory=dict)
    rejects: bool | str = False
    rejection: str | None = None  # the validator's prediction, for cases declaring `rejects`
    sweep: str | None = None
    skip_reason: str | None = None
    index: int = -1  # position in the loaded registry
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def computes(self) -> bool:
        """True when the case produces an output (not skipped, not declared to be rejected)."""
        return self.skip_reason is None and self.rejects is False

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return extended_shape(self.input, 4)  # type: ignore[return-value]

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return extended_shape(self.weight, 4)  # type: ignore[return-value]

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return None if self.bias is None else extended_shape(self.bias, 1)

    @property
    def effective_kernel(self) -> tuple[int, int]:
        _, _, kh, kw = self.weight_shape
        return (self.dilation[0] * (kh - 1) + 1, self.dilation[1] * (kw - 1) + 1)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """Explicit (top, bottom, left, right) padding; 'same' puts the extra pixel bottom/right."""
        return resolve_padding(self.padding, self.effective_kernel)

    @property
    def transposed(self) -> bool:
        return self.op == "conv_transpose2d"

    @property
    def reduction_length(self) -> int:
        """K: the products summed into one output element, at most (C_in/groups) * kH * kW."""
        _, cg, kh, kw = self.weight_shape
        if self.transposed:  # weight (C_in, C_out/groups, kH, kW)
            return (self.input_shape[1] // self.groups) * kh * kw
        return cg * kh * kw

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n, _, h, w = self.input_shape
        if self.transposed:
            _, og, kh, kw = self.weight_shape
            (sh, sw), (dh, dw), (oph, opw) = self.stride, self.dilation, self.output_padding
            top, _, left, _ = self.pads
            ho = (h - 1) * sh - 2 * top + dh * (kh - 1) + oph + 1
            wo = (w - 1) * sw - 2 * left + dw * (kw - 1) + opw + 1
            return (n, og * self.groups, ho, wo)
        top, bottom, left, right = self.pads
        ekh, ekw = self.effective_kernel
        ho = (h + top + bottom - ekh) // self.stride[0] + 1
        wo = (w + left + right - ekw) // self.stride[1] + 1
        return (n, self.weight_shape[0], ho, wo)

    @property
    def padding_label(self) -> str:
        if isinstance(self.padding, str):
            return self.padding
        top, bottom, left, right = self.padding
        if top == bottom == left == right:
            return str(top)
        if top == bottom and left == right:
            return f"{top}x{left}"
        return f"{top},{bottom},{left},{right}"


def resolve_padding(padding, effective_kernel: tuple[int, int]) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        total_h, total_w = effective_kernel[0] - 1, effective_kernel[1] - 1
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    return tuple(padding)


def extended_shape(tensor: Any, rank: int) -> tuple[int, ...]:
    shape = tuple(tensor.shape) if isinstance(tensor, TensorSpec) else literal_shape(tensor)
    return (1,) * (rank - len(shape)) + shape
