"""Running cases in worker processes that may die: a native crash of code under test loses nothing.

An implementation can end its process from native code (a segfault, an abort, `os._exit`, the OOM
killer); no Python `except` sees that. So cases run in worker processes (harness.running.workers):
the worker resolves the implementations by name, runs a case (harness.running.runner.run_case) and
sends its rows back. When a worker dies, the case is run again in fresh workers with one
implementation at a time to learn which of them dies on it; those are replaced by a stand-in that
raises harness.computations.calling.ProcessDied ("the worker process died with SIGSEGV while running
mymod:conv2d on case X"), so their rows on that case are `error` rows saying so, and the case is run
once more for everybody else's rows. The run goes on in a fresh worker. `CaseRunner` is that for one
worker (`run --jobs 1`, fuzz, the pytest matrix), `isolated_records` for N of them (`run --jobs N`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from harness.cases.case import Case
from harness.computations.calling import ProcessDied
from harness.computations.implementation import Implementation
from harness.computations.registry import listed_names, resolve_implementations
from harness.running.runner import RunOptions, error_rows, run_case
from harness.running.workers import WorkerDeath, WorkerSlot
from harness.verdicts.records import Record


def crashed_stand_in(implementation: Implementation, message: str) -> Implementation:
    """A stand-in for the implementation that defines the same operations, each raising
    ProcessDied(message)."""

    def died(*args, **kwargs):
        raise ProcessDied(message)

    return implementation.with_operations(dict.fromkeys(implementation.operations, died))


_RESOLVED: dict[tuple, list] = {}


def rows_here(tell, names, case: Case, options: RunOptions, crashed: dict, only) -> list[Record]:
    """In a worker: the case's rows, the implementations in `crashed` replaced by stand-ins,
    only those in `only` when given (the implementations resolved once per worker)."""
    key = tuple(names or ())
    try:
        if key not in _RESOLVED:  # a worker process is an edge: it resolves the names itself
            _RESOLVED[key] = resolve_implementations(names)
    except Exception as error:  # the parent resolved them; say why this process cannot
        text = f"the worker process could not resolve the implementations: {error}"
        return error_rows(case, listed_names(names), text, "")
    chosen = [
        crashed_stand_in(i, crashed[i.name]) if i.name in crashed else i
        for i in _RESOLVED[key]
        if only is None or i.name in only
    ]
    return run_case(case, chosen, options)


class CaseRunner:
    """Runs cases in one worker process at a time, starting a fresh one after a death."""

    def __init__(self, names: Sequence[str] | None):
        self.names = list(names) if names else None
        self.slot = WorkerSlot()

    def __enter__(self) -> CaseRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.slot.close()

    def _attempt(self, case: Case, options: RunOptions, crashed: dict, only=None) -> list[Record]:
        return self.slot.call(
            "harness.running.isolation:rows_here", self.names, case, options, crashed, only
        )

    def run_case(self, case: Case, options: RunOptions) -> list[Record]:
        """The case's rows, as harness.running.runner.run_case gives them; an implementation whose
        call ends the process gets `error` rows naming how it died."""
        try:
            return self._attempt(case, options, {})
        except WorkerDeath as death:
            first = str(death)
        listed = listed_names(self.names)
        crashed: dict[str, str] = {}
        for name in listed:  # which implementation, run alone, ends the process?
            if len(listed) == 1:  # alone already
                crashed[name] = f"{first} while running {name} on case {case.id}"
                break
            try:
                self._attempt(case, options, {}, only=(name,))
            except WorkerDeath as death:
                crashed[name] = f"{death} while running {name} on case {case.id}"
        if not crashed:
            message = f"{first} on case {case.id}, though no implementation alone ends it"
            return error_rows(case, listed, message, "")
        try:  # everybody else's rows, and the stand-ins' error rows
            return self._attempt(case, options, crashed)
        except WorkerDeath as death:
            message = (
                f"{death} while running case {case.id} with every implementation that ends it "
                "left out: the harness's own computation on the case ends the process"
            )
            return error_rows(case, listed, message, "")


def isolated_records(
    cases: Sequence[Case],
    names: Sequence[str] | None,
    options: RunOptions,
    workers: int,
    order: Sequence[int],
) -> Iterator[Record]:
    """Rows of `cases` run on `workers` worker processes, yielded in the cases' order; `order`
    is the order in which they start (the costliest first)."""
    idle: list[CaseRunner] = [CaseRunner(names) for _ in range(workers)]
    lock = threading.Lock()

    def run(k: int) -> list[Record]:
        with lock:
            runner = idle.pop()
        try:
            return runner.run_case(cases[k], options)
        finally:
            with lock:
                idle.append(runner)

    runners = list(idle)
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = {k: pool.submit(run, k) for k in order}
    try:
        for k in range(len(cases)):
            yield from futures[k].result()
    except BaseException:  # Ctrl-C or the caller stopped early: stop the running cases now
        for future in futures.values():
            future.cancel()
        for runner in runners:
            runner.slot.kill()
        raise
    finally:
        pool.shutdown(wait=True)
        for runner in runners:
            runner.close()


_OPEN: list[CaseRunner] = []


@contextlib.contextmanager
def isolated(names: Sequence[str] | None) -> Iterator[CaseRunner]:
    """While open, case_rows runs the cases of these implementations in a worker process."""
    runner = CaseRunner(names)
    _OPEN.append(runner)
    try:
        yield runner
    finally:
        _OPEN.remove(runner)
        runner.close()


def case_rows(
    case: Case, implementations: Sequence[Implementation], options: RunOptions
) -> list[Record]:
    """harness.running.runner.run_case, in the worker of the innermost `isolated` block that was
    opened for the same implementation names; in this process when none is open."""
    names = [i.name for i in implementations]
    for runner in reversed(_OPEN):
        if listed_names(runner.names) == names:
            return runner.run_case(case, options)
    return run_case(case, implementations, options)
