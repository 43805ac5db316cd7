"""Outside review: the plug-ins of tests/data/review_bugs run in process (`run --backward` on the
cases of tests/data/review_cases, and diagnose; the CLI runs one of them), each asserting the cause
the bug should be named by. Expectations the harness misses today are xfail (strict=False) with
the reason.
"""

from __future__ import annotations

import csv
import functools
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness.computations.registry import resolve
from harness.probing.diagnose import diagnose

ROOT = Path(__file__).resolve().parent.parent
CASES = "tests/data/review_cases"
PKG = "tests.data.review_bugs"


def _xfail(reason):
    return pytest.mark.xfail(reason=reason, strict=False)


# module, -k expression selecting its cases, expected cause (None: correct, must match torch)
MODULES = {
    "t2d_no_dilation": ("rv_t2d_dilation", "dilation"),
    "t1d_outpad_ignored": ("rv_t1d_outpad", "padding"),
    "t1d_outpad_before": ("rv_t1d_outpad", "padding"),
    "t2d_group_axes": ("rv_t2d_groups", "groups"),
    "t3d_pad_start": ("rv_t3d_pad", "padding"),
    "bw_gw_first_image": ("rv_bw2d_batch", "depth_sum"),
    "bw3d_no_flip": ("rv_bw3d_flip", "kernel_flip"),
    "bw_stride_phase_h": ("rv_bw2d_stride", "stride"),
    "bw_bias_mean": ("rv_bw2d_bias", "bias"),
    "bw_depthwise_mod": ("rv_bw2d_depthwise", "groups"),
    "bw_complex_jax": ("rv_bw2d_complex", "conjugation"),
    "bw_fp16_accum": ("rv_bw1d_fp16", "precision"),
    "ok_transposed_einsum": (
        "rv_t2d_dilation or rv_t1d_outpad or rv_t2d_groups or rv_t3d_pad",
        None,
    ),
    "ok_backward_swap": (
        "rv_bw2d_batch or rv_bw2d_stride or rv_bw2d_depthwise or rv_bw2d_complex",
        None,
    ),
}

RUN_MISSES = {
    "bw_stride_phase_h": "stride zeros one position late on H with the last grad_output row "
    "dropped is 'unknown' (keeping the row is named 'stride')",
    "bw_fp16_accum": "float16 accumulation in a float16 backward is 'unknown' in run",
}
DIAGNOSE_MISSES = {
    "bw_stride_phase_h": "diagnose names 'unknown' for the late stride phase on H that drops the "
    "last grad_output row",
    "bw_fp16_accum": "diagnose says 'matches' for a backward accumulating in float16 (its probes "
    "are too short to show it)",
}


def _cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@functools.cache
def _cases():
    return harness.load_cases([str(ROOT / CASES)])


@functools.cache
def _run(module):
    """The plug-in's rows of `run --backward -k EXPR` on the review cases, in this process (the
    CLI's own run: test_run_with_a_named_backward_function_runs_only_the_backward)."""
    expr, _ = MODULES[module]
    words = expr.split(" or ")
    cases = [c for c in _cases() if any(word in c.id for word in words)]
    assert cases, expr
    frame = harness.run(cases, [f"{PKG}.{module}"], backward=True, isolate=False)
    frame = frame[frame.implementation == f"{PKG}.{module}"]
    return frame.astype(str).to_dict("records")


@functools.cache
def _diagnose(module):
    """diagnose's verdict and causes for the plug-in, in this process (its `--json` and exit codes
    through the CLI: tests/test_diagnose.py)."""
    result = diagnose(resolve(f"{PKG}.{module}"))
    return {"verdict": result.verdict, "causes": list(result.causes)}


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return str(tmp_path_factory.mktemp("review"))


def _params(misses):
    return [pytest.param(m, marks=_xfail(misses[m])) if m in misses else m for m in MODULES]


@pytest.mark.parametrize("module", _params(RUN_MISSES))
def test_run_names_the_cause(module):
    rows = _run(module)
    assert rows, "no rows for the plug-in"
    _, expected = MODULES[module]
    flagged = [r for r in rows if r["status"] not in ("ok", "unsupported")]
    if expected is None:
        assert not flagged, [
            (r["case_id"], r["quantity"], r["status"], r["cause"]) for r in flagged
        ]
        return
    assert flagged, "the bug went unnoticed"
    assert {r["status"] for r in flagged} == {"unexpected_divergence"}
    assert {r["cause"] for r in flagged} == {expected}, [
        (r["case_id"], r["quantity"], r["cause"]) for r in flagged
    ]


@pytest.mark.parametrize("module", _params(DIAGNOSE_MISSES))
def test_diagnose_names_the_cause(module):
    report = _diagnose(module)
    _, expected = MODULES[module]
    if expected is None:
        assert report["verdict"] == "matches", report["causes"]
        assert report["causes"] == []
    else:
        assert report["verdict"] == "diverges"
        assert report["causes"] == [expected]


def test_run_with_a_named_backward_function_runs_only_the_backward(tmp):
    out = Path(tmp) / "named_backward.csv"
    impl = f"{PKG}.ok_backward_swap:conv2d_backward"
    proc = _cli("run", CASES, "--backward", "--impl", impl, "-k", "rv_bw2d_bias", "--out", str(out))
    rows = [r for r in csv.DictReader(out.open()) if r["implementation"] == impl]
    assert {r["quantity"] for r in rows if r["status"] != "unsupported"} <= {
        "grad_input",
        "grad_weight",
        "grad_bias",
    }
    assert proc.returncode == 0, proc.stdout[-2000:]
