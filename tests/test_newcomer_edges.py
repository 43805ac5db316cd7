"""Rough edges a newcomer hit: explain's PATHS and its unknown-id message, a plug-in file inside
a package, fuzz's description of a shrunk case, bfloat16 arrays for a plug-in that asks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, run_cli

TWO_CASES = """
cases:
  - id: square_sum
    input: [[1, 2], [3, 4]]
    weight: [[1, 1], [1, 1]]
  - id: square_corner
    input: [[1, 2], [3, 4]]
    weight: [[1]]
"""


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_explain_takes_positional_paths_like_run(write_cases):
    path = write_cases(TWO_CASES)
    result = run_cli("explain", "square_sum", path)
    assert result.returncode == 0, result.stderr
    # 1 + 2 + 3 + 4: the one output element of the 2x2 window
    assert "= 10" in result.stdout
    assert f"case square_sum ({path})" in result.stdout


def test_explain_still_takes_cases_and_adds_it_to_paths(write_cases, tmp_path):
    first = write_cases(TWO_CASES)
    other = write_cases(TWO_CASES.replace("square_", "other_"), name="other.yaml")
    result = run_cli("explain", "other_corner", first, "--cases", other)
    assert result.returncode == 0, result.stderr
    assert "case other_corner" in result.stdout


def test_explain_unknown_id_says_where_it_looked_and_suggests(write_cases):
    path = write_cases(TWO_CASES)
    line = _one_line_error(run_cli("explain", "square_summ", path))
    assert "no case 'square_summ'" in line
    assert f"among the 2 cases in {path}" in line
    assert "did you mean 'square_sum'" in line


def test_explain_unknown_id_without_paths_names_the_default(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "mine.yaml").write_text(TWO_CASES)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's harness, run from elsewhere
    result = subprocess.run(
        [sys.executable, "-m", "harness", "explain", "MYCASE"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = _one_line_error(result)
    assert "among the 2 cases in cases" in line
    assert "name case files or directories after CASE_ID" in line
    assert "did you mean" not in line


BAD_PACKAGE = {
    "__init__.py": "",
    "helpers.py": "def flip(weight):\n    return weight[..., ::-1, ::-1].copy()\n",
    "bad.py": (
        "import torch\n"
        "import torch.nn.functional as F\n\n"
        "from . import helpers\n\n\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    flipped = torch.from_numpy(helpers.flip(weight))\n"
        "    b = None if bias is None else torch.from_numpy(bias)\n"
        "    x = torch.from_numpy(input)\n"
        "    return F.conv2d(x, flipped, b, stride, padding, dilation, groups).numpy()\n"
    ),
}

ASYMMETRIC = """
cases:
  - id: asym
    input: {shape: [1, 1, 4, 4], init: integers, seed: 1}
    weight: {shape: [1, 1, 2, 2], init: integers, seed: 2}
"""


def _package(tmp_path) -> str:
    """mylib/ (a package whose bad.py imports a sibling relatively); its bad.py:conv2d."""
    package = tmp_path / "outer" / "mylib"
    package.mkdir(parents=True)
    for name, text in BAD_PACKAGE.items():
        (package / name).write_text(text)
    return f"{package / 'bad.py'}:conv2d"


def _plugin_rows(report, impl):
    import csv

    with open(report, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["implementation"] == impl]


def test_a_plugin_file_inside_a_package_keeps_its_relative_imports(tmp_path, write_cases):
    impl = _package(tmp_path)
    cases = write_cases(ASYMMETRIC)
    for extra in ([], ["--in-process"]):  # a worker process resolves it as the parent does
        report = tmp_path / f"report{len(extra)}.csv"
        result = run_cli("run", cases, "--impl", impl, "--out", report, *extra)
        assert result.returncode == 1, result.stderr  # the planted flip, not an import error
        (row,) = _plugin_rows(report, impl)
        assert row["status"] == "unexpected_divergence"
        assert row["cause"] == "kernel_flip", row["message"]


def test_diagnose_resolves_a_plugin_file_inside_a_package(tmp_path):
    import json

    impl = _package(tmp_path)
    result = run_cli("diagnose", impl, "--json")
    assert result.returncode != 2, result.stderr
    assert "kernel_flip" in json.dumps(json.loads(result.stdout))


def test_a_fuzz_finding_describes_the_shrunk_case_it_saves(tmp_path):
    """The saved case's description quotes the message its own failing row has when it is run,
    not the message of the (larger, often float32) configuration first found."""
    import csv

    from harness.cases.loading import load_cases

    impl = "examples.float16_accumulate:conv2d"
    saved = tmp_path / "found"
    fuzzed = run_cli("fuzz", "--impl", impl, "--count", "50", "--seed", "3", "--save", saved)
    assert fuzzed.returncode == 1, fuzzed.stderr  # the planted float16 accumulation is found
    (case,) = load_cases([saved])
    assert case.input_shape == (1, 1, 1, 1)  # shrunk, unlike the configuration first found
    report = tmp_path / "rerun.csv"
    rerun = run_cli("run", saved, "--impl", impl, "--out", report, "--no-variants")
    assert rerun.returncode == 1, rerun.stderr
    with open(report, newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["implementation"] == impl]
    assert row["status"] == "unexpected_divergence"
    head = f"Found by `conv-harness fuzz --seed 3`: conv2d {impl} / as_is: "
    assert case.description == f"{head}unexpected_divergence [{row['cause']}]. {row['message']}"
