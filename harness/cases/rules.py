"""Torch's rules: which configurations conv1d/conv2d/conv3d and the transposed forms (with
nn.ConvNd's padding modes) reject, and which problems across fields no implementation could
run."""

from __future__ import annotations

import math

from harness.cases.case import AXIS_NAMES, Case, extended_shape
from harness.cases.schema import (
    COMPLEX_DTYPES,
    TENSOR_FIELDS,
    TensorSpec,
    literal_has_complex,
    literal_shape,
)


def _shape_text(sizes) -> str:
    return "x".join(str(size) for size in sizes)


def torch_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's convolution of the case's rank (with nn.ConvNd's padding modes)
    would reject the case."""
    if case.transposed:
        return transposed_rejection(case)
    if any(case.output_padding):
        return ("output_padding", "only a transposed convolution takes an output_padding")
    c_in, sizes = case.input_shape[1], case.input_shape[2:]
    c_out, c_per_group = case.weight_shape[:2]
    g = case.groups
    if c_in % g:
        return ("groups", f"C_in={c_in} is not divisible by groups={g}")
    if c_out % g:
        return ("groups", f"C_out={c_out} is not divisible by groups={g}")
    if c_per_group * g != c_in:
        return (
            "weight",
            f"weight has {c_per_group} input channels per group but input has C_in={c_in} "
            f"with groups={g} (expected {c_in // g})",
        )
    if case.padding == "same" and any(s != 1 for s in case.stride):
        return ("padding", f"padding 'same' is not supported with stride {list(case.stride)} > 1")
    pads = case.pads
    padded = [size + pads[2 * a] + pads[2 * a + 1] for a, size in enumerate(sizes)]
    if any(p < e for p, e in zip(padded, case.effective_kernel, strict=True)):
        return (
            "weight",
            f"effective kernel {_shape_text(case.effective_kernel)} (dilation "
            f"{list(case.dilation)}) is larger than the padded input {_shape_text(padded)}",
        )
    largest = [max(pads[2 * a], pads[2 * a + 1]) for a in range(len(sizes))]
    if case.padding_mode == "reflect" and any(p >= s for p, s in zip(largest, sizes, strict=True)):
        return (
            "padding",
            f"reflect padding {list(pads)} must be smaller than the input {_shape_text(sizes)}",
        )
    if case.padding_mode == "circular" and any(p > s for p, s in zip(largest, sizes, strict=True)):
        return (
            "padding",
            f"circular padding {list(pads)} wraps more than once around the input "
            f"{_shape_text(sizes)}",
        )
    return None


def transposed_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's transposed convolution of the case's rank would reject it."""
    c_in = case.input_shape[1]
    w_in = case.weight_shape[0]
    g = case.groups
    if w_in != c_in:
        return ("weight", f"weight has {w_in} input channels (axis 0) but the input has {c_in}")
    if c_in % g:
        return ("groups", f"C_in={c_in} is not divisible by groups={g}")
    pads = case.pads
    if isinstance(case.padding, str) or pads[0::2] != pads[1::2]:
        return ("padding", f"{case.op} takes padding as an int or one value per axis only")
    if case.padding_mode != "zeros":
        return ("padding_mode", f"{case.op} supports only zeros padding")
    for axis, op, s, d in zip(
        case.axis_names, case.output_padding, case.stride, case.dilation, strict=True
    ):
        if op >= s and op >= d:
            return (
                "output_padding",
                f"output padding {op} on {axis} must be smaller than either stride {s} or "
                f"dilation {d}",
            )
    sizes = case.output_shape[2:]
    if min(sizes) < 1:
        return (
            "padding",
            f"the output would be {_shape_text(sizes)}: padding removes more than it has",
        )
    return None


def consistency_problems(case: Case) -> list[tuple[str, str]]:
    """(field, message) for problems no implementation could run (beyond torch's rules)."""
    problems: list[tuple[str, str]] = []
    axes = case.rank + 2
    if (
        isinstance(case.input, TensorSpec)
        and isinstance(case.weight, TensorSpec)
        and len(case.input.shape) != len(case.weight.shape)
        and 3 <= len(case.weight.shape) <= 5
        and "op" not in case.raw
    ):  # the weight states the rank as well as the input: name the input, as when it is short
        axes = len(case.weight.shape)
    for name in TENSOR_FIELDS:
        tensor = getattr(case, name)
        rank = 1 if name == "bias" else axes
        if tensor is None:
            continue
        if isinstance(tensor, TensorSpec):
            # only a literal is read with leading axes added: [1, 5, 5] is no 1x1x5x5 shorthand
            if len(tensor.shape) != rank:
                problems.append((f"{name}.shape", _rank_problem(name, tensor.shape, axes - 2)))
            problems.extend((f"{name}.{f}", m) for f, m in _spec_problems(tensor))
            problems.extend(_zero_size_problems(name, tensor.shape, case.transposed))
        elif len(literal_shape(tensor)) > rank:
            problems.append(
                (name, f"has {len(literal_shape(tensor))} axes, at most {rank} allowed")
            )
        elif literal_has_complex(tensor) and case.dtype not in COMPLEX_DTYPES:
            problems.append(
                (
                    name,
                    f"holds complex numbers but the case's dtype is {case.dtype}: give dtype "
                    "complex64 or complex128",
                )
            )
    if problems:
        return problems
    c_out = case.output_shape[1] if case.transposed else case.weight_shape[0]
    if case.bias is not None and case.bias_shape != (c_out,):
        problems.append(
            ("bias", f"has shape {list(case.bias_shape or ())}, expected [{c_out}] (C_out)")
        )
    if (
        case.grad_output is not None
        and case.skip_reason is None
        and case.rejects is False
        and torch_rejection(case) is None
        and extended_shape(case.grad_output, case.rank + 2) != case.output_shape
    ):
        problems.append(
            (
                "grad_output",
                f"has shape {list(extended_shape(case.grad_output, case.rank + 2))} but the "
                f"output shape is "
                f"{list(case.output_shape)}",
            )
        )
    if case.expected is not None and case.rejects is not False:
        problems.append(("expected", "a case that declares `rejects` has no output to expect"))
    elif case.expected is not None and case.skip_reason is None and torch_rejection(case) is None:
        shape = extended_shape(case.expected, case.rank + 2)
        if len(literal_shape(case.expected)) > case.rank + 2 or shape != case.output_shape:
            problems.append(
                (
                    "expected",
                    f"has shape {list(shape)} but the output shape is {list(case.output_shape)}",
                )
            )
    return problems


# torch 2.x returns an output of shape (N, 0, ...) for C_in = 0 instead of the bias-filled
# (N, C_out, ...) the arithmetic gives, and raises for C_out = 0 and for a zero spatial size
_NO_C_IN = (
    "C_in = 0 is refused: torch returns an output with 0 channels instead of C_out, so there is "
    "nothing meaningful to compare"
)
_NO_C_OUT = (
    "C_out = 0 is refused: torch rejects it (expected weight to be at least 1 at dimension 0)"
)


def _zero_size_problems(name: str, shape: list[int], transposed: bool) -> list[tuple[str, str]]:
    """(field, message) for each 0 in a generated tensor's shape other than an empty batch (axis
    0 of input and grad_output)."""
    problems = []
    for axis, size in enumerate(shape):
        if size != 0 or (axis == 0 and name in ("input", "grad_output")):
            continue
        if name == "weight" and axis < 2:
            c_in_axis = 0 if transposed else 1
            message = _NO_C_IN if axis == c_in_axis else _NO_C_OUT
        elif name == "input" and axis == 1:
            message = _NO_C_IN
        elif name in ("bias", "grad_output") and axis == (0 if name == "bias" else 1):
            message = _NO_C_OUT
        else:
            message = "a zero spatial size is refused: torch rejects it"
        problems.append((f"{name}.shape[{axis}]", f"expected a positive int; got 0: {message}"))
    return problems


def _rank_problem(name: str, shape: list[int], rank: int) -> str:
    spatial = AXIS_NAMES[rank]
    if name == "bias":
        axes = "1 axis (C_out,)"
    elif name == "weight":
        kernel = ", ".join("k" + axis for axis in spatial)
        axes = f"{rank + 2} axes (C_out, C_in/groups, {kernel})"
    else:
        axes = f"{rank + 2} axes ({', '.join(('N', 'C', *spatial))})"
    return (
        f"a generated tensor's shape needs exactly {axes} for a {rank}-D case, got {shape} "
        f"with {len(shape)}; only literal arrays may have fewer axes (leading axes of size 1 are "
        "added)"
    )


def _spec_problems(spec: TensorSpec) -> list[tuple[str, str]]:
    problems = []
    for name in ("low", "high", "std"):
        value = getattr(spec, name)
        if value is not None and not math.isfinite(value):
            problems.append((name, f"must be finite, got {value}"))
    if spec.low is not None and spec.high is not None and not spec.low < spec.high:
        problems.append(("high", f"must be greater than low ({spec.low}), got {spec.high}"))
    if spec.init == "impulse" and spec.at is not None:
        if len(spec.at) != len(spec.shape) or any(
            not 0 <= a < s for a, s in zip(spec.at, spec.shape, strict=True)
        ):
            problems.append(("at", f"{spec.at} is not an index into shape {spec.shape}"))
    unused = {
        "low": spec.init not in ("uniform", "integers"),
        "high": spec.init not in ("uniform", "integers"),
        "std": spec.init != "normal",
        "at": spec.init != "impulse",
    }
    for name, is_unused in unused.items():
        if is_unused and getattr(spec, name) is not None:
            problems.append((name, f"has no meaning for init '{spec.init}'"))
    if spec.init == "integers" and any(
        v is not None and v != int(v) for v in (spec.low, spec.high)
    ):
        problems.append(("low", "integers needs whole-number low/high"))
    return problems
