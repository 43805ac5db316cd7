"""Torch's rules: which configurations conv2d (with nn.Conv2d's padding modes) rejects, and
which problems across fields no implementation could run."""

from __future__ import annotations

import math

from harness.case import Case, extended_shape
from harness.schema import TENSOR_FIELDS, TensorSpec, literal_shape


def torch_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's conv2d (with nn.Conv2d's padding modes) would reject the case."""
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
    if case.bias is not None and case.bias_shape != (case.weight_shape[0],):
        problems.append(
            (
                "bias",
                f"has shape {list(case.bias_shape or ())}, "
                f"expected [{case.weight_shape[0]}] (C_out)",
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
