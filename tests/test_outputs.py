"""Output for people: the Markdown summary, the progress bar, JUnit XML, the explain plot."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.progress import Progress
from tests.conftest import ROOT, run_cli


def test_summary_markdown(tmp_path):
    md = tmp_path / "summary.md"
    result = run_cli(
        "run",
        "cases/seed.yaml",
        "--impl",
        "examples.flipped_kernel:conv2d",
        "--impl",
        "torch",
        "--jobs",
        "1",
        "--out",
        tmp_path / "r.csv",
        "--summary-md",
        md,
    )
    assert result.returncode == 1
    text = md.read_text()
    assert text.startswith("## conv-harness: ")
    assert "| unexpected_divergence |" in text
    assert "| kernel_flip |" in text
    assert "### Worst failing rows" in text
    assert "examples.flipped_kernel:conv2d" in text


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_only_on_a_terminal_and_after_the_delay():
    quiet = FakeTerminal(tty=False)
    progress = Progress(3, delay=0, stream=quiet)
    progress.update("a")
    assert quiet.getvalue() == ""
    terminal = FakeTerminal(tty=True)
    progress = Progress(4, delay=0, stream=terminal)
    progress.update("a")
    progress.update("b")
    assert "2/4 cases" in terminal.getvalue()
    assert "#" * 15 in terminal.getvalue()
    progress.close()
    assert terminal.getvalue().endswith("\r")
    slow = FakeTerminal(tty=True)
    progress = Progress(4, delay=60, stream=slow)
    progress.update("a")
    assert slow.getvalue() == ""


def test_junit_xml_keeps_the_readable_ids(tmp_path):
    xml = tmp_path / "junit.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "seed_stats",
            f"--junitxml={xml}",
            str(ROOT / "tests" / "test_matrix.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    names = [case.get("name") for case in ET.parse(xml).getroot().iter("testcase")]
    assert "test_matrix[seed_stats_se_335321-scipy-as_is]" in names
    assert "test_matrix[seed_stats_se_335321-reference-flipped]" in names


def test_explain_plot_writes_a_png_with_three_panels(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plot.png"
    result = run_cli(
        "explain", "pad_same_even_4x4", "--versus", "same_extra_top_left", "--plot", png
    )
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "worst |difference|" in result.stdout
    import matplotlib.image

    height, width = matplotlib.image.imread(png).shape[:2]
    assert width > 2.5 * height  # three panels side by side
    vs_impl = run_cli(
        "explain",
        "seed_asymmetric_kernel",
        "--versus",
        "examples.flipped_kernel:conv2d",
        "--plot",
        tmp_path / "b.png",
    )
    assert vs_impl.returncode == 0
    assert "(n=0, o=0, i=" in vs_impl.stdout


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_explain_plot_refuses_a_format_matplotlib_cannot_write(tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("q.txt", "q"):
        line = _one_line_error(
            run_cli("explain", "seed_asymmetric_kernel", "--plot", tmp_path / name)
        )
        assert f"--plot {tmp_path / name}" in line
        assert "png, pdf, svg" in line
        assert not (tmp_path / name).exists()


def test_explain_plot_creates_missing_folders(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "missing_dir" / "deeper" / "q.png"
    result = run_cli("explain", "seed_asymmetric_kernel", "--plot", png)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in result.stdout


def test_explain_versus_suggests_mutations_and_implementations(tmp_path):
    line = _one_line_error(
        run_cli(
            "explain", "seed_asymmetric_kernel", "--plot", tmp_path / "q.png", "--versus", "flipd"
        )
    )
    assert "--versus 'flipd'" in line
    assert "did you mean 'flipped'?" in line
    for name in ("flipped", "no_depth_sum", "no_bias", "torch", "scipy", "reference"):
        assert name in line
    assert not (tmp_path / "q.png").exists()
    line = _one_line_error(
        run_cli(
            "explain", "seed_asymmetric_kernel", "--plot", tmp_path / "q.png", "--versus", "torh"
        )
    )
    assert "did you mean 'torch'?" in line


def test_plot_heatmaps_have_integer_ticks(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from harness.cases import load_cases
    from harness.reporting.explain import plot_comparison

    (case,) = [
        c for c in load_cases([ROOT / "cases" / "seed.yaml"]) if c.id == "seed_asymmetric_kernel"
    ]
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    plot_comparison(case, (0, 0, 0, 0), "flipped", str(tmp_path / "p.png"))
    (figure,) = closed
    heatmaps = [axis for axis in figure.axes if axis.images]
    assert len(heatmaps) == 3
    for axis in heatmaps:
        ticks = [*axis.get_xticks(), *axis.get_yticks()]
        assert ticks
        assert all(float(t).is_integer() for t in ticks), ticks
    figure.clf()


def _row(variant: str, status: str, observed: str, cause: str = ""):
    from harness.verdicts.records import Record

    expected = "diverge" if status == "ok" and observed == "diverge" else "agree"
    blank = dict.fromkeys(("source", "baseline", "dtype", "input_shape", "weight_shape"), "")
    blank.update(dict.fromkeys(("stride", "padding", "dilation", "padding_mode"), ""))
    blank.update(dict.fromkeys(("output_shape", "baseline_shape", "worst_index", "message"), ""))
    return Record(
        case_id="c",
        implementation="mine",
        variant=variant,
        groups=1,
        max_abs_diff=1.0 if observed == "diverge" else 0.0,
        max_rel_diff=None,
        mismatched=None,
        total=4,
        atol=1e-6,
        rtol=1e-6,
        expected=expected,
        observed=observed,
        status=status,
        cause=cause,
        **blank,
    )


def _tables(text: str) -> dict[str, dict[str, int]]:
    """Each '### title' of the Markdown with its two-column table (name -> count)."""
    tables: dict[str, dict[str, int]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("### "):
            title, tables[line[4:]] = line[4:], {}
        elif title and line.startswith("| ") and line.count("|") == 3:
            name, count = (cell.strip() for cell in line.strip("|").split("|"))
            if count.isdigit():
                tables[title][name] = int(count)
    return tables


def test_summary_markdown_counts_agree_with_its_title():
    from harness.reporting.report import summary_markdown

    records = [
        _row("as_is", "unexpected_divergence", "diverge", "kernel_flip"),
        _row("as_is", "unexpected_divergence", "diverge", "kernel_flip"),
        _row("as_is", "unexpected_divergence", "diverge", "nan"),
        _row("as_is", "error", "error"),
        *[_row("flipped", "ok", "diverge", "kernel_flip") for _ in range(5)],
        _row("no_bias", "ok", "diverge", "bias"),
        _row("as_is", "ok", "agree"),
        _row("as_is", "ok", "agree"),
    ]
    text = summary_markdown(records)
    assert text.startswith("## conv-harness: 4 rows fail\n")
    tables = _tables(text)
    failing = next(v for k, v in tables.items() if k.startswith("Failing rows by cause"))
    assert failing == {"kernel_flip": 2, "nan": 1, "(no cause: error)": 1}
    expected = next(v for k, v in tables.items() if k.startswith("Expected divergences by cause"))
    assert expected == {"kernel_flip": 5, "bias": 1}
    statuses = next(v for k, v in tables.items() if k == "All 12 rows by status")
    assert statuses == {"error": 1, "ok": 8, "unexpected_divergence": 3}
