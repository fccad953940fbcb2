"""AWS waits: a progress display and durations like ``20m`` (the polling itself is :mod:`opskit.wait`).

Watchers take ``clock`` and ``sleep`` so tests can run a 20-minute deadline in
microseconds with a fake clock. The sleep here is the *interval between two
status requests* to AWS, never a wait standing in for readiness.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import IO, TypeVar

from opskit.aws.errors import BadInput

T = TypeVar("T")

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\Z")


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """``90``, ``90s``, ``20m``, ``1h30m`` -> seconds (> 0)."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        m = _DURATION_RE.match(value)
        if not value or not m or not any(m.groups()):
            raise BadInput(f"{what} {text!r} is not a duration: use e.g. 90s, 20m, 1h30m")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise BadInput(f"{what} must be positive, got {text!r}")
    return seconds


def fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


ProgressFn = Callable[[str], None]


class Progress:
    """Shows what a watcher sees: one line per change of state on ``stream`` (stderr).

    On a terminal a rich spinner with the elapsed time runs between changes.
    """

    def __init__(self, title: str, stream: IO[str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.last: str | None = None
        self.lines: list[str] = []
        self._status = None
        if getattr(self.stream, "isatty", lambda: False)():
            from rich.console import Console

            self._status = Console(file=self.stream).status(title)
            self._status.start()

    def __call__(self, text: str) -> None:
        elapsed = fmt_duration(self.clock() - self.started)
        if text != self.last:
            line = f"[{elapsed:>7}] {self.title}: {text}"
            self.lines.append(line)
            if self._status is not None:
                self._status.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=self.stream, flush=True)
            self.last = text
        if self._status is not None:
            self._status.update(f"{self.title}: {text} ({elapsed})")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
