"""The counterexample a diagnosis ends with: a diverging (or failing) probe written as a
self-contained case, named after the cause(s) it shows.

A forward probe becomes literal arrays with torch's output as `expected` (`counterexample_dict`);
a backward or transposed probe its configuration (`quantity_counterexample`). Both are of the
probe's rank (its `op` named where a literal would not say it) and ready for `--save-case`.
"""

from __future__ import annotations

import re

import numpy as np

from harness.cases.data import materialize
from harness.cases.loading import TensorSpec
from harness.probing.probes import ProbeResult
from harness.verdicts.baseline import compute_baseline


def counterexample_id(result: ProbeResult, impl: str) -> str:
    """Named after what it shows: its causes (kernel_flip), else its status (error)."""
    shows = "_".join(result.causes) or result.status
    return "counterexample_" + _slug(impl) + "_" + _slug(shows)


def _found(result: ProbeResult, impl: str) -> str:
    shows = "+".join(result.causes) or result.status
    return (
        f"Found by `conv-harness diagnose {impl}` ({shows}) on its {result.probe.label} probe: "
        f"{result.probe.description}."
    )


def quantity_counterexample(result: ProbeResult, impl: str) -> dict:
    """A backward or transposed probe's configuration, as a case."""
    return {
        "id": counterexample_id(result, impl),
        "description": _found(result, impl),
        "tags": ["counterexample", *result.causes],
        **{k: v for k, v in result.case.raw.items() if k not in ("id", "description", "tags")},
    }


def counterexample_dict(result: ProbeResult, impl: str) -> dict:
    """The diverging probe as a self-contained case (literal arrays, torch's output expected)."""
    case = result.case
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays).output

    def literal(array: np.ndarray):
        values = array.tolist()
        return _plain(values)

    raw: dict = {
        "id": counterexample_id(result, impl),
        "description": _found(result, impl),
        "tags": ["counterexample", *[c for c in result.causes if c]],
    }
    if case.rank != 2:  # a literal of fewer than 5 axes does not say its rank
        raw["op"] = case.op
    small = all(
        not isinstance(t, TensorSpec) or np.prod(t.shape) <= 400 for t in (case.input, case.weight)
    )
    for name, array in (
        ("input", arrays.input64),
        ("weight", arrays.weight64),
        ("bias", arrays.bias64),
    ):
        if array is None:
            continue
        spec = getattr(case, name)
        raw[name] = (
            literal(array)
            if small
            else (spec.model_dump(exclude_none=True) if isinstance(spec, TensorSpec) else spec)
        )
    for key in ("stride", "dilation"):
        value = getattr(case, key)
        if set(value) != {1}:
            raw[key] = list(value) if len(set(value)) > 1 else value[0]
    if case.padding != "valid" and any(case.pads):
        raw["padding"] = case.padding if isinstance(case.padding, str) else _padding(case.padding)
    if case.padding_mode != "zeros":
        raw["padding_mode"] = case.padding_mode
    if case.groups != 1:
        raw["groups"] = case.groups
    if case.dtype != "float64":
        raw["dtype"] = case.dtype
    if (
        small
        and case.dtype == "float64"
        and np.all(np.isfinite(baseline))
        and np.array_equal(baseline, np.round(baseline))
    ):
        raw["expected"] = literal(baseline)
    return raw


def _padding(pads):
    """Flat (before, after) per axis in the shortest form a case file reads the same: one int,
    one value per axis, or the flat list."""
    befores, afters = list(pads[0::2]), list(pads[1::2])
    if len(set(pads)) == 1:
        return pads[0]
    if befores == afters:
        return befores
    return list(pads)


def _plain(values):
    if isinstance(values, list):
        return [_plain(v) for v in values]
    if isinstance(values, complex):  # a case file's complex literal: "1+2j"
        real, imag = _plain(values.real), _plain(values.imag)
        return f"{real}{'+' if imag >= 0 else '-'}{abs(imag)}j"
    return int(values) if float(values).is_integer() else float(values)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "impl"
