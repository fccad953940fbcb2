"""The one way opskit waits: poll a condition until it holds or a deadline passes.

Every wait in opskit (a container coming up, a Raft leader, a DNS change landing, an orderer catching up, an
AWS rollout, a lock freeing) is a :class:`Poller` run: ``step()`` looks once and returns a value when the condition
holds, ``None`` for "not yet", or raises for a failure that no amount of waiting fixes; at the deadline
``on_timeout(waited)`` is raised, and it should say what the last look saw. The sleep between two looks is the
polling interval of a condition with a deadline, never a wait standing in for readiness.

Callers take ``clock`` and ``sleep`` where tests need to run a 20-minute deadline in microseconds (tests/fakes.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Poller(Generic[T]):
    """Call ``step`` every ``interval`` seconds until it returns a value, or the deadline passes.

    ``backoff`` > 1 multiplies the interval after each look, up to ``max_interval`` (0.2, 0.4, 0.8, ... 2 s): quick
    for what is nearly ready, gentle on a node that is slow. The last look always happens at the deadline, so a
    condition that holds just in time is not reported as a timeout.
    """

    timeout: float
    interval: float
    backoff: float = 1.0
    max_interval: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    polls: int = field(default=0, init=False)

    def run(self, step: Callable[[], T | None], on_timeout: Callable[[float], Exception]) -> T:
        start = self.clock()
        deadline = start + self.timeout
        interval = self.interval
        while True:
            self.polls += 1
            value = step()
            if value is not None:
                return value
            now = self.clock()
            if now >= deadline:
                raise on_timeout(now - start)
            self.sleep(min(interval, max(0.0, deadline - now)))  # polling interval of a condition with a deadline
            interval = interval * self.backoff
            if self.max_interval is not None:
                interval = min(interval, self.max_interval)
