"""Case registry: YAML loading, schema validation, sweep expansion.

Owns the case file contract of DESIGN.md. A file holds optional `defaults`, a list of `cases` and a
list of `sweeps`; a sweep expands `vary` (a cartesian product over top-level case fields) over its
`base`. Conventions: tensors are NCHW, weights OIHW ((C_out, C_in/groups, kH, kW)); a literal array
of lower rank gets leading axes of size 1; padding is normalised to (top, bottom, left, right) or
the strings 'same' / 'valid'.

Every problem is reported as one line naming the file, the case id and the field, and all problems
in a file are reported together (`CaseFileError`). This module imports neither torch, scipy nor
pandas, so `conv-harness validate` and `list` answer instantly.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
)

from harness.causes import CAUSES
from harness.errors import CaseFileError
from harness.yaml_io import read_yaml

ID_PATTERN = r"^[a-z0-9_]+$"
DTYPES = ("float64", "float32", "float16", "bfloat16")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
INITS = ("normal", "uniform", "integers", "ones", "zeros", "arange", "impulse")
CASE_SUFFIXES = (".yaml", ".yml")


# ---------------------------------------------------------------------------------------------
# Field validators: each returns a normalised value or raises ValueError with a readable message.
# ---------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _suggest(value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value.lower(), allowed, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_pair(value: Any, what: str) -> tuple[int, int]:
    if _is_int(value) and value >= 1:
        return (value, value)
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_int(v) and v >= 1 for v in value)
    ):
        return (value[0], value[1])
    raise ValueError(f"expected a positive int or a pair [{what}H, {what}W] of positive ints")


def _check_stride(value: Any) -> tuple[int, int]:
    return _check_pair(value, "s")


def _check_dilation(value: Any) -> tuple[int, int]:
    return _check_pair(value, "d")


def _check_padding(value: Any) -> str | tuple[int, int, int, int]:
    if isinstance(value, str) and value in ("same", "valid"):
        return value
    if _is_int(value) and value >= 0:
        return (value, value, value, value)
    if isinstance(value, list) and len(value) in (2, 4) and all(_is_int(v) and v >= 0 for v in value):
        if len(value) == 2:
            return (value[0], value[0], value[1], value[1])
        return tuple(value)  # type: ignore[return-value]
    raise ValueError(
        "expected an int >= 0, [pH, pW], [top, bottom, left, right], 'same' or 'valid'"
        + _suggest(value, ["same", "valid"])
    )


def _check_choice(allowed: Sequence[str]):
    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        raise ValueError("expected one of " + ", ".join(allowed) + _suggest(value, allowed))

    return check


def _check_rejects(value: Any) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise ValueError("expected true/false or a substring of torch's error message")


def _check_positive_int(value: Any) -> int:
    if _is_int(value) and value >= 1:
        return value
    raise ValueError("expected a positive int")


def literal_shape(value: Any) -> tuple[int, ...]:
    """Shape of a nested list of numbers; ValueError if ragged, empty or non-numeric."""
    if isinstance(value, bool) or isinstance(value, str):
        raise ValueError(f"literal arrays hold numbers only, found {value!r}")
    if isinstance(value, (int, float)):
        return ()
    if not isinstance(value, list):
        raise ValueError(f"literal arrays hold numbers only, found {type(value).__name__}")
    if not value:
        raise ValueError("literal arrays must not be empty")
    shapes = {literal_shape(item) for item in value}
    if len(shapes) != 1:
        raise ValueError("ragged literal array: rows have different lengths")
    return (len(value), *shapes.pop())


def _check_literal(value: Any) -> list:
    shape = literal_shape(value)
    if len(shape) > 4:
        raise ValueError(f"literal arrays have at most 4 axes, found {len(shape)}")
    return value


_PAIR_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
    ]
}
_PADDING_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 4, "maxItems": 4},
        {"enum": ["same", "valid"]},
    ]
}
_LITERAL_SCHEMA = {"type": "array", "description": "nested list of numbers (rank <= 4)"}

Stride = Annotated[Any, BeforeValidator(_check_stride), WithJsonSchema(_PAIR_SCHEMA)]
Dilation = Annotated[Any, BeforeValidator(_check_dilation), WithJsonSchema(_PAIR_SCHEMA)]
Padding = Annotated[Any, BeforeValidator(_check_padding), WithJsonSchema(_PADDING_SCHEMA)]
PositiveInt = Annotated[
    Any, BeforeValidator(_check_positive_int), WithJsonSchema({"type": "integer", "minimum": 1})
]
Dtype = Annotated[Any, BeforeValidator(_check_choice(DTYPES)), WithJsonSchema({"enum": list(DTYPES)})]
PaddingMode = Annotated[
    Any, BeforeValidator(_check_choice(PADDING_MODES)), WithJsonSchema({"enum": list(PADDING_MODES)})
]
LiteralArray = Annotated[Any, BeforeValidator(_check_literal), WithJsonSchema(_LITERAL_SCHEMA)]
Word = Annotated[str, Field(pattern=ID_PATTERN)]
Cause = Annotated[
    Any, BeforeValidator(_check_choice(tuple(CAUSES))), WithJsonSchema({"enum": list(CAUSES)})
]


class TensorSpec(BaseModel):
    """A generated tensor: `init` over `shape`, seeded (numpy Generator)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shape: Annotated[list[PositiveInt], Field(min_length=1, max_length=4)]
    init: Literal["normal", "uniform", "integers", "ones", "zeros", "arange", "impulse"]
    seed: int = 0
    low: float | None = None
    high: float | None = None
    std: Annotated[float, Field(gt=0)] | None = None
    at: list[int] | None = None


def _tensor_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "spec"
    if isinstance(value, list):
        return "literal"
    return None


Tensor = Annotated[
    Union[Annotated[TensorSpec, Tag("spec")], Annotated[LiteralArray, Tag("literal")]],
    Discriminator(
        _tensor_kind,
        custom_error_type="tensor_type",
        custom_error_message="expected a tensor spec {shape, init, ...} or a literal nested list",
    ),
]


class CaseFields(BaseModel):
    """The fields a case may set (also allowed in `defaults` and in a sweep's `base`)."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    tags: list[Word] = Field(default_factory=list)
    input: Tensor
    weight: Tensor
    bias: Tensor | None = None
    stride: Stride = (1, 1)
    padding: Padding = (0, 0, 0, 0)
    dilation: Dilation = (1, 1)
    groups: PositiveInt = 1
    padding_mode: PaddingMode = "zeros"
    dtype: Dtype = "float64"
    expected: LiteralArray | None = None
    rejects: Annotated[
        Any, BeforeValidator(_check_rejects),
        WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "string", "minLength": 1}]}),
    ] = False
    diverges: dict[str, Cause] = Field(
        default_factory=dict,
        description="implementations known to diverge on this case, with the expected cause "
        "(a documented semantic difference, e.g. scipy spreading NaN through dilation zeros)",
    )


class CaseModel(CaseFields):
    """One case: its fields plus a unique id."""

    id: Word


class SweepModel(BaseModel):
    """A sweep: `vary` expands over `base` into one case per combination."""

    model_config = ConfigDict(extra="forbid")

    id: Word
    description: str = ""
    tags: list[Word] = Field(default_factory=list)
    base: dict[str, Any]
    vary: dict[str, Annotated[list[Any], Field(min_length=1)]]


class CaseFileModel(BaseModel):
    """Top level of a case file (used for the JSON Schema; loading checks keys itself)."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] | None = None
    cases: list[CaseModel] = Field(default_factory=list)
    sweeps: list[SweepModel] = Field(default_factory=list)


CASE_FIELD_NAMES = tuple(CaseFields.model_fields)
TENSOR_FIELDS = ("input", "weight", "bias")


# ---------------------------------------------------------------------------------------------
# The normalised case the rest of the harness works with.
# ---------------------------------------------------------------------------------------------


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
        return _extended_shape(self.input, 4)  # type: ignore[return-value]

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return _extended_shape(self.weight, 4)  # type: ignore[return-value]

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return None if self.bias is None else _extended_shape(self.bias, 1)

    @property
    def effective_kernel(self) -> tuple[int, int]:
        _, _, kh, kw = self.weight_shape
        return (self.dilation[0] * (kh - 1) + 1, self.dilation[1] * (kw - 1) + 1)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """Explicit (top, bottom, left, right) padding; 'same' puts the extra pixel bottom/right."""
        return resolve_padding(self.padding, self.effective_kernel)

    @property
    def reduction_length(self) -> int:
        """K = (C_in/groups) * kH * kW: the number of products summed into one output element."""
        _, cg, kh, kw = self.weight_shape
        return cg * kh * kw

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n, _, h, w = self.input_shape
        top, bottom, left, right = self.pads
        ekh, ekw = self.effective_kernel
        ho = (h + top + bottom - ekh) // self.stride[0] + 1
        wo = (w + left + right - ekw) // self.stride[1] + 1
        return (n, self.weight_shape[0], ho, wo)

    @property
    def padding_label(self) -> str:
        if isinstance(self.padding, str):
            return self.padding
        t, b, l, r = self.padding
        if t == b == l == r:
            return str(t)
        if t == b and l == r:
            return f"{t}x{l}"
        return f"{t},{b},{l},{r}"


def resolve_padding(padding, effective_kernel: tuple[int, int]) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        total_h, total_w = effective_kernel[0] - 1, effective_kernel[1] - 1
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    return tuple(padding)  # type: ignore[return-value]


def _extended_shape(tensor: Any, rank: int) -> tuple[int, ...]:
    shape = tuple(tensor.shape) if isinstance(tensor, TensorSpec) else literal_shape(tensor)
    return (1,) * (rank - len(shape)) + shape


# ---------------------------------------------------------------------------------------------
# Consistency checks across fields.
# ---------------------------------------------------------------------------------------------


def torch_rejection(case: Case) -> tuple[str, str] | None:
    """(field, reason) if torch's conv2d (with nn.Conv2d's padding modes) would reject the case."""
    n, c_in, h, w = case.input_shape
    c_out, c_per_group, kh, kw = case.weight_shape
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
        return ("padding", f"reflect padding {list(case.pads)} must be smaller than the input {h}x{w}")
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
        shape = tensor.shape if isinstance(tensor, TensorSpec) else literal_shape(tensor)
        if len(shape) > rank:
            problems.append((name, f"has {len(shape)} axes, at most {rank} allowed"))
        if isinstance(tensor, TensorSpec):
            problems.extend((f"{name}.{f}", m) for f, m in _spec_problems(tensor))
    if problems:
        return problems
    if case.bias is not None and case.bias_shape != (case.weight_shape[0],):
        problems.append(
            ("bias", f"has shape {list(case.bias_shape)}, expected [{case.weight_shape[0]}] (C_out)")
        )
    if case.expected is not None and case.rejects is not False:
        problems.append(("expected", "a case that declares `rejects` has no output to expect"))
    elif case.expected is not None and case.skip_reason is None and torch_rejection(case) is None:
        shape = _extended_shape(case.expected, 4)
        if len(literal_shape(case.expected)) > 4 or shape != case.output_shape:
            problems.append(
                ("expected", f"has shape {list(shape)} but the output shape is {list(case.output_shape)}")
            )
    return problems


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
            not 0 <= a < s for a, s in zip(spec.at, spec.shape)
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


# ---------------------------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------------------------


def _format_loc(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("spec", "literal"):
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pydantic_problems(error: ValidationError, model_fields: Sequence[str]) -> list[tuple[str, str]]:
    items = error.errors(include_url=False)
    # a misspelt key ("wieght") also leaves its field missing: report it once, as the typo
    misspelt = set()
    for item in items:
        if item["type"] == "extra_forbidden":
            allowed = list(TensorSpec.model_fields) if len(item["loc"]) > 1 else list(model_fields)
            close = difflib.get_close_matches(str(item["loc"][-1]).lower(), allowed, n=1, cutoff=0.6)
            if close:
                misspelt.add((*item["loc"][:-1], close[0]))
    problems = []
    for item in items:
        if item["type"] == "missing" and tuple(item["loc"]) in misspelt:
            continue
        loc = _format_loc(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            last = item["loc"][-1]
            allowed = list(TensorSpec.model_fields) if len(item["loc"]) > 1 else list(model_fields)
            message = "unknown key" + _suggest(last, allowed)
            if "did you mean" not in message:
                message += "; allowed: " + ", ".join(allowed)
        elif item["type"] == "missing":
            message = "is required"
        elif "input" in item and item["type"] not in ("tensor_type",):
            message += f"; got {_short(item['input'])}"
        elif item["type"] == "tensor_type":
            message += f"; got {_short(item.get('input'))}"
        problems.append((loc or "(case)", message))
    return problems


class _FileProblems:
    """Collects one-line problems for one file."""

    def __init__(self, path: str):
        self.path = path
        self.lines: list[str] = []

    def add(self, where: str | None, field_name: str | None, message: str) -> None:
        parts = [self.path]
        if where:
            parts.append(where)
        if field_name:
            parts.append(f"field '{field_name}'")
        self.lines.append(": ".join(parts) + ": " + message)


def _validate_case_dict(data: dict, where: str, problems: _FileProblems) -> CaseModel | None:
    try:
        return CaseModel.model_validate(data)
    except ValidationError as error:
        for loc, message in _pydantic_problems(error, ["id", *CASE_FIELD_NAMES]):
            problems.add(where, loc, message)
        return None


def _to_case(model: CaseModel, path: str, raw: dict, sweep: str | None = None) -> Case:
    return Case(
        id=model.id,
        file=path,
        description=model.description,
        tags=tuple(model.tags),
        input=model.input,
        weight=model.weight,
        bias=model.bias,
        stride=model.stride,
        padding=model.padding,
        dilation=model.dilation,
        groups=model.groups,
        padding_mode=model.padding_mode,
        dtype=model.dtype,
        expected=model.expected,
        diverges=dict(model.diverges),
        rejects=model.rejects,
        sweep=sweep,
        raw=raw,
    )


def _value_token(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, str)):
        return re.sub(r"[^a-z0-9]+", "", str(value).lower()) or "x"
    if isinstance(value, float):
        return re.sub(r"[^a-z0-9]+", "p", repr(value).lower())
    if isinstance(value, list):
        return "x".join(_value_token(v) for v in value)
    return "v"


def _case_where(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return f"case '{raw['id']}'"
    return f"cases[{index}]"


def _check_case(case: Case, where: str, problems: _FileProblems, in_sweep: bool) -> Case | None:
    """Cross-field checks; torch rejections make a sweep combination skipped, a case invalid."""
    consistency = consistency_problems(case)
    if consistency:
        for field_name, message in consistency:
            problems.add(where, field_name, message)
        return None
    rejection = torch_rejection(case)
    if case.rejects is not False:
        # the run checks that torch rejects it too (and reports any disagreement as a row)
        return replace(case, rejection=None if rejection is None else rejection[1])
    if rejection is None:
        return case
    if in_sweep:
        return replace(case, skip_reason=f"torch rejects it: {rejection[1]}")
    problems.add(where, rejection[0], rejection[1] + " (torch rejects this configuration)")
    return None


def _load_file(path: str) -> tuple[list[Case], list[str]]:
    problems = _FileProblems(path)
    document = read_yaml(path)
    if document is None:
        return [], [f"{path}: holds no cases or sweeps (the file is empty)"]
    if not isinstance(document, dict):
        return [], [f"{path}: expected a mapping with 'cases' and/or 'sweeps' at the top level"]
    top_keys = ("defaults", "cases", "sweeps")
    for key in document:
        if key not in top_keys:
            problems.add(None, str(key), "unknown top-level key" + _suggest(str(key), top_keys)
                         + "; allowed: defaults, cases, sweeps")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.add(None, "defaults", "expected a mapping of case fields")
        defaults = {}
    for key in defaults:
        if key not in CASE_FIELD_NAMES:
            problems.add("defaults", str(key), "not a case field" + _suggest(str(key), CASE_FIELD_NAMES))
    defaults = {k: v for k, v in defaults.items() if k in CASE_FIELD_NAMES}

    cases: list[Case] = []
    raw_cases = document.get("cases") or []
    if not isinstance(raw_cases, list):
        problems.add(None, "cases", "expected a list of cases")
        raw_cases = []
    for index, raw in enumerate(raw_cases):
        where = _case_where(raw, index)
        if not isinstance(raw, dict):
            problems.add(where, None, f"expected a mapping, got {_short(raw)}")
            continue
        merged = {**defaults, **raw}
        model = _validate_case_dict(merged, where, problems)
        if model is not None:
            checked = _check_case(_to_case(model, path, raw), where, problems, in_sweep=False)
            if checked is not None:
                cases.append(checked)

    raw_sweeps = document.get("sweeps") or []
    if not isinstance(raw_sweeps, list):
        problems.add(None, "sweeps", "expected a list of sweeps")
        raw_sweeps = []
    for index, raw in enumerate(raw_sweeps):
        cases.extend(_expand_sweep(raw, index, defaults, path, problems))

    if not document.get("cases") and not document.get("sweeps") and not problems.lines:
        problems.add(None, None, "holds no cases or sweeps")
    return cases, problems.lines


def _expand_sweep(raw: Any, index: int, defaults: dict, path: str, problems: _FileProblems) -> list[Case]:
    where = (
        f"sweep '{raw['id']}'"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str)
        else f"sweeps[{index}]"
    )
    try:
        sweep = SweepModel.model_validate(raw)
    except ValidationError as error:
        for loc, message in _pydantic_problems(error, list(SweepModel.model_fields)):
            problems.add(where, loc, message)
        return []
    bad_keys = [k for k in [*sweep.base, *sweep.vary] if k not in CASE_FIELD_NAMES]
    for key in bad_keys:
        problems.add(where, key, "not a case field" + _suggest(key, CASE_FIELD_NAMES))
    if bad_keys:
        return []
    names = list(sweep.vary)
    cases = []
    for values in itertools.product(*(sweep.vary[n] for n in names)):
        tokens = [f"{n}{_value_token(v)}" for n, v in zip(names, values)]
        case_id = "_".join([sweep.id, *tokens])
        combination = dict(zip(names, values))
        raw_case = {"id": case_id, **sweep.base, **combination}
        if sweep.description:
            raw_case.setdefault("description", sweep.description)
        raw_case["tags"] = list(dict.fromkeys([*sweep.tags, *sweep.base.get("tags", [])]))
        combo_where = f"sweep '{sweep.id}' case '{case_id}'"
        model = _validate_case_dict({**defaults, **raw_case}, combo_where, problems)
        if model is None:
            continue
        checked = _check_case(
            _to_case(model, path, raw_case, sweep=sweep.id), combo_where, problems, in_sweep=True
        )
        if checked is not None:
            cases.append(checked)
    return cases


def case_from_dict(raw: dict, source: str = "<generated>") -> Case:
    """Validate one case mapping (file format, with id) into a Case; CaseFileError if invalid."""
    problems = _FileProblems(source)
    where = _case_where(raw, 0)
    model = _validate_case_dict(dict(raw), where, problems)
    case = None
    if model is not None:
        case = _check_case(_to_case(model, source, dict(raw)), where, problems, in_sweep=False)
    if problems.lines or case is None:
        raise CaseFileError(problems.lines or [f"{source}: {where}: invalid"])
    return case


def discover(paths: Sequence[str | os.PathLike] | None) -> list[str]:
    """Case files under the given files/directories (default: ./cases), in a stable order."""
    if not paths:
        paths = ["cases"]
    files: list[str] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in CASE_SUFFIXES and p.is_file()
            )
            if not found:
                raise CaseFileError(f"{entry}: directory holds no .yaml case files")
            files.extend(str(p) for p in found)
        elif path.is_file():
            files.append(str(path))
        else:
            raise CaseFileError(f"{entry}: no such file or directory")
    return list(dict.fromkeys(files))


def load_cases(paths: Sequence[str | os.PathLike] | str | os.PathLike | None = None) -> list[Case]:
    """Load, validate and expand every case under `paths` (files or directories; default ./cases).

    Raises CaseFileError listing every problem (one line each) if any file is invalid.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    problems: list[str] = []
    cases: list[Case] = []
    for path in discover(paths):
        try:
            file_cases, file_problems = _load_file(path)
        except CaseFileError as error:
            problems.extend(error.problems)
            continue
        problems.extend(file_problems)
        cases.extend(file_cases)
    seen: dict[str, Case] = {}
    for case in cases:
        if case.id in seen:
            problems.append(
                f"{case.file}: case '{case.id}': field 'id': duplicate id, also defined in "
                f"{seen[case.id].file}; ids must be unique across files"
            )
        else:
            seen[case.id] = case
    if problems:
        raise CaseFileError(problems)
    return [replace(case, index=i) for i, case in enumerate(cases)]


def case_json_schema() -> dict:
    """JSON Schema (draft 2020-12) of a case file, for editors and external validators."""
    import copy

    schema = CaseFileModel.model_json_schema()
    definitions = schema["$defs"]
    case = definitions["CaseModel"]
    for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        case["properties"][name]["default"] = default
    fields = copy.deepcopy(case)
    fields["properties"].pop("id")
    fields.pop("required", None)
    fields["title"] = "CaseFields"
    fields["description"] = "Case fields, all optional (file defaults and a sweep's base)."
    definitions["CaseFields"] = fields
    schema["properties"]["defaults"] = {
        "anyOf": [{"$ref": "#/$defs/CaseFields"}, {"type": "null"}],
        "description": "Applied to every case (and sweep) in this file.",
    }
    sweep = definitions["SweepModel"]["properties"]
    sweep["base"] = {"$ref": "#/$defs/CaseFields"}
    sweep["vary"] = {
        "type": "object",
        "propertyNames": {"enum": [f for f in CASE_FIELD_NAMES if f != "expected"]},
        "additionalProperties": {"type": "array", "minItems": 1},
        "description": "One case per combination of these values (cartesian product).",
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "conv-harness case file"
    return schema
