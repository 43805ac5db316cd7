"""Honest families: a finding names a family member only where that member computes something
other than torch on the very case, so implementations that differ from torch by rounding alone
are `ok` or `precision`, never a family.

The rounding-only plug-ins (tests/data/rounding_only) compute torch's semantics in four ways the
harness never saw (the bias added after rounding, the taps summed in the dtype, the channels
summed last to first, float64 rounded once). The recorded cases (tests/data/honest_cases) are
where a float16 sum rounded before its bias was named `groups` (C_out = groups: o % groups is
torch's own mapping), `bias` (one output channel: reversed, it is itself) or `kernel_flip` (a 1x1
kernel: every flip is itself); the property test draws configurations of every rank, dtype and
operation, gradients included.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from harness import load_cases, run
from harness.cases import case_from_dict
from harness.computations.registry import resolve_implementations
from harness.explaining.torch_values import identical_values
from harness.running.runner import RunOptions, run_case
from harness.strategies import conv_cases, conv_transpose_cases
from harness.verdicts.compare import precision_models

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "honest_cases"
STYLES = ("f32_bias_after", "dtype_per_tap", "reversed_order", "f64_round")
MODULES = [f"tests.data.rounding_only.{style}" for style in STYLES]
HONEST_CAUSES = {"", "precision"}


@functools.cache
def _recorded_rows(module: str = MODULES[0]):
    frame = run(load_cases([str(CASES)]), [module], variants=False)
    return frame[frame.implementation == module]


@pytest.mark.parametrize(
    "case_id",
    [
        "f16_bias_after_rounding_groups_equal_cout",
        "f16_bias_after_rounding_one_output_channel",
        "f16_bias_after_rounding_one_tap",
        "bf16_bias_after_rounding_odd_factor",
    ],
)
def test_a_member_identical_to_torch_on_the_case_is_never_named(case_id):
    """Each recorded case diverges (the bias added after rounding moves some element past the
    case's allowance) and the divergence is rounding: `precision`, not the member that is torch's
    own semantics there, nor a bias factor within rounding of 1."""
    rows = _recorded_rows()
    row = rows[rows.case_id == case_id].iloc[0]
    assert (row.status, row.cause) == ("unexpected_divergence", "precision"), row.message


def test_rounding_past_the_ceiling_is_unknown_not_a_scaled_bias():
    rows = _recorded_rows("tests.data.rounding_only.dtype_per_tap")
    row = rows[rows.case_id == "bf16_taps_in_bfloat16_beyond_the_ceiling"].iloc[0]
    assert (row.status, row.cause) == ("unexpected_divergence", "unknown"), row.message


def test_identical_values_tells_roundoff_from_a_change():
    a = np.array([[1.0, -2.0, np.nan], [np.inf, 3.0, 0.5]])
    assert identical_values(a, a + 1e-13 * np.array([[1, 1, 0], [0, -1, 1]]))
    assert not identical_values(a, a * np.array([[1, 1, 1], [1, 1.001, 1]]))
    moved = a.copy()
    moved[0, 2], moved[0, 1] = -2.0, np.nan  # the NaN moved: another computation
    assert not identical_values(a, moved)
    assert not identical_values(a, -a)  # the infinity's sign differs


def test_grad_bias_reversed_or_averaged_where_that_is_the_sum_is_not_named():
    """grad_bias of one output channel and one image, one output position: reversed, averaged
    over the batch or over the positions, it is the sum itself. A value off by rounding only is
    then no `bias` finding."""
    from harness.explaining.quantity_explain import grad_bias_families
    from harness.verdicts.baseline import Baseline, rounded
    from harness.verdicts.compare import Magnitudes, tolerance

    case = case_from_dict(
        {
            "id": "one_channel",
            "dtype": "float16",
            "input": {"shape": [1, 1, 3, 3], "init": "normal", "seed": 1},
            "weight": {"shape": [1, 1, 3, 3], "init": "normal", "seed": 2},
            "bias": {"shape": [1], "init": "normal", "seed": 3},
        }
    )
    g = np.array([[[[0.7]]]])
    total = np.array([0.7])
    magnitudes = Magnitudes(total, np.abs(total), 0.0, 1, 1)
    baseline = Baseline(
        rounded(total, "float16"), magnitudes, tolerance(magnitudes, "float16"), "float16"
    )
    # three units in the last place off: past the case's allowance (about two), within float16
    # accumulation's (six): rounding, nothing else
    off = baseline.output * (1 + 3 * 2.0**-10)
    assert not (abs(off - baseline.output) <= baseline.tolerance.rtol * 0.7).all()
    found = grad_bias_families(case, g, off, baseline)
    assert found is None, found.findings


def _with_bias(draw, raw: dict) -> dict:
    """Every drawn case with a bias (the rounding styles differ most where it is added)."""
    if "bias" not in raw:
        channels = case_from_dict(raw).output_shape[1]
        seed = draw(st.integers(0, 2**16))
        raw = {**raw, "bias": {"shape": [channels], "init": "normal", "seed": seed}}
    return raw


@st.composite
def rounding_cases(draw):
    kind = draw(st.sampled_from(["conv", "conv_transpose"]))
    strategy = conv_cases if kind == "conv" else conv_transpose_cases
    raw = draw(
        strategy(
            dtypes=("float16", "bfloat16", "float32"),
            grad_output=True,
            max_channels=3,
            empty_batches=False,
        )
    )
    return _with_bias(draw, raw) if draw(st.integers(0, 3)) else raw


IMPLEMENTATIONS = resolve_implementations(MODULES)
OPTIONS = RunOptions(variants=False, backward=True)


@settings(
    max_examples=examples(150),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(rounding_cases())
def test_rounding_only_implementations_are_never_given_a_family(raw):
    case = case_from_dict(raw)
    # bfloat16 where K > 16: no narrower arithmetic stays under PRECISION_CEILING, so rounding
    # there (taps summed in bfloat16, the bias added after rounding) is what the harness says it
    # cannot tell (`unknown`), never a family
    beyond = not precision_models(case.dtype, case.reduction_length)
    for row in run_case(case, IMPLEMENTATIONS, OPTIONS):
        if row.implementation not in MODULES:
            continue
        where = (row.implementation, row.quantity, row.status, row.cause, row.message)
        assert row.status in ("ok", "unexpected_divergence"), where
        causes = HONEST_CAUSES | ({"unknown"} if beyond else set())
        assert row.cause in causes, where
