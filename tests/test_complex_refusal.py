"""One rule for real-only code on complex data (harness.computations.calling.complex_refusal), in
`run`'s forward and backward rows and in `diagnose`'s probes: an implementation that refuses complex
inputs (NotImplementedError, or any exception as a library that never checks raises) is
`unsupported`, never an error; and a refused complex probe is never retried in float32, which
would show nothing about complex numbers yet report torch's complex behaviour.

tests/data/real_only.py refuses complex inputs at every rank, forward and backward, with
NotImplementedError, or TypeError when its `typed` attribute is set.
"""

from __future__ import annotations

import pytest

from harness import load_cases
from harness.cases import case_from_dict
from harness.computations.registry import resolve, resolve_implementations
from harness.probing.diagnose import diagnose
from harness.probing.diagnosis import human_lines
from harness.running.runner import RunOptions, run_case

PLUGIN = "tests.data.real_only"


@pytest.fixture(params=[False, True], ids=["NotImplementedError", "TypeError"])
def refusing(request, monkeypatch):
    import tests.data.real_only as module

    monkeypatch.setattr(module, "typed", request.param)
    return "TypeError" if request.param else "NotImplementedError"


def _complex_cases():
    cases = load_cases(["cases/complex.yaml"])
    chosen = [c for c in cases if c.rejects is False][:6]
    transposed = case_from_dict(
        {
            "id": "complex_transposed",
            "op": "conv_transpose2d",
            "dtype": "complex128",
            "input": {"shape": [1, 2, 4, 4], "init": "normal", "seed": 1},
            "weight": {"shape": [2, 3, 3, 3], "init": "normal", "seed": 2},
            "bias": {"shape": [3], "init": "normal", "seed": 3},
            "stride": 2,
        }
    )
    return [*chosen, transposed]


def test_run_forward_and_backward_rows_of_a_refusal_are_unsupported(refusing):
    options = RunOptions(variants=False, backward=True)
    rows = [
        r
        for case in _complex_cases()
        for r in run_case(case, resolve_implementations([PLUGIN]), options)
        if r.implementation == PLUGIN
    ]
    quantities = {(r.op.startswith("conv_transpose"), r.quantity) for r in rows}
    assert {(False, "output"), (False, "grad_input"), (True, "output")} <= quantities
    for row in rows:
        assert row.status == "unsupported", (row.quantity, row.status, row.message)
        if "defines no" in row.message:  # it has no transposed backward
            continue
        assert refusing in row.message, row.message
        if refusing == "TypeError":  # an exception other than NotImplementedError says why
            assert row.message.startswith(f"complex numbers not supported ({row.dtype} inputs)")


def test_diagnose_says_complex_is_unsupported_and_claims_nothing_about_it(refusing):
    result = diagnose(resolve(PLUGIN))
    assert result.verdict == "matches"
    complex_probes = [r for r in result.results if r.probe.property.endswith("complex")]
    assert len(complex_probes) >= 9  # conv{1,2,3}d and both gradients of each rank
    for probe in complex_probes:
        assert probe.status == "unsupported", (probe.probe.label, probe.finding)
        assert not probe.retried, probe.finding
        assert "as torch" not in probe.finding
        assert "agrees" not in probe.finding
        assert refusing in probe.finding
    assert human_lines(result)[0].endswith("(complex numbers not supported)")
    assert "retried" not in human_lines(result)[0]
