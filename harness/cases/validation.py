"""From a raw case dictionary to a Case, with every problem as one line naming file, case and
field (collected per file, so that all of a file's problems are reported together)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from harness.cases.case import Case, FieldProblem, flat_padding, forward_op, infer_rank, per_axis
from harness.cases.rules import consistency_problems, torch_rejection
from harness.cases.schema import CASE_FIELD_NAMES, CaseModel, TensorSpec, suggest


def _format_loc(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("spec", "literal", "[key]"):  # a union's tag; a mapping key's own error
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pydantic_problems(error: ValidationError, model_fields: Sequence[str]) -> list[tuple[str, str]]:
    items = error.errors(include_url=False)
    # a misspelt key ("wieght") also leaves its field missing: report it once, as the typo
    misspelt = set()
    for item in items:
        if item["type"] == "extra_forbidden":
            allowed = list(TensorSpec.model_fields) if len(item["loc"]) > 1 else list(model_fields)
            close = difflib.get_close_matches(
                str(item["loc"][-1]).lower(), allowed, n=1, cutoff=0.6
            )
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
            message = "unknown key" + suggest(last, allowed)
            if "did you mean" not in message:
                message += "; allowed: " + ", ".join(allowed)
        elif item["type"] == "missing":
            message = "is required"
        elif item["loc"] and item["loc"][-1] == "[key]":
            pass  # the key is the last part of the field's name already
        elif "input" in item and item["type"] not in ("tensor_type",):
            message += f"; got {short(item['input'])}"
        elif item["type"] == "tensor_type":
            message += f"; got {short(item.get('input'))}"
        problems.append((loc or "(case)", message))
    return problems


class FileProblems:
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


def validate_case_dict(data: dict, where: str, problems: FileProblems) -> CaseModel | None:
    try:
        return CaseModel.model_validate(data)
    except ValidationError as error:
        for loc, message in pydantic_problems(error, ["id", *CASE_FIELD_NAMES]):
            problems.add(where, loc, message)
        return None


def to_case(
    model: CaseModel,
    path: str,
    raw: dict,
    where: str,
    problems: FileProblems,
    sweep: str | None = None,
) -> Case | None:
    """The Case of a validated model, its per-axis fields read at the case's rank (problems
    added, None returned, where a field has the wrong number of values)."""
    tensors = (model.input, model.weight, model.grad_output)
    axes = {
        "stride": model.stride,
        "dilation": model.dilation,
        "output_padding": model.output_padding,
        "padding": model.padding,
    }
    rank = infer_rank(model.op, tensors, axes)
    op = model.op or forward_op(rank)
    try:
        stride = per_axis(model.stride, rank, "stride")
        dilation = per_axis(model.dilation, rank, "dilation")
        output_padding = per_axis(model.output_padding, rank, "output_padding")
        padding = flat_padding(model.padding, rank)
    except FieldProblem as problem:
        problems.add(where, problem.field_name, str(problem))
        return None
    return Case(
        id=model.id,
        file=path,
        description=model.description,
        tags=tuple(model.tags),
        input=model.input,
        weight=model.weight,
        bias=model.bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=model.groups,
        padding_mode=model.padding_mode,
        dtype=model.dtype,
        op=op,
        output_padding=output_padding,
        grad_output=model.grad_output,
        expected=model.expected,
        diverges=dict(model.diverges),
        layouts=tuple(model.layouts),
        rejects=model.rejects,
        sweep=sweep,
        raw=raw,
    )


def case_where(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return f"case '{raw['id']}'"
    return f"cases[{index}]"


def check_case(
    case: Case | None, where: str, problems: FileProblems, in_sweep: bool
) -> Case | None:
    """Cross-field checks; torch rejections make a sweep combination skipped, a case invalid."""
    if case is None:
        return None
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
