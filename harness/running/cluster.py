"""Running cases on a Dask cluster: `--scheduler tcp://HOST:PORT` or `--cluster local:N`.

dask.distributed's `Client.get_executor()` is a concurrent.futures executor, so cases go to the
cluster's workers through the same submit/collect code as to the local process pool
(harness.running.executor); the workers resolve the implementations by name. Tasks are submitted
with `retries`, and the scheduler reschedules the cases of a worker that dies; a case that still
fails gives error rows naming it. dask is imported only when these options are used.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from harness.cases.errors import HarnessError

INSTALL_HINT = "pip install 'conv-harness[cluster]'"
RETRIES = 2
# BLAS and OpenMP pools: one thread per single-threaded worker (harness.running.executor uses them
# too)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# A dask nanny starts its worker with MALLOC_TRIM_THRESHOLD_=65536, which (once set at all) also
# fixes glibc's mmap threshold at 128 KiB: every large array is then a fresh mmap whose pages fault
# in on first touch. On the ResNet-18 registry that made each case on a worker up to twice as slow
# as in a plain process. The local cluster's workers keep glibc's defaults.
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextlib.contextmanager
def _environment_restored() -> Iterator[None]:
    """This process's environment as it was before: a dask nanny writes its pre-spawn variables
    (OMP_NUM_THREADS=1, ...) into the environment of the process that starts it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass(frozen=True)
class Cluster:
    """Where to run: an existing scheduler's address, or N local single-threaded workers."""

    scheduler: str | None = None
    local_workers: int = 0

    @contextlib.contextmanager
    def executor(self) -> Iterator:
        """A concurrent.futures executor on the cluster, closed (with any local cluster) after."""
        distributed = import_distributed()
        with contextlib.ExitStack() as stack:
            stack.enter_context(_environment_restored())
            if self.scheduler:
                client = stack.enter_context(distributed.Client(self.scheduler))
            else:
                import dask

                stack.enter_context(dask.config.set(LOCAL_WORKER_CONFIG))
                local = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=self.local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                        silence_logs=logging.ERROR,
                        env={name: os.environ.get(name, "1") for name in THREAD_VARIABLES},
                        preload=[__name__],  # dask_setup below, in each worker
                    )
                )
                client = stack.enter_context(distributed.Client(local))
            yield client.get_executor(retries=RETRIES, pure=False)


def dask_setup(worker) -> None:
    """Run by each local worker as it starts (dask's preload): Ctrl-C in the terminal reaches the
    whole process group, and the harness, not its workers, answers it (cancelling the work and
    closing the cluster), so the workers ignore SIGINT instead of printing tracebacks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise HarnessError(
            f"--scheduler and --cluster need dask.distributed ({error}); {INSTALL_HINT}"
        ) from None
    return distributed


def parse_local(text: str) -> int:
    """N from `local:N` (N >= 1)."""
    kind, _, count = text.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise HarnessError(f"--cluster expects local:N (N workers, N >= 1), got {text!r}")
    return int(count)


def cluster_from_args(args) -> Cluster | None:
    """The Cluster that --scheduler / --cluster ask for, or None; a usage error without dask."""
    scheduler = getattr(args, "scheduler", None)
    local = getattr(args, "cluster", None)
    if scheduler and local:
        raise HarnessError("--scheduler and --cluster exclude each other; give one")
    if not scheduler and not local:
        return None
    if scheduler and "://" not in scheduler:
        raise HarnessError(
            f"--scheduler expects an address like tcp://HOST:PORT, got {scheduler!r}"
        )
    count = parse_local(local) if local else 0
    import_distributed()  # fail fast, before any case runs
    return Cluster(scheduler=scheduler, local_workers=count)
