"""Records -> pandas DataFrame -> CSV, and the short terminal summary.

The CSV has exactly the DESIGN.md columns in order. Floats are written with Python's shortest
round-trip representation (reading the file back gives the same float64 values); integers stay
integers (empty where a call failed); rows keep the run's order (case order in the registry, then
implementation, then variant), so two runs give byte-identical files. Files are written atomically
(a temporary file in the same directory, then a rename): an interrupted run leaves the previous
report intact.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.verdicts.records import ACCEPTS_INVALID, COLUMNS, Record

INT_COLUMNS = ("groups", "mismatched", "total", "case_index")
FLOAT_COLUMNS = ("max_abs_diff", "max_rel_diff", "atol", "rtol")


def to_dataframe(records: Sequence[Record]):
    import pandas as pd

    frame = pd.DataFrame([r.as_row() for r in records], columns=list(COLUMNS))
    for column in INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    for column in FLOAT_COLUMNS:
        frame[column] = frame[column].astype("float64")
    return frame


def csv_text(frame, float_columns: Sequence[str] = FLOAT_COLUMNS) -> str:
    """CSV text with round-trippable floats (Python's shortest repr; empty for NaN)."""
    text_frame = frame.copy()
    for column in float_columns:
        if column in text_frame:
            text_frame[column] = [
                "" if value != value else repr(float(value)) for value in frame[column]
            ]
    return text_frame.to_csv(index=False, lineterminator="\n")


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        os.chmod(temporary, _new_file_mode())  # as open() would create it, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


SUMMARY_NAME = "divergence_summary.csv"


def companion_summary_path(report: str | os.PathLike, default_report: str | os.PathLike) -> str:
    """Where the divergence summary of a report goes: `divergence_summary.csv` beside the default
    report (reports/discrepancies.csv), else named after the report (`X.csv` ->
    `X.divergence_summary.csv`), so reports in one folder keep their own summaries."""
    path = Path(report)
    if os.path.abspath(path) == os.path.abspath(default_report):
        return str(path.with_name(SUMMARY_NAME))
    return str(path.with_name(f"{path.stem}.{SUMMARY_NAME}"))


def write_csv(frame, path: str | os.PathLike) -> None:
    atomic_write(path, csv_text(frame))


def read_csv(path: str | os.PathLike):
    """Read a report back with the dtypes it was written with."""
    import pandas as pd

    dtypes = {c: "Int64" for c in INT_COLUMNS} | {c: "float64" for c in FLOAT_COLUMNS}
    frame = pd.read_csv(
        path, dtype=dtypes, keep_default_na=False, na_values={c: [""] for c in dtypes}
    )
    for column in frame.columns:
        if column not in dtypes:
            frame[column] = frame[column].astype(str)
    return frame


def _severity(record: Record) -> int:
    """0 real divergences and harness faults, 1 other errors (an implementation raised, refused
    or accepted a case wrongly), 2 accepts_invalid, 3 anything else."""
    if record.status in ("unexpected_divergence", "unexpected_agreement"):
        return 0
    if record.status == "error":
        return 0 if record.message.startswith("harness fault") else 1
    return 2 if record.status == ACCEPTS_INVALID else 3


def _worst_key(record: Record) -> tuple:
    """Most severe first, then the greatest difference relative to its tolerance, then registry
    order: the same rows in the same order for any --jobs."""
    ratio = 0.0
    if record.max_abs_diff is not None and record.atol:
        ratio = record.max_abs_diff / record.atol
        if ratio != ratio:  # NaN sorts unpredictably
            ratio = 0.0
    return (
        _severity(record),
        -ratio,
        record.case_index,
        record.case_id,
        record.implementation,
        record.variant,
    )


def summary_lines(records: Sequence[Record], worst: int = 5) -> list[str]:
    """Counts by status and the worst failing rows, for the terminal."""
    counts = Counter(r.status for r in records)
    order = (
        "ok",
        "hidden",
        "unexpected_divergence",
        "error",
        "unsupported",
        "rejected",
        "accepts_invalid",
    )
    statuses = [s for s in order if counts[s]] + sorted(s for s in counts if s not in order)
    lines = [f"{len(records)} rows: " + ", ".join(f"{counts[s]} {s}" for s in statuses)]
    failing = sorted((r for r in records if r.failed), key=_worst_key)
    if failing:
        lines.append("worst rows:")
        for record in failing[:worst]:
            cause = f" [{record.cause}]" if record.cause else ""
            lines.append(
                f"  {record.status}{cause}: {record.case_id} / {record.implementation} / "
                f"{record.variant}: {record.message}"
            )
        if len(failing) > worst:
            lines.append(f"  ... and {len(failing) - worst} more (see the CSV)")
    return lines


def divergence_summary(records: Sequence[Record]):
    """One row per case, one column per mutation: the max abs difference it causes.

    0 where the mutation is invisible; inf where it changes the output shape. `blind_spots`
    lists the mutations the case cannot detect (its variant row agrees), `hidden` those that the
    operator should show but this case's data hides.
    """
    import pandas as pd

    from harness.explaining.mutations import MUTATIONS

    by_case: dict[str, dict] = {}
    for record in records:
        if record.variant not in MUTATIONS:
            continue
        row = by_case.setdefault(
            record.case_id,
            {"case_id": record.case_id, "source": record.source, "_blind": [], "_hidden": []},
        )
        if record.max_abs_diff is None:
            value = float("inf") if record.observed == "diverge" else float("nan")
        else:
            value = (
                0.0
                if record.expected == "agree" and record.observed == "agree"
                else float(record.max_abs_diff)
            )
        row[record.variant] = value
        if record.observed != "diverge":
            row["_blind"].append(record.variant)
        if record.status == "hidden":
            row["_hidden"].append(record.variant)
    rows = []
    for row in by_case.values():
        blind, hidden = row.pop("_blind"), row.pop("_hidden")
        row["blind_spots"] = ";".join(blind)
        row["hidden"] = ";".join(hidden)
        rows.append(row)
    columns = ["case_id", "source", *MUTATIONS, "blind_spots", "hidden"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in MUTATIONS:
        frame[name] = frame[name].astype("float64")
    return frame


def summary_csv_text(frame) -> str:
    from harness.explaining.mutations import MUTATIONS

    return csv_text(frame, list(MUTATIONS))


def hidden_lines(records: Sequence[Record], limit: int = 10) -> list[str]:
    """Terminal lines naming the cases whose data hides a mutation."""
    hidden: dict[str, list[str]] = {}
    for record in records:
        if record.status == "hidden":
            hidden.setdefault(record.case_id, []).append(record.variant)
    if not hidden:
        return []
    lines = [f"{len(hidden)} cases hide a mutation in their data (status hidden):"]
    for case_id, variants in list(hidden.items())[:limit]:
        lines.append(f"  {case_id}: {', '.join(variants)}")
    if len(hidden) > limit:
        lines.append(f"  ... and {len(hidden) - limit} more (see divergence_summary.csv)")
    return lines


def accepts_invalid_lines(records: Sequence[Record], limit: int = 10) -> list[str]:
    """Terminal lines naming the plug-in rows that accept a case torch rejects, when they do not
    fail the run (without --strict-rejections; with it they are among the worst rows)."""
    rows = [r for r in records if r.status == "accepts_invalid" and not r.failed]
    if not rows:
        return []
    lines = [
        f"{len(rows)} rows accept a configuration torch rejects (status accepts_invalid; "
        "not failing without --strict-rejections):"
    ]
    for record in rows[:limit]:
        lines.append(f"  {record.case_id} / {record.implementation}: {record.message}")
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more (see the CSV)")
    return lines


def merge_reports(paths: Sequence[str | os.PathLike]):
    """Shard reports combined into the rows a single run gives (ordered by case_index, stably)."""
    import pandas as pd

    from harness.cases.errors import HarnessError

    frames = []
    for path in paths:
        try:
            frame = read_csv(path)
        except FileNotFoundError:
            raise HarnessError(f"{path}: no such report") from None
        except Exception as error:
            raise HarnessError(f"{path}: not a readable report ({error})") from None
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise HarnessError(f"{path}: not a conv-harness report (missing {', '.join(missing)})")
        frames.append(frame[list(COLUMNS)])
    merged = pd.concat(frames, ignore_index=True)
    key = merged["case_index"].astype("int64")
    duplicated = merged.duplicated(
        subset=["case_id", "implementation", "variant", "quantity", "layout"]
    )
    if duplicated.any():
        row = merged[duplicated].iloc[0]
        raise HarnessError(
            f"row {row.case_id} / {row.implementation} / {row.variant} appears in more than one "
            "report; merge reports of disjoint shards"
        )
    order = sorted(range(len(merged)), key=lambda i: (int(key.iloc[i]), i))
    return merged.iloc[order].reset_index(drop=True)


def summary_markdown(records: Sequence[Record], worst: int = 10) -> str:
    """A Markdown summary for a CI job page: counts by status, the failing rows by cause and,
    apart, the expected divergences by cause, then the worst rows. Each table says what it
    counts, and the failing rows' cause table adds up to the number in the title."""
    counts = Counter(r.status for r in records)
    failing = sorted((r for r in records if r.failed), key=_worst_key)
    failing_causes = Counter(r.cause or f"(no cause: {r.status})" for r in failing)
    expected_causes = Counter(
        r.cause or "(no cause)" for r in records if not r.failed and r.observed == "diverge"
    )
    verdict = "all expectations hold" if not failing else f"{len(failing)} rows fail"
    lines = [f"## conv-harness: {verdict}", "", f"### All {len(records)} rows by status", ""]
    lines += ["| status | rows |", "| --- | ---: |"]
    lines += [f"| {status} | {count} |" for status, count in sorted(counts.items())]
    for title, causes in (
        (f"Failing rows by cause ({len(failing)} rows)", failing_causes),
        (
            f"Expected divergences by cause ({sum(expected_causes.values())} rows that diverge "
            "as declared, mostly mutation variants; they do not fail)",
            expected_causes,
        ),
    ):
        if causes:
            lines += ["", f"### {title}", "", "| cause | rows |", "| --- | ---: |"]
            lines += [f"| {cause} | {count} |" for cause, count in sorted(causes.items())]
    shown = (
        failing[:worst]
        or sorted(
            (r for r in records if r.observed == "diverge" and r.variant == "as_is"), key=_worst_key
        )[:worst]
    )
    if shown:
        title = "Worst failing rows" if failing else "Largest expected divergences"
        lines += [
            "",
            f"### {title}",
            "",
            "| case | implementation | variant | status | cause | max abs diff |",
            "| --- | --- | --- | --- | --- | ---: |",
        ]
        for r in shown:
            diff = "" if r.max_abs_diff is None else f"{r.max_abs_diff:.3g}"
            lines.append(
                f"| {r.case_id} | {r.implementation} | {r.variant} | {r.status} | "
                f"{r.cause} | {diff} |"
            )
    return "\n".join(lines) + "\n"
