"""Sweeps: one case per combination of the values a sweep varies, ids derived from the values;
combinations torch rejects are kept as skipped cases with the reason."""

from __future__ import annotations

import itertools
import re
from typing import Any

from pydantic import ValidationError

from harness.cases.case import Case
from harness.cases.schema import CASE_FIELD_NAMES, SweepModel, suggest
from harness.cases.validation import (
    FileProblems,
    check_case,
    pydantic_problems,
    to_case,
    validate_case_dict,
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


def expand_sweep(
    raw: Any, index: int, defaults: dict, path: str, problems: FileProblems
) -> list[Case]:
    where = (
        f"sweep '{raw['id']}'"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str)
        else f"sweeps[{index}]"
    )
    try:
        sweep = SweepModel.model_validate(raw)
    except ValidationError as error:
        for loc, message in pydantic_problems(error, list(SweepModel.model_fields)):
            problems.add(where, loc, message)
        return []
    bad_keys = [k for k in [*sweep.base, *sweep.vary] if k not in CASE_FIELD_NAMES]
    for key in bad_keys:
        problems.add(where, key, "not a case field" + suggest(key, CASE_FIELD_NAMES))
    if bad_keys:
        return []
    names = list(sweep.vary)
    cases = []
    for values in itertools.product(*(sweep.vary[n] for n in names)):
        tokens = [f"{n}{_value_token(v)}" for n, v in zip(names, values, strict=True)]
        case_id = "_".join([sweep.id, *tokens])
        combination = dict(zip(names, values, strict=True))
        raw_case = {"id": case_id, **sweep.base, **combination}
        if sweep.description:
            raw_case.setdefault("description", sweep.description)
        raw_case["tags"] = list(dict.fromkeys([*sweep.tags, *sweep.base.get("tags", [])]))
        combo_where = f"sweep '{sweep.id}' case '{case_id}'"
        model = validate_case_dict({**defaults, **raw_case}, combo_where, problems)
        if model is None:
            continue
        checked = check_case(
            to_case(model, path, raw_case, combo_where, problems, sweep=sweep.id),
            combo_where,
            problems,
            in_sweep=True,
        )
        if checked is not None:
            cases.append(checked)
    return cases
