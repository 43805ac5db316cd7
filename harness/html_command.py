"""`conv-harness report CSV... --html FILE` and `run --html FILE`: the HTML page of a report.

An edge: the implementations a report names are resolved here, once, in this process (a name that
cannot be resolved here, a plug-in not importable, is None: its rows get a note instead of a map),
and handed to harness.reporting.html_page, which builds the page from the rows. The page is written
atomically, like the CSV. `report` exits 0 once the page is written, whatever the rows say (the
page's first line says whether rows fail); 2 for a missing or unreadable CSV, or one that is not a
conv-harness report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def resolved(names) -> dict:
    """Each implementation name of a report as an Implementation, or None where it cannot be
    resolved here."""
    from harness.computations.registry import resolve
    from harness.running.variants import PRODUCER

    found: dict = {}
    for name in dict.fromkeys(names):
        if name == PRODUCER or not name:
            found[name] = None
            continue
        try:
            found[name] = resolve(name)
        except Exception:  # not importable here (an ImplementationError, or the plug-in raised)
            found[name] = None
    return found


def write_page(frame, path: str | os.PathLike, reports: Sequence[str]) -> None:
    from harness.reporting.html_page import build_page
    from harness.reporting.report import atomic_write

    divergent = frame[(frame["status"] != "ok") & (frame["observed"] == "diverge")]
    implementations = resolved(divergent["implementation"])
    title = "conv-harness report: " + ", ".join(os.path.basename(str(r)) for r in reports)
    atomic_write(path, build_page(frame, implementations, title))


def report_page(reports: Sequence[str], path: str) -> int:
    from harness.reporting.report import merge_reports

    frame = merge_reports(reports)  # HarnessError (exit 2) for a missing or foreign CSV
    write_page(frame, path, reports)
    print(f"page of {len(frame)} rows from {len(reports)} report(s): {path}")
    return 0
