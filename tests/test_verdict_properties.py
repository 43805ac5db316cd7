"""Property tests (hypothesis) of the verdicts on random valid configurations.

Every built-in implementation and every variant runs on configurations drawn over every case
field (asymmetric and string padding, every padding mode, stride, dilation, groups, dtypes,
data kinds) without an exception, every `as_is` row is `ok`, and honest implementations written
other ways (tests/data/honest_impls.py) are `ok` too; implementations with a planted bug
(tests/data/buggy_impls.py) are never `ok` where their bug changes the output.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import examples
from harness.cases import case_from_dict, torch_rejection
from harness.cases.data import materialize
from harness.computations.calling import call_implementation
from harness.computations.registry import implementation, resolve_implementations
from harness.running.runner import RunOptions, run_case
from harness.strategies import conv2d_cases
from harness.verdicts.baseline import compute_baseline
from tests.conftest import ROOT

BUILTINS = resolve_implementations(None)
SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "data" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HONEST = _module("honest_impls")
BUGGY = _module("buggy_impls")


@SETTINGS
@given(conv2d_cases())
def test_builtins_and_variants_never_raise_and_agree(raw):
    case = case_from_dict(raw)
    assert torch_rejection(case) is None
    records = run_case(case, BUILTINS, RunOptions())
    complex_rows = 1 if case.dtype.startswith("complex") else 0  # the conjugated variant
    assert len(records) == len(BUILTINS) + 10 + complex_rows
    for record in records:
        assert record.status in ("ok", "hidden"), (
            record.implementation,
            record.variant,
            record.message,
        )
        assert "harness fault" not in record.message
        if record.variant == "as_is":
            assert record.status == "ok"


@SETTINGS
@given(conv2d_cases(nonfinite=True))
def test_nan_and_inf_inputs_never_raise(raw):
    case = case_from_dict(raw)
    for record in run_case(case, BUILTINS, RunOptions()):
        assert "harness fault" not in record.message
        if record.variant != "as_is":
            assert record.status in ("ok", "hidden"), record.message
        elif record.implementation != "scipy" or case.dilation == (1, 1):
            # the scipy leg spreads a dilated kernel with zeros, so 0*NaN reaches taps torch
            # never reads: its one documented divergence (CATALOG), with cause `nan`
            assert record.status == "ok", record.message
        else:
            assert record.status == "ok" or record.cause == "nan", record.message


HONEST_NAMES = (
    "im2col_gemm",
    "fft_float64",
    "tap_loop_sequential",
    "tap_loop_reversed",
    "pairwise_sum",
    "blocked_sum",
    "torch_autograd_function",
)


# the plug-ins in tests/data are written for non-empty batches (their reshapes infer an axis with
# -1, which an empty array leaves undetermined): an empty batch makes them error rows, rightly
@SETTINGS
@given(conv2d_cases(empty_batches=False), st.sampled_from(HONEST_NAMES))
def test_honest_implementations_written_other_ways_are_ok(raw, name):
    case = case_from_dict(raw)
    (record,) = run_case(
        case, [implementation(name, getattr(HONEST, name))], RunOptions(variants=False)
    )
    assert record.status == "ok", (name, record.message)


@SETTINGS
@given(
    conv2d_cases(dtypes=("float64", "float32"), empty_batches=False),
    st.sampled_from(("bias_twice", "drop_last_channel", "halved_output", "zeros_output")),
)
def test_planted_bugs_are_never_ok_where_they_change_the_output(raw, name):
    case = case_from_dict(raw)
    func = getattr(BUGGY, name)
    arrays = materialize(case)
    outcome = call_implementation(func, case, arrays)
    (record,) = run_case(case, [implementation(name, func)], RunOptions(variants=False))
    exact = compute_baseline(case, arrays).exact
    change = np.abs(outcome.output - exact)
    if np.nanmax(change, initial=0.0) > 1e-3 * np.abs(exact).max(initial=0.0):
        assert record.status == "unexpected_divergence", (name, record.message)
