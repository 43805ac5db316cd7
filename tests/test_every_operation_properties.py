"""No probe or row ever ends in a traceback: hypothesis draws valid configurations of every
operation (conv1d/2d/3d and conv_transpose1d/2d/3d, every dtype with complex, empty batches, every
padding form and mode where valid, NaN/Inf now and then, a grad_output) and runs them through
`run --backward --layouts all` (harness.running.runner.run_case) with the built-ins and plug-ins
written for this test in NumPy (tests.data.every_operation: a correct one, one whose results are one
element short, one that raises, one with a NaN in every result), and through diagnose's probe
runner. No row carries a harness fault, every status is one the report knows, and the honest
implementations (torch, scipy, the reference, the correct plug-in) are ok on every quantity and
layout; the misbehaving plug-ins fail as they should, never as the harness's own fault."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from harness.cases import DTYPES, case_from_dict
from harness.cases.layouts import parse_layouts
from harness.computations.registry import resolve_implementations
from harness.probing.diagnose import diagnose, run_probe
from harness.probing.probes import probes_for
from harness.running.runner import RunOptions, run_case
from harness.strategies import conv_cases, conv_transpose_cases

PLUGINS = {
    behaviour: f"tests.data.every_op_{behaviour}"
    for behaviour in ("correct", "wrong_shape", "raises", "nan")
}
HONEST = ("torch", "scipy", "reference", PLUGINS["correct"])
IMPLEMENTATIONS = resolve_implementations(["torch", "scipy", "reference", *PLUGINS.values()])
OPTIONS = RunOptions(backward=True, layouts=parse_layouts("all"))
STATUSES = {
    "ok",
    "hidden",
    "unexpected_divergence",
    "unexpected_agreement",
    "error",
    "unsupported",
    "rejected",
    "accepts_invalid",
}
PROBE_STATUSES = {"ok", "diverges", "unsupported", "error"}

every_operation = st.one_of(
    conv_cases(dtypes=DTYPES, nonfinite=True, grad_output=True, max_channels=3),
    conv_transpose_cases(dtypes=DTYPES, nonfinite=True, grad_output=True, max_channels=3),
)


def _profile(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _check_rows(raw: dict) -> None:
    case = case_from_dict(raw)
    rows = run_case(case, IMPLEMENTATIONS, OPTIONS)
    assert rows
    quantities = {(r.implementation, r.quantity) for r in rows if r.variant == "as_is"}
    for row in rows:
        where = (row.implementation, row.variant, row.quantity, row.layout, row.message)
        assert "harness fault" not in row.message, where
        assert "Traceback" not in row.message, where
        assert row.status in STATUSES, where
        if row.variant != "as_is":
            assert row.status in ("ok", "hidden"), where
        elif row.implementation in HONEST:
            assert row.status == "ok", where
        elif row.implementation == PLUGINS["raises"]:
            assert row.status in ("error", "unsupported"), where
        elif row.implementation == PLUGINS["wrong_shape"]:
            assert row.status != "ok", where  # a result one element short is never right
    for name in ("torch", PLUGINS["correct"]):  # the gradients were all checked
        assert {(name, q) for q in ("output", "grad_input", "grad_weight")} <= quantities


def _check_probes(raw: dict) -> None:
    """A drawn forward configuration as a diagnose probe of each implementation's operation."""
    case = case_from_dict(raw)
    if case.transposed:
        return  # diagnose probes transposed operations with its own probes (below)
    fields = {k: v for k, v in raw.items() if k not in ("id", "grad_output")}
    probe = replace(probes_for(case.rank)[0], fields=fields, description="a drawn configuration")
    for implementation in IMPLEMENTATIONS:
        name = implementation.name
        result = run_probe(implementation.operations[case.op], probe, case)
        assert result.status in PROBE_STATUSES, (name, result.finding)
        if name in HONEST:  # diagnose names the scipy leg's NaN spread, not excusing it
            assert result.status == "ok" or result.causes == ["nan"], (name, result.finding)
        if name == PLUGINS["raises"]:
            assert result.status in ("error", "unsupported"), (name, result.finding)


@_profile(examples(30))
@given(every_operation)
def test_no_row_or_probe_of_any_operation_ends_in_a_traceback(raw):
    _check_rows(raw)
    _check_probes(raw)


@pytest.mark.slow
@_profile(400)
@given(every_operation)
def test_no_row_or_probe_ends_in_a_traceback_on_many_configurations(raw):
    _check_rows(raw)
    _check_probes(raw)


@pytest.mark.parametrize(
    ("behaviour", "verdicts"),
    [
        ("correct", {"matches"}),
        ("raises", {"error"}),
        ("wrong_shape", {"diverges"}),
        ("nan", {"diverges"}),
    ],
)
def test_diagnose_probes_every_operation_of_a_plugin_without_a_traceback(behaviour, verdicts):
    name = PLUGINS[behaviour]
    (implementation,) = resolve_implementations([name])
    diagnosis = diagnose(implementation)
    assert diagnosis.verdict in verdicts, [(r.probe.label, r.finding) for r in diagnosis.results]
    for result in diagnosis.results:
        assert result.status in PROBE_STATUSES, (result.probe.label, result.finding)
        assert "harness fault" not in result.finding, (result.probe.label, result.finding)
    probed = {result.probe.op for result in diagnosis.results}
    assert {f"conv{r}d" for r in (1, 2, 3)} <= probed
