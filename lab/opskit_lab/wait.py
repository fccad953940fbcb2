"""Wait on a condition with a deadline: the lab never sleeps a fixed time to wait."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not become true before the deadline."""


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05,
             max_interval: float = 0.5) -> T:
    """Poll ``predicate`` until it returns a truthy value; return it. Exceptions count as "not yet".

    The poll interval grows from ``interval`` to ``max_interval`` so quick conditions are seen
    quickly and slow ones do not burn the CPU.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    delay = interval
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a condition that raises is simply not met yet
            last_exc = exc
        if time.monotonic() >= deadline:
            hint = f" (last error: {last_exc})" if last_exc else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{hint}")
        time.sleep(delay)  # polling interval between checks of a condition, not a wait for readiness
        delay = min(max_interval, delay * 1.5)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
