"""`conv-harness fuzz`: seeded, reproducible, shrinks findings into case files that `run`
reproduces; drawn configurations saved as a case file run cleanly."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings

from harness.cases import load_cases
from harness.cases.yaml_io import dump_yaml
from harness.reporting.report import read_csv
from harness.strategies import conv2d_cases
from tests.conftest import run_cli


def _findings(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("  ") and " on " in line]


def test_fuzz_smoke_on_the_builtins_finds_nothing(tmp_path):
    result = run_cli("fuzz", "--count", "300", "--seed", "1", "--save", tmp_path / "found")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"^300 configurations in [\d.]+ s \(\d+ per second\); 0 distinct findings",
        result.stdout,
        re.M,
    ), result.stdout
    assert not (tmp_path / "found").exists()


def test_a_flipped_kernel_is_found_shrunk_saved_and_reproduced(tmp_path):
    found = tmp_path / "found"
    result = run_cli(
        "fuzz",
        "--impl",
        "examples.flipped_kernel:conv2d",
        "--count",
        "200",
        "--seed",
        "1",
        "--save",
        found,
    )
    assert result.returncode == 1, result.stderr
    flip_lines = [line for line in _findings(result.stdout) if "[kernel_flip]" in line]
    assert flip_lines, result.stdout
    path = flip_lines[0].split(" -> ")[1]
    (case,) = load_cases([path])
    assert "kernel_flip" in case.tags
    _, _, h, w = case.input_shape
    assert h <= 4, case.input_shape
    assert w <= 4, case.input_shape
    report = tmp_path / "r.csv"
    rerun = run_cli("run", path, "--impl", "examples.flipped_kernel:conv2d", "--out", report)
    assert rerun.returncode == 1
    frame = read_csv(report)
    row = frame[
        (frame.implementation == "examples.flipped_kernel:conv2d") & (frame.variant == "as_is")
    ].iloc[0]
    assert (row.status, row.cause) == ("unexpected_divergence", "kernel_flip")


def test_the_same_seed_gives_the_same_findings(tmp_path):
    runs = [
        run_cli(
            "fuzz",
            "--impl",
            "examples.stride_phase:conv2d",
            "--count",
            "60",
            "--seed",
            "7",
            "--save",
            tmp_path / f"run{k}",
        )
        for k in range(2)
    ]
    assert [r.returncode for r in runs] == [1, 1]
    findings = [[line.split(" -> ")[0] for line in _findings(r.stdout)] for r in runs]
    assert findings[0] == findings[1]
    assert findings[0]
    files = [sorted(p.read_text() for p in (tmp_path / f"run{k}").iterdir()) for k in range(2)]
    assert files[0] == files[1]


def test_usage_errors_exit_2():
    assert run_cli("fuzz", "--count", "0").returncode == 2
    bad = run_cli("fuzz", "--impl", "nosuch:conv2d", "--count", "5")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_500_drawn_configurations_in_one_file_run_cleanly(tmp_path):
    drawn = []

    @settings(
        max_examples=500,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(conv2d_cases(nonfinite=True))
    def collect(raw):
        drawn.append(raw)

    collect()
    cases = [{**raw, "id": f"drawn_{k}"} for k, raw in enumerate(drawn[:500])]
    assert len(cases) == 500
    path = tmp_path / "drawn.yaml"
    path.write_text(dump_yaml({"cases": cases}))
    result = run_cli("run", path, "--out", tmp_path / "r.csv")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    frame = read_csv(tmp_path / "r.csv")
    assert frame.case_id.nunique() == 500
    assert set(frame.status) <= {"ok", "hidden"}
