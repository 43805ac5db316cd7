"""Second outside review: the rank-1 and rank-3 gradient and transposed-backward plug-ins of
tests/data/review2_bugs, run in process (`harness.run(..., backward=True)` on the cases of
tests/data/review2_cases) and through `diagnose --json`, each asserting the cause its bug should be
named by. Expectations the harness misses today are xfail (strict=False) with the reason.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import harness
from harness.computations.registry import resolve
from harness.probing.diagnose import diagnose

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "review2_cases"
PKG = "tests.data.review2_bugs"


def _xfail(reason):
    return pytest.mark.xfail(reason=reason, strict=False)


# module, the case ids it runs on, expected cause (None: correct, must match torch)
MODULES = {
    "c3d_gw_dil_d": (["r2_c3d_dilation"], "dilation"),
    "c1d_gi_group_mod": (["r2_c1d_groups"], "groups"),
    "t3d_bw_gw_flip_h": (["r2_t3d"], "kernel_flip"),
    # zero grad_input on the last channel of each group is the adjoint of a forward whose depth
    # sum skips that channel: depth_sum (the first guess was groups; depth_sum is the better name)
    "c1d_gi_drop_last": (["r2_c1d_groups"], "depth_sum"),
    "t1d_bw_gi_stride": (["r2_t1d_stride"], "stride"),
    "c3d_gb_one_image": (["r2_c3d_batch"], "bias"),
    "t3d_no_bias": (["r2_t3d"], "bias"),
    "t1d_bw_complex_jax": (["r2_t1d_complex"], "conjugation"),
    "c3d_gi_pad_side_w": (["r2_c3d_batch"], "padding"),
    "c1d_gw_no_stride": (["r2_c1d_stride"], "stride"),
    "t3d_bw_gi_dil_w": (["r2_t3d_dilation"], "dilation"),
    "ok1d_jax": (["r2_c1d_groups", "r2_c1d_stride", "r2_t1d_stride", "r2_t1d_complex"], None),
    "ok3d_adjoint": (["r2_c3d_dilation", "r2_t3d", "r2_c3d_batch", "r2_t3d_dilation"], None),
}

# run on diagnose's own counterexamples (stride 3: a stride ignored is not one off)
RUN_ONLY = {
    "c1d_gw_no_stride@stride3": ("c1d_gw_no_stride", ["r2_cx_c1d_stride3"], "stride"),
    "t1d_bw_gi_stride@stride3": ("t1d_bw_gi_stride", ["r2_cx_t1d_stride3"], "stride"),
}

RUN_MISSES: dict[str, str] = {}
DIAGNOSE_MISSES: dict[str, str] = {}


@functools.cache
def _cases():
    return harness.load_cases([str(CASES)])


def _spec(key):
    if key in RUN_ONLY:
        return RUN_ONLY[key]
    return (key, *MODULES[key])


@functools.cache
def _run(key):
    module, ids, _ = _spec(key)
    impl = f"{PKG}.{module}"
    cases = [c for c in _cases() if c.id in ids]
    frame = harness.run(cases, [impl], backward=True)
    return frame[frame.implementation == impl]


@functools.cache
def _diagnose(module):
    """diagnose's verdict and causes for the plug-in, in this process (its `--json` and exit codes
    through the CLI: tests/test_diagnose.py)."""
    result = diagnose(resolve(f"{PKG}.{module}"))
    return {"verdict": result.verdict, "causes": list(result.causes)}


def _params(misses, keys):
    return [pytest.param(m, marks=_xfail(misses[m])) if m in misses else m for m in keys]


@pytest.mark.parametrize("key", _params(RUN_MISSES, [*MODULES, *RUN_ONLY]))
def test_run_names_the_cause(key):
    rows = _run(key)
    assert len(rows), "no rows for the plug-in"
    _, _, expected = _spec(key)
    flagged = rows[~rows.status.isin(["ok", "unsupported"])]
    detail = list(
        zip(flagged.case_id, flagged.quantity, flagged.status, flagged.cause, strict=False)
    )
    if expected is None:
        assert flagged.empty, detail
        return
    assert not flagged.empty, "the bug went unnoticed"
    assert set(flagged.status) == {"unexpected_divergence"}, detail
    assert set(flagged.cause) == {expected}, detail


@pytest.mark.parametrize("module", _params(DIAGNOSE_MISSES, MODULES))
def test_diagnose_names_the_cause(module):
    report = _diagnose(module)
    _, expected = MODULES[module]
    if expected is None:
        assert report["verdict"] == "matches", report["causes"]
        assert report["causes"] == []
    else:
        assert report["verdict"] == "diverges"
        assert report["causes"] == [expected]
