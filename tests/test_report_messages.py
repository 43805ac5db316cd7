"""Each fact of a failing row is said once: in the CSV message, in the run summary and in pytest's
failure output, on a case with a golden `expected:` output that an implementation misses."""

from __future__ import annotations

import csv
import subprocess
import sys

from harness.cases import case_from_dict
from harness.computations.registry import resolve
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT, run_cli

HALVED = f"{ROOT / 'tests' / 'data' / 'buggy_impls.py'}:halved_output"
GOLDEN = """\
cases:
  - id: golden_tiny
    description: a golden output worked by hand (torch's cross-correlation)
    input: [[1,0,2],[-1,3,1],[2,-2,0]]
    weight: [[1,2],[3,4]]
    expected: [[10,17],[3,-1]]
"""


def _golden_row():
    case = case_from_dict(
        {
            "id": "golden_tiny",
            "input": [[1, 0, 2], [-1, 3, 1], [2, -2, 0]],
            "weight": [[1, 2], [3, 4]],
            "expected": [[10, 17], [3, -1]],
        }
    )
    rows = run_case(case, [resolve(HALVED)], RunOptions(variants=False))
    return next(r for r in rows if r.implementation.endswith("halved_output"))


def test_a_missed_golden_output_is_described_once():
    row = _golden_row()
    assert row.status == "unexpected_divergence"
    assert row.message.count("Mismatched elements") == 1, row.message
    # halving [[10,17],[3,-1]]: the worst absolute difference is 17 - 8.5 = 8.5, said once
    assert row.message.count("Greatest absolute difference: 8.5") == 1, row.message
    assert "expected output" in row.message


def test_the_csv_and_the_run_summary_say_the_mismatch_once(write_cases, tmp_path):
    cases = write_cases(GOLDEN)
    out = tmp_path / "r.csv"
    result = run_cli("run", cases, "--impl", HALVED, "--no-variants", "--out", out)
    assert result.returncode == 1, result.stderr
    with out.open(newline="") as handle:
        failing = [r for r in csv.DictReader(handle) if r["status"] != "ok"]
    assert len(failing) == 1
    assert failing[0]["message"].count("Mismatched elements") == 1, failing[0]["message"]
    assert result.stdout.count("Mismatched elements") == 1, result.stdout


def test_pytest_says_the_mismatch_once(write_cases):
    cases = write_cases(GOLDEN)
    command = [sys.executable, "-m", "pytest", "tests/test_matrix.py", "-q", "-n", "0"]
    command += ["-p", "no:cacheprovider", "--conv-cases", str(cases), "--conv-impl", HALVED]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-2000:]
    failures = [line for line in result.stdout.splitlines() if "Mismatched elements" in line]
    assert failures, result.stdout[-2000:]
    assert all(line.count("Mismatched elements") == 1 for line in failures), failures
