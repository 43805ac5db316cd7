"""README's "Reading the report with pandas": the call it shows, run exactly as written on a real
report, keeps every cause (`nan` and the empty cause included) while empty numbers are NaN."""

from __future__ import annotations

import csv
import math
import re

import pandas

from harness.reporting.report import read_csv
from tests.conftest import ROOT, run_cli

SECTION = "## Reading the report with pandas"


def readme_call() -> str:
    text = (ROOT / "README.md").read_text()
    assert SECTION + "\n" in text, "README has no section " + SECTION
    section = text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_the_readme_call_keeps_every_cause_of_a_real_report(tmp_path, monkeypatch):
    result = run_cli(
        "run",
        ROOT / "cases" / "numerics.yaml",
        ROOT / "cases" / "rejections.yaml",
        "-k",
        "nan_dilation_taps or reject_groups_not_dividing_cin",
        "--jobs",
        "1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    path = tmp_path / "reports" / "discrepancies.csv"
    with path.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    causes = [row["cause"] for row in written]
    assert "nan" in causes  # the report holds the trap
    assert "" in causes
    assert any(row["max_abs_diff"] == "" for row in written)  # and empty numbers
    assert pandas.read_csv(path)["cause"].isna().any()  # what plain read_csv does to it

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(readme_call(), namespace)  # the README's call, exactly as shown
    frame = namespace["frame"]
    assert frame["cause"].tolist() == causes
    assert frame["message"].tolist() == [row["message"] for row in written]
    assert frame["output_shape"].tolist() == [row["output_shape"] for row in written]
    for column in ("max_abs_diff", "max_rel_diff", "mismatched", "atol"):
        for value, row in zip(frame[column], written, strict=True):
            if row[column] == "":
                assert math.isnan(value), (column, value)
            else:
                assert value == float(row[column]), (column, value, row[column])
    assert read_csv(path)["cause"].tolist() == causes
