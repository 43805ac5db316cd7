"""The CSV report: exact columns, round-trippable floats, stable bytes, the Python API."""

from __future__ import annotations

import numpy as np

import harness
from harness.reporting.report import csv_text, read_csv, write_csv
from tests.conftest import ROOT, run_cli

DESIGN_COLUMNS = (
    "case_id, source, implementation, variant, baseline, dtype, input_shape, weight_shape, stride, "
    "padding, dilation, groups, padding_mode, output_shape, baseline_shape, max_abs_diff, "
    "max_rel_diff, mismatched, total, worst_index, atol, rtol, expected, observed, status, cause, "
    "message"
).split(", ")


def test_api_returns_the_report_rows():
    cases = harness.load_cases([ROOT / "cases" / "seed.yaml"])
    frame = harness.run(cases, ["torch", "scipy"])
    assert list(frame.columns)[: len(DESIGN_COLUMNS)] == DESIGN_COLUMNS
    seed = frame[(frame.case_id == "seed_stats_se_335321") & (frame.variant == "as_is")]
    assert list(seed.implementation) == ["torch", "scipy"]
    assert set(seed.status) == {"ok"}
    assert list(seed.max_abs_diff) == [0.0, 0.0]


def test_floats_round_trip(tmp_path):
    cases = harness.load_cases([ROOT / "cases" / "dtypes.yaml"])
    frame = harness.run(cases, ["torch"])
    path = tmp_path / "r.csv"
    write_csv(frame, path)
    back = read_csv(path)
    for column in ("max_abs_diff", "max_rel_diff", "atol", "rtol"):
        np.testing.assert_array_equal(back[column].to_numpy(), frame[column].to_numpy())
    assert csv_text(back) == path.read_text()


def test_cli_run_writes_identical_bytes_twice(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (first, second):
        result = run_cli("run", "cases/seed.yaml", "cases/groups.yaml", "--out", out)
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    header = first.read_text().splitlines()[0].split(",")
    assert header[: len(DESIGN_COLUMNS)] == DESIGN_COLUMNS


def test_worst_rows_put_real_divergences_and_harness_faults_first():
    import random
    from dataclasses import replace

    from harness.computations.registry import resolve_implementations
    from harness.reporting.report import summary_lines
    from harness.running.runner import RunOptions, run_case

    (case,) = [c for c in harness.load_cases([ROOT / "cases" / "seed.yaml"]) if c.index == 0]
    (base,) = run_case(case, resolve_implementations(["torch"]), RunOptions(variants=False))
    rows = [
        replace(base, implementation="p1", status="accepts_invalid", strict_rejections=True),
        replace(base, implementation="p2", status="error", message="torch accepted it"),
        replace(base, implementation="p3", status="error", message="raised RuntimeError: boom"),
        replace(base, implementation="p4", status="unexpected_agreement", max_abs_diff=0.0),
        replace(base, implementation="p5", status="unexpected_divergence", max_abs_diff=2.0),
        replace(base, implementation="p6", status="error", message="harness fault while x"),
        replace(base, implementation="p7", status="unexpected_divergence", max_abs_diff=9.0),
        replace(base, implementation="p8", status="ok"),
    ]
    rows = [replace(r, atol=1.0) for r in rows]
    lines = summary_lines(rows, worst=10)
    worst = [line.split(" / ")[1] for line in lines[lines.index("worst rows:") + 1 :]]
    # divergences by size relative to tolerance, faults of the harness among them; then errors
    # (in registry order), then accepts_invalid
    assert worst == ["p7", "p5", "p4", "p6", "p2", "p3", "p1"]
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert summary_lines(shuffled, worst=10) == lines
