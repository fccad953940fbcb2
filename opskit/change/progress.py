"""The one progress shape of every changing operation: a function that takes a line of text.

Operations say what they are doing (``"peer0.org1: copy:/var/hyperledger/production ..."``,
``"switch/mychannel: done (1.2s)"``, ``"service web: 2/3 tasks running"``) through a :data:`ProgressFn`; they never
print. Who runs them decides where the lines go: a task gives a :class:`Progress` (stderr, with the elapsed time),
a library user may give ``print``, ``logging.info`` or a list's ``append``, and ``None`` means silence.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

#: progress: one line of text about what is happening now (thread-safe callers may call it from any thread)
ProgressFn = Callable[[str], None]


def silent(_line: str) -> None:
    """The progress of a run nobody watches."""


def scoped(progress: ProgressFn | None, prefix: str) -> ProgressFn:
    """``progress`` with every line prefixed by ``prefix: `` (a node's or a step's name); silent for ``None``."""
    if progress is None:
        return silent
    return lambda line: progress(f"{prefix}: {line}")


class Progress:
    """Progress lines on ``stream`` (stderr) with the time since the start, one per change of text.

    ``enabled=None`` shows them on a terminal only (a cron job's mail stays short); ``title`` prefixes every line
    (``"ecs-deploy"``); ``spinner`` runs a rich status line with the elapsed time between lines on a terminal, for
    waits that take minutes (AWS). Thread-safe: the container runner calls it from its per-host workers.
    """

    def __init__(self, title: str | None = None, *, stream: IO[str] | None = None, enabled: bool | None = None,
                 spinner: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else enabled
        self.clock = clock
        self.started = clock()
        self.last: str | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._status: Any = None
        if spinner and tty and self.enabled:
            from rich.console import Console

            self._status = Console(file=self.stream).status(title or "")
            self._status.start()

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            elapsed = fmt_duration(self.clock() - self.started)
            if text != self.last:
                line = f"[{elapsed:>7}] {self.title + ': ' if self.title else ''}{text}"
                self.lines.append(line)
                if self._status is not None:
                    self._status.console.print(line, markup=False, highlight=False)
                else:
                    self.stream.write(line + "\n")
                    self.stream.flush()
                self.last = text
            if self._status is not None:
                self._status.update(f"{self.title or ''}: {text} ({elapsed})")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def fmt_duration(seconds: float) -> str:
    """``8s``, ``2.5s``, ``4m05s``, ``1h02m``: short enough for a column, exact enough to compare."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
