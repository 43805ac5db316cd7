"""Scheduling cases: in this process or over worker processes, and the Python API's `run`.

Rows come case by case in the cases' order whatever the number of workers; workers are spawned
(each imports its own torch), get their share of the cores, take the costliest cases first, and
resolve implementations by name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from harness import reference
from harness.case import Case
from harness.cluster import THREAD_VARIABLES, Cluster
from harness.cost import DEFAULT_MAX_MEMORY
from harness.records import Record, harness_fault_text
from harness.runner import (
    DEFAULT_IMPLEMENTATIONS,
    DEFAULT_OPTIONS,
    RunOptions,
    error_rows,
    resolve_implementations,
    run_case,
)


def iter_records(
    cases: Sequence[Case],
    implementations: Sequence[str] | None = None,
    options: RunOptions = DEFAULT_OPTIONS,
    jobs: int = 1,
    cluster: Cluster | None = None,
) -> Iterator[Record]:
    """Records case by case, in the cases' order (so an interrupted run keeps what it has).

    jobs > 1 runs cases in that many worker processes (spawned, so each imports its own torch);
    `cluster` (harness.cluster: a dask.distributed scheduler) runs them on its workers instead.
    The rows and their order are the same either way as with one job.
    """
    names = list(implementations) if implementations else None
    resolved = resolve_implementations(names)
    runnable = [case for case in cases if case.skip_reason is None]
    if cluster is not None:
        with cluster.executor() as pool:
            yield from collect(pool, runnable, names, options)
        return
    if jobs <= 1 or len(runnable) <= 1:
        for case in runnable:
            yield from run_case(case, resolved, options)
        return
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    worker_count = min(jobs, len(runnable))
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=worker_count,
        mp_context=context,
        initializer=_init_worker,
        initargs=(names,),
    )
    try:
        with _worker_threads(max(1, reference.available_cores() // worker_count)):
            futures = submit_all(pool, runnable, names, options)
        for k in range(len(runnable)):  # rows in the cases' order
            yield from futures[k].result()
    except BaseException:  # Ctrl-C or a failure: stop the workers now, not after their cases
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        raise
    pool.shutdown(wait=False)  # the results are in: write the report while the workers exit


def submit_all(pool, runnable: Sequence[Case], names, options: RunOptions) -> dict:
    """Submit every case to a concurrent.futures executor, the costliest first; futures by index."""
    from harness.select import estimated_cost

    # the costliest cases first, so that no worker starts a long case when the others finish
    order = sorted(range(len(runnable)), key=lambda k: -estimated_cost(runnable[k]))
    return {k: pool.submit(_run_in_worker, runnable[k], options, names) for k in order}


def collect(pool, runnable: Sequence[Case], names, options: RunOptions) -> Iterator[Record]:
    """The rows of every case run on `pool`, in the cases' order; a case whose task failed (a
    worker that could not import a plug-in, or that kept dying) gives error rows naming it."""
    futures = submit_all(pool, runnable, names, options)
    try:
        for k, case in enumerate(runnable):
            try:
                rows = futures[k].result()
            except Exception as error:
                listed = [(name, None) for name in (names or DEFAULT_IMPLEMENTATIONS)]
                stage = f"running case {case.id} on a cluster worker"
                rows = error_rows(
                    case, list(dict.fromkeys(listed)), harness_fault_text(stage, error), ""
                )
            yield from rows
    except BaseException:  # Ctrl-C or the caller stopped early: the cluster drops what is left
        pool.shutdown(wait=False)
        raise


_WORKER_IMPLEMENTATIONS: list = []


@contextlib.contextmanager
def _worker_threads(count: int):
    """Workers spawned inside start their BLAS and OpenMP pools with `count` threads.

    Each worker gets its share of the cores: N workers whose BLAS each spawned a thread per core
    would oversubscribe them (and OpenBLAS threads spin while they wait). The variables are read
    when a worker imports NumPy, so they are set in this process's environment while the workers
    start (ProcessPoolExecutor starts them on submit) and restored afterwards. A variable the user
    set is left as it is.
    """
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(count)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _init_worker(names) -> None:
    import signal as signal_module

    signal_module.signal(signal_module.SIGINT, signal_module.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER_IMPLEMENTATIONS[:] = [names, resolve_implementations(names)]


def _run_in_worker(case: Case, options: RunOptions, names=None) -> list[Record]:
    """One case in a worker; implementations resolved by name once per worker (a dask worker has
    no initializer, so the first case resolves them there)."""
    if not _WORKER_IMPLEMENTATIONS or _WORKER_IMPLEMENTATIONS[0] != names:
        _WORKER_IMPLEMENTATIONS[:] = [names, resolve_implementations(names)]
    return run_case(case, _WORKER_IMPLEMENTATIONS[1], options)


def run_records(
    cases: Sequence[Case],
    implementations: Sequence[str] | None = None,
    options: RunOptions = DEFAULT_OPTIONS,
) -> list[Record]:
    return list(iter_records(cases, implementations, options))


def run(
    cases: Sequence[Case],
    implementations: Sequence[str] | None = None,
    variants: bool = True,
    timeout: float | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    strict_rejections: bool = False,
    backward: bool = False,
    layouts: Sequence[str] | str = (),
):
    """Run cases through implementations; a pandas DataFrame with exactly the report's rows.

    `strict_rejections` makes `accepts_invalid` rows (a plug-in accepted a case declared
    `rejects`) count as failing, as `conv-harness run --strict-rejections` does; the rows
    themselves are the same either way. `layouts` ('all', a comma list or a sequence of
    harness.layouts names) adds the layout rows, as `conv-harness run --layouts`.
    """
    from harness.layouts import parse_layouts
    from harness.report import to_dataframe

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
    return to_dataframe(run_records(cases, implementations, options))
