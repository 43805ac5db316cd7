"""Worker processes that may die: a function run in one comes back as its result, or as
WorkerDeath saying how the process ended (a signal, an exit status), never as a lost parent.

A `Zygote` is a fresh interpreter (so a caller's script is never re-run in it) that imports torch
and the harness once and then forks a `Worker` per request: a worker costs milliseconds, where a
new interpreter takes seconds to import torch, so a crash costs one fork. A worker runs named
functions (`module:function`, given `tell` to send notes to the parent before its result) until
told to stop. `WorkerSlot` keeps one worker, replacing it (and its zygote) after a death.

One zygote serves the whole process (`shared_zygote`): the first run starts it, every later run
(another `harness.run`, the next CLI call in the same process, the next test) only forks. Each
fork carries the caller's sys.path, working directory and environment of the moment, so a worker
imports plug-ins as a fresh interpreter started now would; the zygote is keyed by the thread
variables, which its already imported libraries read once.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from harness.running.cluster import THREAD_VARIABLES


class WorkerDeath(Exception):
    """The worker process ended before it answered (the message says how)."""


def death_words(exitcode: int | None) -> str:
    """How a process ended, in words: 'died with SIGSEGV', 'exited with status 3'."""
    if exitcode is None:
        return "ended (how could not be learnt)"
    if exitcode < 0:
        try:
            return f"died with {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"died with signal {-exitcode}"
    return f"exited with status {exitcode}"


def _target(name: str) -> Callable:
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def _serve(connection: Connection) -> None:
    """A worker's loop: (target, args) in, ('note', x)* then ('result', value) out, until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to answer
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource  # no core file for each crash of code under test

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def tell(note) -> None:
        connection.send(("note", note))

    try:
        while True:
            request = connection.recv()
            if request is None:
                return
            target, args = request
            connection.send(("result", _target(target)(tell, *args)))
    except (EOFError, OSError):  # the parent has gone
        return


def zygote(descriptor: int) -> None:
    """The entry point of the zygote process: import, then fork a worker per request; report a
    worker's exit status when asked; end with its socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = Connection(descriptor)
    try:
        sys.path[:] = control.recv()  # the parent's: a plug-in imports here as it does there
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401  (imported, never run: a fork before any parallel work is safe)

            import harness.running.runner  # noqa: F401
        control.send("ready")
        _fork_on_request(control)
    except (EOFError, OSError):  # the parent has gone: so do we
        return


def _fork_on_request(control: Connection) -> None:
    from multiprocessing.reduction import send_handle

    while True:
        request, argument = control.recv()
        if request == "status":
            try:
                _, status = os.waitpid(argument, 0)
                control.send(os.waitstatus_to_exitcode(status))
            except ChildProcessError:
                control.send(None)
            continue
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                control.close()
                ours.close()
                path, directory, environment = argument  # the caller's, at this request
                sys.path[:] = path
                os.environ.clear()
                os.environ.update(environment)
                with contextlib.suppress(OSError):
                    os.chdir(directory)
                _serve(Connection(theirs.detach()))
            finally:
                os._exit(0)
        theirs.close()
        send_handle(control, ours.fileno(), 0)
        ours.close()
        control.send(pid)


class Zygote:
    """The parent's side of a zygote process: workers forked on request, their exit statuses."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        code = f"from harness.running.workers import zygote; zygote({theirs.fileno()})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
        )
        theirs.close()
        self.control = Connection(ours.detach())
        self.lock = threading.Lock()
        try:
            self.control.send(list(sys.path))
            self.control.recv()
        except (EOFError, OSError):
            raise WorkerDeath(
                f"the process that starts workers {death_words(self.process.wait())}"
            ) from None

    def fork(self) -> tuple[Connection, int]:
        from multiprocessing.reduction import recv_handle

        with self.lock:
            try:
                context = (list(sys.path), os.getcwd(), dict(os.environ))
                self.control.send(("fork", context))
                descriptor = recv_handle(self.control)
                return Connection(descriptor), self.control.recv()
            except (EOFError, OSError, RuntimeError):
                raise WorkerDeath(
                    f"the process that starts workers {death_words(self.process.poll())}"
                ) from None

    def status(self, pid: int) -> int | None:
        """How worker `pid` ended (waiting for it), or None when that cannot be learnt."""
        with self.lock:
            try:
                self.control.send(("status", pid))
                return self.control.recv()
            except (EOFError, OSError):
                return None

    def close(self) -> None:
        self.control.close()  # it ends when its socket does
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_SHARED: dict[tuple, Zygote] = {}
_SHARED_LOCK = threading.Lock()


def shared_zygote() -> Zygote:
    """This process's zygote for its current thread settings: started on first use, then reused
    by every WorkerSlot (a run costs forks, not an interpreter start); a dead one is replaced."""
    key = tuple(os.environ.get(name) for name in THREAD_VARIABLES)
    with _SHARED_LOCK:
        zygote = _SHARED.get(key)
        if zygote is None or zygote.process.poll() is not None:
            if zygote is not None:
                zygote.close()
            zygote = _SHARED[key] = Zygote()
        return zygote


def close_shared_zygotes() -> None:
    """End every shared zygote (at exit; a later run starts a new one)."""
    with _SHARED_LOCK:
        for zygote in _SHARED.values():
            with contextlib.suppress(Exception):
                zygote.close()
        _SHARED.clear()


atexit.register(close_shared_zygotes)


class Worker:
    """One worker process, forked by a Zygote, and the socket to it."""

    def __init__(self, zygote: Zygote):
        self.zygote = zygote
        self.connection, self.pid = zygote.fork()
        self.busy = False  # a call left unanswered (Ctrl-C): the worker is killed on close

    def call(self, target: str, *args, on_note: Callable | None = None):
        """target(tell, *args) in the worker (`module:function`); its notes go to `on_note`."""
        self.busy = True
        try:
            self.connection.send((target, args))
            while True:
                kind, value = self.connection.recv()
                if kind == "result":
                    self.busy = False
                    return value
                if on_note is not None:
                    on_note(value)
        except (EOFError, OSError):
            self.connection.close()
            how = death_words(self.zygote.status(self.pid))
            raise WorkerDeath(f"the worker process {how}") from None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.connection.closed:
            return
        if self.busy:
            self.kill()
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.connection.close()
        self.zygote.status(self.pid)  # reaped


class WorkerSlot:
    """One worker at a time: started on first use, replaced after a death (with its zygote, if
    that died too), closed with the slot."""

    def __init__(self):
        self.zygote: Zygote | None = None
        self.worker: Worker | None = None

    def __enter__(self) -> WorkerSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, target: str, *args, on_note: Callable | None = None):
        try:
            if self.zygote is None or self.zygote.process.poll() is not None:
                self.zygote = shared_zygote()
            if self.worker is None:
                self.worker = Worker(self.zygote)
            return self.worker.call(target, *args, on_note=on_note)
        except WorkerDeath:
            self.worker = None
            if self.zygote is not None and self.zygote.process.poll() is not None:
                self.zygote = None  # shared_zygote replaces it on the next call
            raise

    def kill(self) -> None:
        """Stop a running call now (its worker is killed)."""
        if self.worker is not None:
            self.worker.kill()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        self.zygote = None  # shared: it stays for the next run
