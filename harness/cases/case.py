"""The validated, normalised case and the shapes derived from it.

Tensors stay as specs or literals until harness.cases.data materialises them; a literal array of
lower rank gets leading axes of size 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.cases.schema import TensorSpec, literal_shape

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def op_rank(op: str) -> int:
    """The spatial rank an operation name states: conv1d -> 1, conv_transpose3d -> 3."""
    return int(op[-2])


def forward_op(rank: int) -> str:
    return f"conv{rank}d"


def transposed_op(rank: int) -> str:
    return f"conv_transpose{rank}d"


@dataclass(frozen=True)
class Case:
    """A validated, normalised case. Tensors stay as specs or literals until `materialize`.

    `stride`, `dilation` and `output_padding` hold one value per spatial axis; `padding` is
    'same', 'valid' or (before, after) per axis, flat: (top, bottom, left, right) in 2-D."""

    id: str
    file: str
    description: str
    tags: tuple[str, ...]
    input: Any  # TensorSpec | nested list
    weight: Any
    bias: Any
    stride: tuple[int, ...]
    padding: str | tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str
    dtype: str
    op: str = "conv2d"  # conv1d/2d/3d or conv_transpose1d/2d/3d
    output_padding: tuple[int, ...] = (0, 0)  # transposed convolutions only
    grad_output: Any = None  # TensorSpec | nested list | None (drawn from the case)
    expected: Any = None
    diverges: dict = field(default_factory=dict)
    layouts: tuple[str, ...] = ()  # the memory layouts this case is always run in (--layouts)
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
    def rank(self) -> int:
        """The number of spatial axes: 1, 2 or 3."""
        return op_rank(self.op)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES[self.rank]

    @property
    def forward_op(self) -> str:
        """The (not transposed) convolution of this case's rank: conv1d, conv2d or conv3d."""
        return forward_op(self.rank)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return extended_shape(self.input, self.rank + 2)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return extended_shape(self.weight, self.rank + 2)

    @property
    def kernel(self) -> tuple[int, ...]:
        return self.weight_shape[2:]

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return None if self.bias is None else extended_shape(self.bias, 1)

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel, strict=True))

    @property
    def pads(self) -> tuple[int, ...]:
        """Explicit (before, after) per axis, flat; 'same' puts the extra element after."""
        return resolve_padding(self.padding, self.effective_kernel)

    @property
    def transposed(self) -> bool:
        return self.op.startswith("conv_transpose")

    @property
    def reduction_length(self) -> int:
        """K: the products summed into one output element, at most (C_in/groups) * prod(kernel)."""
        taps = math.prod(self.kernel)
        if self.transposed:  # weight (C_in, C_out/groups, *kernel)
            return (self.input_shape[1] // self.groups) * taps
        return self.weight_shape[1] * taps

    @property
    def output_shape(self) -> tuple[int, ...]:
        n, sizes = self.input_shape[0], self.input_shape[2:]
        pads = self.pads
        if self.transposed:
            og = self.weight_shape[1]
            out = tuple(
                (size - 1) * s - 2 * pads[2 * a] + d * (k - 1) + op + 1
                for a, (size, s, d, k, op) in enumerate(
                    zip(
                        sizes,
                        self.stride,
                        self.dilation,
                        self.kernel,
                        self.output_padding,
                        strict=True,
                    )
                )
            )
            return (n, og * self.groups, *out)
        out = tuple(
            (size + pads[2 * a] + pads[2 * a + 1] - ek) // s + 1
            for a, (size, ek, s) in enumerate(
                zip(sizes, self.effective_kernel, self.stride, strict=True)
            )
        )
        return (n, self.weight_shape[0], *out)

    @property
    def padding_label(self) -> str:
        if isinstance(self.padding, str):
            return self.padding
        pads = self.padding
        if len(set(pads)) == 1:
            return str(pads[0])
        befores, afters = pads[0::2], pads[1::2]
        if befores == afters:
            return "x".join(str(p) for p in befores)
        return ",".join(str(p) for p in pads)


class FieldProblem(ValueError):
    """A field whose value does not fit the case's rank."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name


def _tensor_rank(tensor: Any) -> int | None:
    """The spatial rank a tensor states: a generated tensor's axes, a 5-axis literal (lower-rank
    literals are read with leading axes added, so they state nothing)."""
    if isinstance(tensor, TensorSpec):
        return len(tensor.shape) - 2 if 3 <= len(tensor.shape) <= 5 else None
    if tensor is not None and len(literal_shape(tensor)) == 5:
        return 3
    return None


def infer_rank(op: str | None, tensors: tuple, per_axis: dict[str, Any]) -> int:
    """A case's spatial rank: its `op`, else its input's (then weight's, grad_output's) axes, else
    the length of a per-axis stride/dilation/output_padding/padding, else 2."""
    if op is not None:
        return op_rank(op)
    for tensor in tensors:
        rank = _tensor_rank(tensor)
        if rank is not None:
            return rank
    for name, value in per_axis.items():
        if isinstance(value, tuple):
            if name != "padding" and len(value) in (1, 3):
                return len(value)
            if name == "padding" and len(value) in (1, 3, 6):
                return 1 if len(value) == 1 else 3
    return 2


def _rank_words(rank: int) -> str:
    return f"{rank}-D ({', '.join(('N', 'C', *AXIS_NAMES[rank]))})"


def per_axis(value: Any, rank: int, field_name: str) -> tuple[int, ...]:
    """An int or one value per axis as `rank` values; FieldProblem when the count is wrong."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise FieldProblem(
            field_name,
            f"has {len(value)} values but the case is {_rank_words(rank)}: give an int or "
            f"{rank} value{'s' if rank > 1 else ''}",
        )
    return tuple(value)


def flat_padding(value: Any, rank: int) -> str | tuple[int, ...]:
    """'same'/'valid', or (before, after) per axis, flat, from an int, one value per axis or the
    flat form itself; FieldProblem when the count fits neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return (value,) * (2 * rank)
    if len(value) == rank:
        return tuple(p for v in value for p in (v, v))
    if len(value) == 2 * rank:
        return tuple(value)
    raise FieldProblem(
        "padding",
        f"has {len(value)} values but the case is {_rank_words(rank)}: give an int, {rank} "
        f"(one per axis) or {2 * rank} ((before, after) per axis), 'same' or 'valid'",
    )


def resolve_padding(padding, effective_kernel: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per axis, flat, for 'same', 'valid' or an already flat tuple."""
    if padding == "valid":
        return (0,) * (2 * len(effective_kernel))
    if padding == "same":
        return tuple(p for e in effective_kernel for p in ((e - 1) // 2, (e - 1) - (e - 1) // 2))
    return tuple(padding)


def extended_shape(tensor: Any, rank: int) -> tuple[int, ...]:
    shape = tuple(tensor.shape) if isinstance(tensor, TensorSpec) else literal_shape(tensor)
    return (1,) * (rank - len(shape)) + shape
