"""Torch's rules: which configurations conv2d (with nn.Conv2d's padding modes) rejects, and
which problems across fields no implementation could run."""

from __future__ import annotations

import math

from harness.case import Case, extended_shape
from harness.schema import TENSOR_FIELDS, TensorSpec, literal_shape


def torch_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's conv2d (with nn.Conv2d's padding modes) would reject the case."""
    if case.transposed:
        return transposed_rejection(case)
    if case.output_padding != (0, 0):
        return ("output_padding", "only conv_transpose2d takes an output_padding")
    _n, c_in, h, w = case.input_shape
    c_out, c_per_group, _kh, _kw = case.weight_shape
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
    if case.padding == "same" and case.stride != (1, 1):
        return ("padding", f"padding 'same' is not supported with stride {list(case.stride)} > 1")
    top, bottom, left, right = case.pads
    ekh, ekw = case.effective_kernel
    if h + top + bottom < ekh or w + left + right < ekw:
        return (
            "weight",
            f"effective kernel {ekh}x{ekw} (dilation {list(case.dilation)}) is larger than the "
            f"padded input {h + top + bottom}x{w + left + right}",
        )
    if case.padding_mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        return (
            "padding",
            f"reflect padding {list(case.pads)} must be smaller than the input {h}x{w}",
        )
    if case.padding_mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        return (
            "padding",
            f"circular padding {list(case.pads)} wraps more than once around the input {h}x{w}",
        )
    return None


def transposed_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's conv_transpose2d would reject the case."""
    _n, c_in, _h, _w = case.input_shape
    w_in, _og, _kh, _kw = case.weight_shape
    g = case.groups
    if w_in != c_in:
        return ("weight", f"weight has {w_in} input channels (axis 0) but the input has {c_in}")
    if c_in % g:
        return ("groups", f"C_in={c_in} is not divisible by groups={g}")
    top, bottom, left, right = case.pads
    if isinstance(case.padding, str) or top != bottom or left != right:
        return ("padding", "conv_transpose2d takes padding as an int or [pH, pW] only")
    if case.padding_mode != "zeros":
        return ("padding_mode", "conv_transpose2d supports only zeros padding")
    for axis, op, s, d in zip("HW", case.output_padding, case.stride, case.dilation, strict=True):
        if op >= s and op >= d:
            return (
                "output_padding",
                f"output padding {op} on {axis} must be smaller than either stride {s} or "
                f"dilation {d}",
            )
    ho, wo = case.output_shape[2:]
    if ho < 1 or wo < 1:
        return ("padding", f"the output would be {ho}x{wo}: padding removes more than it has")
    return None


def consistency_problems(case: Case) -> list[tuple[str, str]]:
    """(field, message) for problems no implementation could run (beyond torch's rules)."""
    problems: list[tuple[str, str]] = []
    for name in TENSOR_FIELDS:
        tensor = getattr(case, name)
        rank = 1 if name == "bias" else 4
        if tensor is None:
            continue
        if isinstance(tensor, TensorSpec):
            # only a literal is read with leading axes added: [1, 5, 5] is no 1x1x5x5 shorthand
            if len(tensor.shape) != rank:
                problems.append((f"{name}.shape", _rank_problem(name, tensor.shape)))
            problems.extend((f"{name}.{f}", m) for f, m in _spec_problems(tensor))
        elif len(literal_shape(tensor)) > rank:
            problems.append(
                (name, f"has {len(literal_shape(tensor))} axes, at most {rank} allowed")
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
        and extended_shape(case.grad_output, 4) != case.output_shape
    ):
        problems.append(
            (
                "grad_output",
                f"has shape {list(extended_shape(case.grad_output, 4))} but the output shape is "
                f"{list(case.output_shape)}",
            )
        )
    if case.expected is not None and case.rejects is not False:
        problems.append(("expected", "a case that declares `rejects` has no output to expect"))
    elif case.expected is not None and case.skip_reason is None and torch_rejection(case) is None:
        shape = extended_shape(case.expected, 4)
        if len(literal_shape(case.expected)) > 4 or shape != case.output_shape:
            problems.append(
                (
                    "expected",
                    f"has shape {list(shape)} but the output shape is {list(case.output_shape)}",
                )
            )
    return problems


def _rank_problem(name: str, shape: list[int]) -> str:
    axes = (
        "1 axis (C_out,)"
        if name == "bias"
        else "4 axes " + ("(N, C_in, H, W)" if name == "input" else "(C_out, C_in/groups, kH, kW)")
    )
    return (
        f"a generated tensor's shape needs exactly {axes}, got {shape} with {len(shape)}; "
        "only literal arrays may have fewer axes (leading axes of size 1 are added)"
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
    if math.prod(spec.shape) > 2**31:
        problems.append(("shape", f"{spec.shape} has more than 2**31 elements"))
    return problems
