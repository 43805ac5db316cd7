"""Progress on a terminal: a bar for runs over cases, a counter for fuzz campaigns.

Both write one line to stderr, only on a terminal (never in logs or pipes), and clear it at the
end.
"""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on stderr: only on a terminal, only after a couple of seconds."""

    def __init__(self, total: int, delay: float = 2.0, stream=None):
        import time

        self.stream = stream or sys.stderr
        self.enabled = total > 0 and self.stream.isatty()
        self.total, self.delay, self.started = total, delay, time.monotonic()
        self.seen: set[str] = set()
        self.shown = False

    def update(self, case_id: str) -> None:
        import time

        self.seen.add(case_id)
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        done = len(self.seen)
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} cases  {case_id[:40]:<40}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 90 + "\r")
            self.stream.flush()
            self.shown = False


class Counter:
    """Configurations done and their rate on one line of stderr, on a terminal only."""

    def __init__(self, total: int | None, stream=None):
        import time

        self.stream = stream or sys.stderr
        self.total, self.started = total, time.monotonic()
        self.enabled = self.stream.isatty()
        self.shown = False

    def update(self, done: int) -> None:
        import time

        if not self.enabled or done % 10:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        of = f"/{self.total}" if self.total else ""
        self.stream.write(f"\rfuzz: {done}{of} configurations, {done / elapsed:.0f}/s")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()
