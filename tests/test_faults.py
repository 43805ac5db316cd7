"""Bad input and misbehaving implementations: clear errors, recorded rows, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cases import load_cases
from harness.cases.errors import CaseFileError
from harness.computations.registry import resolve_implementations
from harness.reporting.report import read_csv
from harness.running.runner import RunOptions, run_case
from tests.conftest import ROOT, run_cli

BAD = sorted((ROOT / "tests" / "bad_cases").glob("*.yaml"))
SEED = ROOT / "cases" / "seed.yaml"


def expectations(path: Path) -> list[str]:
    """The file's leading `# expect: ` lines: one per problem it must report, in order."""
    lines = path.read_bytes().splitlines()
    found = []
    for line in lines:
        if not line.startswith(b"# expect: "):
            break
        found.append(line.decode().removeprefix("# expect: "))
    assert found, path
    return found


def test_corpus_is_big_enough():
    assert len(BAD) >= 25


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_gives_one_line_per_problem_and_exit_2(path):
    relative = path.relative_to(ROOT)
    result = run_cli("validate", relative)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    expected = expectations(path)
    assert len(lines) == len(expected), lines
    for line, words in zip(lines, expected, strict=True):
        assert str(relative) in line
        assert words in line
    assert result.stdout == ""


def test_python_tag_is_never_executed(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'cases: !!python/object/apply:os.system ["touch {target}"]\n')
    result = run_cli("validate", evil)
    assert result.returncode == 2
    assert "refused: Python object tag" in result.stderr
    assert not target.exists()
    run_cli("run", evil, "--out", tmp_path / "r.csv")
    assert not target.exists()


def test_alias_bomb_is_refused_quickly():
    # expanding the bomb would not end; a refusal takes milliseconds. The limit only catches a
    # hang, so a busy machine cannot fail it.
    start = time.perf_counter()
    with pytest.raises(CaseFileError, match="alias bomb"):
        load_cases([ROOT / "tests" / "bad_cases" / "alias_bomb.yaml"])
    assert time.perf_counter() - start < 120


def test_several_problems_are_all_listed(write_cases):
    path = write_cases("""
        cases:
          - {id: a, input: [[1]], weight: [[1]], stride: 0, dtype: int8}
          - {id: b, input: [[1]], weight: [[1]], paddin: 1}
    """)
    result = run_cli("validate", path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 3
    assert "field 'stride'" in lines[0]
    assert "field 'dtype'" in lines[1]
    assert "did you mean 'padding'" in lines[2]


MISBEHAVING = {
    "raises": ("error", "raised RuntimeError: boom"),
    "wrong_shape": ("unexpected_divergence", "Shape mismatch"),
    "wrong_dtype": ("error", "returned float16 for float64 inputs"),
    "returns_nan": ("unexpected_divergence", "NaN/Inf differ at 1 elements"),
    "returns_none": ("error", "returned NoneType, not an array"),
    "mutates_input": ("error", "modified its input argument in place"),
}


@pytest.mark.parametrize(("name", "expected"), MISBEHAVING.items())
def test_misbehaving_implementation_becomes_a_row(name, expected):
    (case,) = [c for c in load_cases([SEED]) if c.id == "seed_stats_se_335321"]
    implementations = resolve_implementations([f"tests/data/misbehaving.py:{name}", "torch"])
    records = run_case(case, implementations, RunOptions(variants=False))
    mine, torch_row = records
    assert (mine.status, torch_row.status) == (expected[0], "ok")
    assert expected[1] in mine.message
    if name == "returns_nan":
        assert mine.cause == "nan"
    if name == "wrong_shape":
        assert mine.cause == "shape"


@pytest.mark.parametrize("name", ["sleeps", "spins"])
def test_timeout_makes_an_error_row(name):
    (case,) = [c for c in load_cases([SEED]) if c.id == "seed_stats_se_335321"]
    implementations = resolve_implementations([f"tests/data/misbehaving.py:{name}", "torch"])
    # torch's first call in a process (its kernels' set-up) can take longer than the timeout on a
    # busy machine: made here, before the timed run
    run_case(case, resolve_implementations(["torch"]), RunOptions(variants=False))
    # the plug-in would take 1000 s ("sleeps") or forever ("spins"); the limit only catches a run
    # that waits for it, so a busy machine cannot fail it
    start = time.perf_counter()
    records = run_case(case, implementations, RunOptions(variants=False, timeout=0.5))
    assert time.perf_counter() - start < 300
    assert records[0].status == "error"
    assert "0.5 s timeout" in records[0].message
    assert records[1].status == "ok"


def test_run_with_an_always_raising_impl_writes_error_rows(tmp_path):
    out = tmp_path / "r.csv"
    result = run_cli(
        "run",
        "cases/seed.yaml",
        "--impl",
        "examples.always_raises:conv2d",
        "--no-variants",
        "--out",
        out,
    )
    assert result.returncode == 1
    frame = read_csv(out)
    cases = [c for c in load_cases([SEED]) if c.computes]
    assert len(frame) == len(cases)
    assert set(frame.status) == {"error"}
    assert "error" in result.stdout


def test_memory_guard_refuses_with_a_clear_message(tmp_path):
    out = tmp_path / "r.csv"
    result = run_cli("run", "cases/seed.yaml", "--max-memory", "1MiB", "--out", out)
    assert result.returncode == 1
    frame = read_csv(out)
    assert set(frame.status) == {"error"}
    assert frame.message.str.contains("over the 1.0 MiB budget; raise --max-memory").all()
    bad = run_cli("run", "cases/seed.yaml", "--max-memory", "lots")
    assert bad.returncode == 2
    assert "expected a size" in bad.stderr


def test_sigint_leaves_the_previous_report_intact(tmp_path):
    out = tmp_path / "report.csv"
    out.write_text("previous report\n")
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "cases/seed.yaml",
            "--impl",
            f"{slow}:conv2d",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert out.read_text() == "previous report\n"
