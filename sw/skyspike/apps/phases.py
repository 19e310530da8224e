"""Progress that shows in a terminal and in a log alike: one line per phase of a long job with
its time (``[ 12.3 s] train: ...``), and lines of detail (one per sample) as they happen. In a
terminal a rich spinner says what the current phase is doing; in a log (output not a terminal)
only the lines are written, flushed at once. Safe to call from another thread (the RTL
simulation reports from one)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from rich.console import Console


class Phases:
    """Phases of one job on ``console``; times count from construction."""

    def __init__(self, console: Console):
        self.console = console
        self.t0 = time.time()
        self._lock = threading.Lock()
        self._status = None
        self._phase: tuple[str, float] | None = None

    def line(self, text: str) -> None:
        """A line of detail, now (rich markup allowed)."""
        with self._lock:
            self.console.print(text, highlight=False)

    def begin(self, name: str, doing: str) -> None:
        """Start phase ``name`` (ending the current one): a spinner in a terminal, a line in a log."""
        self.end()
        with self._lock:
            self._phase = (name, time.time())
            if self.console.is_terminal:
                self._status = self.console.status(f"{name}: {doing} ...")
                self._status.start()
            else:
                self.console.print(f"[{time.time() - self.t0:6.1f} s] {name}: {doing} ...", highlight=False)

    def end(self, result: str = "done") -> None:
        """End the current phase with a line saying its ``result`` and time."""
        with self._lock:
            if self._phase is None:
                return
            name, start = self._phase
            if self._status is not None:
                self._status.stop()
                self._status = None
            now = time.time()
            self.console.print(f"[{now - self.t0:6.1f} s] {name}: {result} ({now - start:.1f} s)", highlight=False)
            self._phase = None

    @contextmanager
    def phase(self, name: str, doing: str):
        """``begin`` .. ``end``; the body may call ``end`` itself with a result."""
        self.begin(name, doing)
        try:
            yield self
        except BaseException:
            self.end("failed")
            raise
        self.end()


__all__ = ["Phases"]
