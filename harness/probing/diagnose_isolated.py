"""`diagnose` in a worker process: a probe whose call ends the process is that probe's error.

The diagnosis runs in a worker (harness.running.workers) that notes each implementation call by its
number before making it (harness.computations.calling.CALL_WATCH). A diagnosis is deterministic, so
when the worker dies, the call it was making is known by its number: the diagnosis runs again in a
fresh worker with that call answered by harness.computations.calling.ProcessDied ("the worker
process died with SIGSEGV during this call"), which makes its probe an `error` (a retry in a simpler
form may still run), and so on for each call that ends the process. After `MAX_DEATHS` deaths every
later call is answered so, and the diagnosis finishes.
"""

from __future__ import annotations

from harness.cases.errors import HarnessError
from harness.computations.calling import CALL_WATCH, ProcessDied
from harness.computations.implementation import Implementation
from harness.probing.diagnosis import Diagnosis
from harness.running.workers import WorkerDeath, WorkerSlot

MAX_DEATHS = 20
TARGET = "harness.probing.diagnose_isolated:diagnosis_here"


def diagnosis_here(tell, name: str, dead: dict[int, str], dead_from: int | None) -> Diagnosis:
    """In a worker: diagnose `name`, telling the parent each call's number before it is made;
    the calls in `dead` (and from `dead_from` on) raise ProcessDied with their message instead."""
    from harness.computations.registry import resolve
    from harness.probing.diagnose import diagnose

    count = [0]

    def watch() -> None:
        number = count[0]
        count[0] += 1
        tell(number)
        if number in dead:
            raise ProcessDied(dead[number])
        if dead_from is not None and number >= dead_from:
            raise ProcessDied(
                f"not run: the implementation ended the worker process {MAX_DEATHS} times "
                "before this call"
            )

    CALL_WATCH.append(watch)
    try:
        return diagnose(resolve(name))  # a worker process is an edge: it resolves the name
    finally:
        CALL_WATCH.remove(watch)


def isolated_diagnose(implementation: Implementation) -> Diagnosis:
    """harness.probing.diagnose.diagnose(implementation) run in worker processes (each resolving its
    name), surviving their deaths."""
    name = implementation.name
    dead: dict[int, str] = {}
    dead_from: int | None = None
    with WorkerSlot() as slot:
        while True:
            last: list[int] = []
            try:
                return slot.call(TARGET, name, dead, dead_from, on_note=last.append)
            except WorkerDeath as death:
                if not last or last[-1] in dead or dead_from is not None:
                    raise HarnessError(
                        f"diagnose {name}: {death} outside any call of the implementation "
                        "(the harness's own computation); please report it"
                    ) from None
                number = last[-1]
                dead[number] = f"{death} during this call of {name}"
                if len(dead) >= MAX_DEATHS:
                    dead_from = number + 1
