"""The Python API's `harness.run`: cases and implementation names in, the report's rows out as a
pandas DataFrame, exactly as `conv-harness run` writes them."""

from __future__ import annotations

from collections.abc import Sequence

from harness.cases.case import Case
from harness.computations.cost import DEFAULT_MAX_MEMORY
from harness.running.executor import run_records
from harness.running.runner import RunOptions


def run(
    cases: Sequence[Case],
    implementations: Sequence[str] | None = None,
    variants: bool = True,
    timeout: float | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    strict_rejections: bool = False,
    backward: bool = False,
    layouts: Sequence[str] | str = (),
    isolate: bool = True,
):
    """Run cases through implementations; a pandas DataFrame with exactly the report's rows.

    `strict_rejections` makes `accepts_invalid` rows (a plug-in accepted a case declared
    `rejects`) count as failing, as `conv-harness run --strict-rejections` does; the rows
    themselves are the same either way. `layouts` ('all', a comma list or a sequence of
    harness.cases.layouts names) adds the layout rows, as `conv-harness run --layouts`. The cases
    run in a worker process, so that an implementation that crashes natively gives `error` rows
    instead of ending this process; `isolate=False` runs them here (`run --in-process`).
    """
    from harness.cases.layouts import parse_layouts
    from harness.reporting.report import to_dataframe

    if isinstance(layouts, str):
        layouts = parse_layouts(layouts)

    options = RunOptions(
        variants=variants,
        timeout=timeout,
        max_memory=max_memory,
        strict_rejections=strict_rejections,
        backward=backward,
        layouts=parse_layouts(",".join(layouts)) if layouts else (),
    )
    return to_dataframe(run_records(cases, implementations, options, isolate))
