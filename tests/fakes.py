"""Test equipment that the library must not ship (issue 17): fakes the tests hand to opskit's injectable parts."""

from __future__ import annotations


class FakeClock:
    """A clock whose ``sleep`` advances time instantly: deadlines in tests without waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
