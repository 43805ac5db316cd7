"""The HTML page of a report (`run --html`, `report CSV... --html`): its PNG heatmaps decoded
independently, the worst element marked where numpy says, the table and its controls, a clean
run's first line, the atomic write, and the page in headless Chromium (skipped without it)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import subprocess
import zlib

import numpy as np
import pandas as pd
import pytest

from harness.reporting.heatmap import MARK, heatmap, png_bytes
from tests.conftest import ROOT, run_cli

FAILING = ("unexpected_divergence", "unexpected_agreement", "error")
BUGGY = ("examples.flipped_kernel", "examples.always_raises")


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB PNG (filter 0 on every row) read back with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, 3)


def marked_cell(pixels: np.ndarray) -> tuple[tuple[int, int], int]:
    """The (row, column) of the cell outlined in MARK's colour, and the cell size."""
    rows, columns = np.nonzero((pixels == np.array(MARK, np.uint8)).all(axis=2))
    size = int(rows.max() - rows.min() + 1)
    assert size == columns.max() - columns.min() + 1
    return (int(rows.min()) // size, int(columns.min()) // size), size


def test_png_round_trips():
    pixels = np.random.default_rng(3).integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    assert (decode_png(png_bytes(pixels)) == pixels).all()


@pytest.mark.parametrize(
    ("shape", "planted"),
    [
        ((2, 3, 7, 9), (1, 2, 5, 3)),
        ((1, 2, 13), (0, 1, 12)),
        ((1, 2, 3, 4, 5), (0, 1, 2, 0, 4)),
        ((1, 1, 100, 90), (0, 0, 95, 2)),  # cropped to 48 x 48 around the worst
    ],
)
def test_the_worst_element_is_marked_where_argmax_says(shape, planted):
    difference = np.random.default_rng(1).random(shape)
    difference[planted] = 10.0
    expected = np.unravel_index(np.argmax(np.abs(difference)), shape)
    png, view, cell = heatmap(difference)
    pixels = decode_png(png)
    at, size = marked_cell(pixels)
    assert size == cell
    assert pixels.shape[:2] == tuple(s * cell for s in view.cells.shape)
    assert view.cells.shape[0] <= 48
    assert view.cells.shape[1] <= 48
    # the marked cell holds the greatest value, at the worst element's place in the full slice
    assert view.cells[at] == 10.0
    full_at = (at[0] + view.offset[0], at[1] + view.offset[1])
    assert full_at == ((0, expected[-1]) if len(shape) == 3 else tuple(expected[-2:]))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A run of two buggy plug-ins on the seed cases with --html, and `report` of its CSV."""
    folder = tmp_path_factory.mktemp("html")
    csv, page, again = folder / "buggy.csv", folder / "run.html", folder / "report.html"
    impls = [a for name in BUGGY for a in ("--impl", name)]
    result = run_cli("run", "cases/seed.yaml", *impls, "--out", csv, "--html", page)
    assert result.returncode == 1, result.stderr
    result = run_cli("report", csv, "--html", again)
    assert result.returncode == 0, result.stderr
    return csv, page, again


def table_rows(text: str) -> list[str]:
    return re.findall(r'<tr class="row".*?</tr>', text, flags=re.S)


def test_the_table_holds_the_non_ok_rows_with_filters_and_sorting(pages):
    csv, page, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False)
    text = page.read_text()
    rows = table_rows(text)
    assert len(rows) == (frame["status"] != "ok").sum() > 0
    for field in ("implementation", "op", "rank", "dtype", "quantity", "layout", "cause"):
        assert f'<select id="filter-{field}"' in text
        assert all(f"data-{field}=" in row for row in rows)
    assert text.count('class="sortable"') >= 10
    assert 'id="shown-count"' in text
    failing = frame["status"].isin(FAILING).sum()
    assert f"{failing} of {len(frame)} rows fail" in text
    assert "http://" not in text
    assert "https://" not in text


def test_report_of_the_csv_gives_the_same_table_as_run(pages):
    _, page, again = pages
    assert table_rows(again.read_text()) == table_rows(page.read_text())


def test_a_clean_report_says_so(pages, tmp_path):
    csv, _, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False, dtype=str)
    clean = tmp_path / "clean.csv"
    frame[frame["status"] == "ok"].to_csv(clean, index=False)
    result = run_cli("report", clean, "--html", tmp_path / "clean.html")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "clean.html").read_text()
    assert f"All {(frame['status'] == 'ok').sum()} rows ok: all expectations hold" in text
    assert table_rows(text) == []


def test_a_row_that_cannot_be_recomputed_gets_a_note(pages, tmp_path):
    csv, _, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False, dtype=str)
    frame["source"] = "gone/cases.yaml"
    moved = tmp_path / "moved.csv"
    frame.to_csv(moved, index=False)
    result = run_cli("report", moved, "--html", tmp_path / "moved.html")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "moved.html").read_text()
    assert 'class="note no-map"' in text
    assert "is not in gone/cases.yaml" in text
    assert 'class="heatmap"' not in text


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    missing = run_cli("report", tmp_path / "none.csv", "--html", tmp_path / "x.html")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    foreign = run_cli("report", tmp_path / "other.csv", "--html", tmp_path / "x.html")
    for result in (missing, foreign):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_the_page_is_written_atomically(pages, tmp_path, monkeypatch):
    from harness.html_command import write_page
    from harness.reporting.report import read_csv

    csv, _, _ = pages
    target = tmp_path / "page.html"
    target.write_text("the previous page")

    def fail(descriptor):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_page(read_csv(csv), target, [str(csv)])
    assert target.read_text() == "the previous page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)"
)


def dump_dom(page, fragment: str = "") -> str:
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu"]
    command += ["--virtual-time-budget=5000", "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def visible_rows(dom: str) -> list[tuple[str, str, str]]:
    shown = []
    for tag in re.findall(r'<tr class="row"[^>]*>', dom):
        if re.search(r"\shidden(=|\s|>)", tag):
            continue
        values = dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag))
        shown.append((values["case"], values["implementation"], values["variant"]))
    return sorted(shown)


def expected_rows(frame) -> list[tuple[str, str, str]]:
    return sorted(zip(frame["case_id"], frame["implementation"], frame["variant"], strict=True))


@needs_chromium
def test_the_browser_shows_the_non_ok_rows_and_decodes_every_map(pages):
    csv, page, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False)
    not_ok = frame[frame["status"] != "ok"]
    dom = dump_dom(page)
    assert re.search(r'id="shown-count">(\d+)<', dom).group(1) == str(len(not_ok))
    assert visible_rows(dom) == expected_rows(not_ok)
    decoded = re.search(r'data-images-decoded="(\d+)/(\d+)"', dom)
    assert decoded, "the page's script did not report its images"
    k, n = int(decoded.group(1)), int(decoded.group(2))
    assert k == n == (not_ok["observed"] == "diverge").sum() > 0


@needs_chromium
def test_a_filter_in_the_url_hides_the_rows_it_should(pages):
    csv, page, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False)
    not_ok = frame[frame["status"] != "ok"]
    name = BUGGY[0]
    wanted = not_ok[(not_ok["implementation"] == name) & (not_ok["op"] == "conv2d")]
    assert 0 < len(wanted) < len(not_ok)
    dom = dump_dom(page, f"implementation={name}&operation=conv2d")
    assert visible_rows(dom) == expected_rows(wanted)
    assert re.search(r'id="shown-count">(\d+)<', dom).group(1) == str(len(wanted))
    nothing = dump_dom(page, "cause=no_such_cause")
    assert visible_rows(nothing) == []


def test_run_writes_the_same_csv_with_or_without_html(pages, tmp_path):
    csv, _, _ = pages
    impls = [a for name in BUGGY for a in ("--impl", name)]
    plain = tmp_path / "plain.csv"
    result = run_cli("run", "cases/seed.yaml", *impls, "--out", plain)
    assert result.returncode == 1, result.stderr
    assert plain.read_bytes() == csv.read_bytes()


def test_report_merges_shards_as_merge_does(pages, tmp_path):
    csv, page, _ = pages
    frame = pd.read_csv(csv, keep_default_na=False, dtype=str)
    odd = frame["case_index"].astype(int) % 2 == 1
    frame[odd].to_csv(tmp_path / "one.csv", index=False)
    frame[~odd].to_csv(tmp_path / "two.csv", index=False)
    shards = (tmp_path / "two.csv", tmp_path / "one.csv")
    result = run_cli("report", *shards, "--html", tmp_path / "merged.html")
    assert result.returncode == 0, result.stderr
    assert table_rows((tmp_path / "merged.html").read_text()) == table_rows(page.read_text())


def test_pages_and_reports_are_readable_by_others_as_any_new_file_is(tmp_path):
    """A page is meant to be shared: the atomic write gives the file the mode a plain open()
    would (0666 less the umask), not the owner-only mode of its temporary file."""
    from harness.reporting.report import atomic_write

    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "page.html", "<html></html>")
        atomic_write(tmp_path / "report.csv", "a,b\n")
    finally:
        os.umask(previous)
    for name in ("page.html", "report.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
