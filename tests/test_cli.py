"""Command line behaviour: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

from tests.conftest import run_cli

GOOD = """
cases:
  - id: tiny
    input: [[1, 2], [3, 4]]
    weight: [[1]]
"""


def test_validate_ok(write_cases):
    result = run_cli("validate", write_cases(GOOD))
    assert result.returncode == 0
    assert "1 cases" in result.stdout


def _assert_one_line_error(result, *words):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0]


def test_validate_unknown_key(write_cases):
    path = write_cases(GOOD.replace("weight:", "wieght:"))
    _assert_one_line_error(run_cli("validate", path), str(path), "case 'tiny'", "field 'wieght'")


def test_validate_padding_typo(write_cases):
    path = write_cases(GOOD + "    padding: sme\n")
    _assert_one_line_error(run_cli("validate", path), str(path), "case 'tiny'", "field 'padding'")


def test_validate_groups_not_dividing(write_cases):
    path = write_cases("""
        cases:
          - id: g
            input: {shape: [1, 3, 4, 4], init: normal}
            weight: {shape: [2, 1, 3, 3], init: normal}
            groups: 2
    """)
    _assert_one_line_error(run_cli("validate", path), str(path), "case 'g'", "field 'groups'")


def test_missing_path_and_bad_impl_exit_2(write_cases, tmp_path):
    _assert_one_line_error(run_cli("validate", tmp_path / "nope.yaml"), "no such file")
    result = run_cli(
        "run", write_cases(GOOD), "--impl", "no_such_module_xyz:conv2d", "--out", tmp_path / "r.csv"
    )
    _assert_one_line_error(result, "no_such_module_xyz")
    assert not (tmp_path / "r.csv").exists()


def test_list_shows_cases_and_k_selects(write_cases):
    path = write_cases(GOOD + "  - {id: other, input: [[1]], weight: [[1]], tags: [special]}\n")
    result = run_cli("list", path, "-k", "special or nothing")
    assert result.returncode == 0
    assert "other" in result.stdout
    assert "tiny" not in result.stdout


def test_run_exit_code_and_summary(write_cases, tmp_path):
    out = tmp_path / "r.csv"
    result = run_cli("run", write_cases(GOOD), "--out", out)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert str(out) in result.stdout
    rows = out.read_text().splitlines()[1:]
    assert sum(",as_is," in row for row in rows) == 3  # torch, scipy, reference
    assert len(rows) == 3 + 10  # and one row per mutation
    summary = out.parent / "r.divergence_summary.csv"  # named after its report
    assert summary.exists()
    assert not (out.parent / "divergence_summary.csv").exists()
    assert f"divergence summary: {summary}" in result.stdout


def test_reports_in_one_folder_keep_their_own_summaries(write_cases, tmp_path):
    path = write_cases(GOOD)
    for name in ("a.csv", "b.csv"):
        result = run_cli("run", path, "--out", tmp_path / name, "--impl", "torch")
        assert result.returncode == 0, result.stderr
    first, second = (tmp_path / f"{n}.divergence_summary.csv" for n in "ab")
    assert first.read_bytes() == second.read_bytes()
    override = tmp_path / "elsewhere" / "s.csv"
    result = run_cli("run", path, "--out", tmp_path / "c.csv", "--summary-out", override)
    assert result.returncode == 0, result.stderr
    assert override.exists()
    assert not (tmp_path / "c.divergence_summary.csv").exists()


def test_the_default_report_keeps_divergence_summary_csv(write_cases, tmp_path):
    result = run_cli("run", write_cases(GOOD), "--impl", "torch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reports" / "discrepancies.csv").exists()
    assert (tmp_path / "reports" / "divergence_summary.csv").exists()
    assert "divergence summary: reports/divergence_summary.csv" in result.stdout


def test_companion_summary_path():
    from harness.reporting.report import companion_summary_path

    default = "reports/discrepancies.csv"
    assert companion_summary_path(default, default) == "reports/divergence_summary.csv"
    assert companion_summary_path("./reports/discrepancies.csv", default) == (
        "reports/divergence_summary.csv"
    )
    assert companion_summary_path("out/x.csv", default) == "out/x.divergence_summary.csv"
    assert companion_summary_path("out/discrepancies.csv", default) == (
        "out/discrepancies.divergence_summary.csv"
    )


def test_misspelt_implementation_suggests_a_name(write_cases, tmp_path):
    path = write_cases(GOOD)
    for typo, name in (("torh", "torch"), ("scipi", "scipy"), ("onnxruntim", "onnxruntime")):
        result = run_cli("run", path, "--impl", typo, "--out", tmp_path / "r.csv")
        _assert_one_line_error(result, f"implementation '{typo}'", f"did you mean '{name}'?")
    assert not (tmp_path / "r.csv").exists()


def test_help_answers():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "run" in result.stdout
