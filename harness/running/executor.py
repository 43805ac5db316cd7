"""Scheduling cases: in this process or over worker processes, and the Python API's `run`.

Rows come case by case in the cases' order whatever the number of workers; workers are spawned
(each imports its own torch), get their share of the cores, take the costliest cases first, and
resolve the implementations by name themselves (each process is an edge that resolves once).
`run_records` resolves the names it is given (harness.api.run, the Python API, calls it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from harness.cases.case import Case
from harness.computations import reference
from harness.computations.implementation import Implementation
from harness.computations.registry import listed_names, resolve_implementations
from harness.running.cluster import THREAD_VARIABLES, Cluster
from harness.running.isolation import CaseRunner, isolated_records
from harness.running.runner import DEFAULT_OPTIONS, RunOptions, error_rows, run_case
from harness.verdicts.records import Record, harness_fault_text


def iter_records(
    cases: Sequence[Case],
    implementations: Sequence[Implementation],
    options: RunOptions = DEFAULT_OPTIONS,
    jobs: int = 1,
    cluster: Cluster | None = None,
    isolate: bool = True,
) -> Iterator[Record]:
    """Records case by case, in the cases' order (so an interrupted run keeps what it has).

    Cases run in spawned worker processes (harness.running.isolation), `jobs` of them (each imports
    its own torch and gets its share of the cores): an implementation that ends its process natively
    gets `error` rows on that case and the run goes on. `isolate=False` with one job runs them in
    this process instead (a debugger sees the calls; a native crash ends the run). `cluster`
    (harness.running.cluster: a dask.distributed scheduler) runs them on its workers. The rows and
    their order are the same every way.
    """
    names = [implementation.name for implementation in implementations]
    runnable = [case for case in cases if case.skip_reason is None]
    if cluster is not None:
        with cluster.executor() as pool:
            yield from collect(pool, runnable, names, options)
        return
    if not isolate and jobs <= 1:
        for case in runnable:
            yield from run_case(case, implementations, options)
        return
    if not runnable:
        return
    if jobs <= 1 or len(runnable) <= 1:
        with CaseRunner(names) as runner:
            for case in runnable:
                yield from runner.run_case(case, options)
        return
    from harness.running.select import estimated_cost

    worker_count = min(jobs, len(runnable))
    # the costliest cases first, so that no worker starts a long case when the others finish
    order = sorted(range(len(runnable)), key=lambda k: -estimated_cost(runnable[k]))
    with _worker_threads(max(1, reference.available_cores() // worker_count)):
        yield from isolated_records(runnable, names, options, worker_count, order)


def submit_all(pool, runnable: Sequence[Case], names, options: RunOptions) -> dict:
    """Submit every case to a concurrent.futures executor (a Dask cluster's), the costliest first;
    futures by index."""
    from harness.running.select import estimated_cost

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
                stage = f"running case {case.id} on a cluster worker"
                rows = error_rows(case, listed_names(names), harness_fault_text(stage, error), "")
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
    start (a worker that replaces a dead one included) and restored afterwards. A variable the user
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


def _run_in_worker(case: Case, options: RunOptions, names=None) -> list[Record]:
    """One case on a Dask worker; implementations resolved by name once per worker (the first
    case resolves them there)."""
    if not _WORKER_IMPLEMENTATIONS or _WORKER_IMPLEMENTATIONS[0] != names:
        _WORKER_IMPLEMENTATIONS[:] = [names, resolve_implementations(names)]
    return run_case(case, _WORKER_IMPLEMENTATIONS[1], options)


def run_records(
    cases: Sequence[Case],
    implementations: Sequence[str] | None = None,
    options: RunOptions = DEFAULT_OPTIONS,
    isolate: bool = True,
) -> list[Record]:
    """The rows of `cases` run through the implementations named (the defaults when None)."""
    resolved = resolve_implementations(implementations, isolated=isolate)
    return list(iter_records(cases, resolved, options, isolate=isolate))
