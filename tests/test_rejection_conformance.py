"""Refusing what torch rejects is opt-in for plug-ins (`--strict-rejections`); the implementations
shipped with the harness must always refuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.cases import load_cases
from harness.computations.registry import implementation
from harness.reporting.report import read_csv
from harness.running.executor import run_records
from harness.running.runner import RunOptions, rejection_records
from tests.conftest import ROOT, run_cli

REJECTIONS = ROOT / "cases" / "rejections.yaml"

# what a conv2d that never checks its arguments makes of cases/rejections.yaml: it computes
# something for the first four; reflect and circular padding beyond the input are applied (and
# refused) by the harness before the call, as nn.Conv2d's F.pad does
ACCEPTED = {
    "reject_groups_not_dividing_cin",
    "reject_weight_channel_mismatch",
    "reject_kernel_larger_than_input",
    "reject_same_with_stride",
}
REFUSED_BEFORE_THE_CALL = {
    "reject_reflect_pad_not_smaller_than_input",
    "reject_circular_beyond_one_period",
}

LENIENT = '''
import numpy as np


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation that never checks its arguments: it computes what the shapes allow."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    c_out, cg, kh, kw = weight.shape
    if padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pads = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
    else:
        ph, pw = pair(0 if padding == "valid" else padding)
        pads = ((ph, ph), (pw, pw))
    x = np.pad(np.asarray(input, np.float64), ((0, 0), (0, 0), *pads))
    ho = max(0, (x.shape[2] - dh * (kh - 1) - 1) // sh + 1)
    wo = max(0, (x.shape[3] - dw * (kw - 1) - 1) // sw + 1)
    out = np.zeros((x.shape[0], c_out, ho, wo))
    per_group = max(1, c_out // groups)
    for o in range(c_out):
        for c in range(cg):
            channel = ((o // per_group) * cg + c) % x.shape[1]
            for u in range(kh):
                for v in range(kw):
                    rows = slice(u * dh, u * dh + sh * ho, sh)
                    cols = slice(v * dw, v * dw + sw * wo, sw)
                    out[:, o] += weight[o, c, u, v] * x[:, channel, rows, cols][:, :ho, :wo]
    if bias is not None:
        out += np.asarray(bias)[None, :, None, None]
    return out.astype(np.asarray(input).dtype)
'''


@pytest.fixture
def lenient(tmp_path) -> str:
    path = tmp_path / "lenient.py"
    path.write_text(textwrap.dedent(LENIENT))
    return f"{path}:conv2d"


def _statuses(frame, implementation) -> dict[str, str]:
    rows = frame[frame.implementation == implementation]
    return dict(zip(rows.case_id, rows.status, strict=True))


def test_run_reports_accepts_invalid_and_fails_only_when_strict(lenient, tmp_path):
    impls = ["--impl", lenient, "--impl", "torch", "--impl", "scipy", "--impl", "reference"]
    lax, strict = tmp_path / "lax.csv", tmp_path / "strict.csv"
    result = run_cli("run", REJECTIONS, *impls, "--out", lax)
    assert result.returncode == 0, result.stdout + result.stderr
    frame = read_csv(lax)
    assert _statuses(frame, lenient) == {
        **{case: "accepts_invalid" for case in ACCEPTED},
        **{case: "rejected" for case in REFUSED_BEFORE_THE_CALL},
    }
    for builtin in ("torch", "scipy", "reference"):
        assert set(_statuses(frame, builtin).values()) == {"rejected"}
    accepted = frame[frame.status == "accepts_invalid"]
    assert set(accepted.observed) == {"accept"}
    assert set(accepted.expected) == {"reject"}
    assert accepted.message.str.contains("accepted a configuration torch rejects").all()
    assert "4 accepts_invalid" in result.stdout
    assert "reject_groups_not_dividing_cin / " in result.stdout

    result = run_cli("run", REJECTIONS, *impls, "--out", strict, "--strict-rejections")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "worst rows:" in result.stdout
    assert "accepts_invalid: reject_" in result.stdout
    assert strict.read_bytes() == lax.read_bytes()  # the flag decides the verdict, not the rows


def _pytest_matrix(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_matrix.py"),
            "--cases",
            str(REJECTIONS),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pytest_matrix_skips_accepts_invalid_unless_strict(lenient):
    result = _pytest_matrix("--impl", lenient, "--impl", "torch")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "8 passed, 4 skipped" in result.stdout, result.stdout[-3000:]
    assert result.stdout.count("accepts_invalid: ") == 4

    result = _pytest_matrix("--impl", lenient, "--impl", "torch", "--strict-rejections")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "4 failed, 8 passed" in result.stdout, result.stdout[-3000:]
    for case in ACCEPTED:
        assert f"FAILED tests/test_matrix.py::test_matrix[{case}-{lenient}-as_is]" in result.stdout


def _lenient_function(lenient: str):
    from harness.computations.registry import get_implementation

    return get_implementation(lenient)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("mypackage.myconv:conv2d", "accepts_invalid"),
        ("torch", "error"),
        ("reference", "error"),
        ("jax", "error"),  # peers are shipped with the harness too
        ("scipy_ndimage", "error"),
    ],
)
def test_only_plugins_may_accept(lenient, name, status):
    (case,) = [c for c in load_cases([REJECTIONS]) if c.id == "reject_groups_not_dividing_cin"]
    func = _lenient_function(lenient)
    (lax,) = rejection_records(case, [implementation(name, func)])
    (strict,) = rejection_records(case, [implementation(name, func)], strict_rejections=True)
    assert (lax.status, strict.status) == (status, status)
    assert lax.as_row() == strict.as_row()
    assert "accepted a configuration torch rejects" in lax.message
    assert lax.failed == (status == "error")
    assert strict.failed


def test_run_options_thread_the_flag(lenient):
    cases = load_cases([REJECTIONS])
    for strict in (False, True):
        records = run_records(cases, [lenient], RunOptions(strict_rejections=strict))
        failed = {r.case_id for r in records if r.failed}
        assert failed == (ACCEPTED if strict else set())


@pytest.mark.parametrize("module", ["correct_numpy", "correct_fft", "correct_torch_tensor"])
def test_correct_examples_validate_their_arguments(module):
    records = run_records(
        load_cases([REJECTIONS]), [f"examples.{module}:conv2d"], RunOptions(strict_rejections=True)
    )
    assert {r.case_id: r.status for r in records} == {
        case: "rejected" for case in ACCEPTED | REFUSED_BEFORE_THE_CALL
    }
    called = [r for r in records if r.case_id in ACCEPTED]
    assert all("raised ValueError" in r.message for r in called)
