"""diagnose's padding words state what was measured: an implementation that reads the kernel
undilated under padding 'same' pads (1, 1) where torch pads (2, 2); its 'same' dilated probes
name the family (`dilation`) and the pads the reading measured, never torch's words for 'same'
counting the dilated kernel. The same words name the pads in `run`'s explanation of such a case.
"""

from __future__ import annotations

from harness.cases import case_from_dict
from harness.cases.data import materialize
from harness.computations.registry import resolve
from harness.explaining.explanation import explain_output
from harness.probing.diagnose import diagnose
from harness.verdicts.baseline import compute_baseline

PLUGIN = "tests.data.same_undilated"


def test_the_same_dilated_probes_state_the_pads_they_measured():
    result = diagnose(resolve(PLUGIN))
    probes = {r.probe.label: r for r in result.results if r.probe.property == "same_dilated"}
    expected = {  # kernels of 4 (1-D) and 3 taps dilated by 2 along the first axis
        "conv1d:same_dilated": "'same' then pads L (1, 2) where torch pads (3, 3)",
        "same_dilated": "'same' then pads H (1, 1) where torch pads (2, 2)",
        "conv3d:same_dilated": "'same' then pads D (1, 1) where torch pads (2, 2)",
    }
    assert set(probes) == set(expected)
    for label, words in expected.items():
        probe = probes[label]
        assert probe.status == "diverges", probe.finding
        assert probe.causes == ["dilation"], probe.finding
        assert words in probe.finding
        assert "as torch" not in probe.finding


def test_the_explanation_of_a_same_case_names_the_pads_its_reading_measured():
    """An output computed with dilation 1 and pads (1, 1) for a 'same' case of dilation 2: the
    family is dilation, and the finding says the pads moved with it."""
    raw = {
        "id": "same_kept",
        "dtype": "float64",
        "input": {"shape": [1, 1, 9], "init": "integers", "low": -3, "high": 4, "seed": 1},
        "weight": {"shape": [1, 1, 3], "init": "integers", "low": -3, "high": 4, "seed": 2},
        "padding": "same",
        "dilation": 2,
    }
    case = case_from_dict(raw)
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays)
    wrong = case_from_dict({**raw, "padding": [1, 1], "dilation": 1})
    observed = compute_baseline(wrong, materialize(wrong)).output
    explanation = explain_output(case, arrays, observed, baseline)
    assert explanation.causes == ["dilation"]
    assert explanation.findings[0].endswith("'same' then pads L (1, 1) where torch pads (2, 2)")
