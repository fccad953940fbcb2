"""Run work on many hosts at once: a bounded pool, one connection per host, deadlines.

The engine never lets one host hold up the others. Each host's work runs in a
worker of a bounded pool; a watchdog marks a host *unreachable* when it passes
its deadline and closes its connection, and the run returns anyway. Work
functions receive an open :class:`~opskit.remote.session.Session` and return any
value; they call ``session.mark_changed()`` when they changed something.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypeVar

from opskit.errors import HostUnreachable, OpskitError
from opskit.inventory.model import Host, Inventory
from opskit.output.report import HostOutcome, HostStatus
from opskit.remote.session import BaseSession, LocalSession, SshSession

T = TypeVar("T")
K = TypeVar("K")


@dataclass
class HostResult(Generic[T]):
    """The outcome of one host's work in one run."""

    host: str
    status: HostStatus
    value: T | None = None
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in (HostStatus.OK, HostStatus.CHANGED)

    def outcome(self) -> HostOutcome:
        return HostOutcome(self.host, self.status, self.duration_s, self.error)


def map_hosts(inventory: Inventory, keys: Sequence[K], fn: Callable[[K], T]) -> list[T]:
    """``fn(key)`` for every key (one per host) in parallel, at most the inventory's ``workers`` at once; results
    in input order.

    The one bounded pool for code that drives hosts through its own per-host objects (a ``DockerHost`` over the
    run's sessions) instead of :meth:`Engine.run`: the container planner, the health gate and the migration's
    reads. Each ``fn`` must bound its own remote calls (they inherit the session's host deadline).
    """
    if not keys:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(inventory.defaults.workers, len(keys)))) as pool:
        return list(pool.map(fn, keys))


@dataclass
class EngineOptions:
    workers: int = 32
    connect_timeout: float = 5.0
    host_timeout: float = 60.0
    strict_host_keys: bool = True
    known_hosts: str | None = None
    stream: IO[str] | None = None
    fail_fast: bool = False
    #: seconds of silence after which an SSH connection is broken even mid-command (TCP keepalive and user
    #: timeout); None: only the command and host deadlines apply
    liveness: float | None = None

    @classmethod
    def from_inventory(cls, inv: Inventory, **overrides: Any) -> "EngineOptions":
        d = inv.defaults
        opts = cls(workers=d.workers, connect_timeout=d.connect_timeout, host_timeout=d.host_timeout,
                   strict_host_keys=d.strict_host_keys, known_hosts=d.known_hosts)
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        return opts


@dataclass
class _Slot:
    host: Host
    started: float | None = None
    session: BaseSession | None = None
    result: HostResult[Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Parallel executor over inventory hosts; use as a context manager to close connections."""

    def __init__(self, inventory: Inventory, options: EngineOptions | None = None) -> None:
        self.inventory = inventory
        self.options = options or EngineOptions.from_inventory(inventory)
        self._sessions: dict[str, BaseSession] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()

    # -- sessions ------------------------------------------------------------------
    def session(self, host: Host, deadline: float | None = None) -> BaseSession:
        """The run's one session for ``host`` (created and opened on first use)."""
        with self._lock:
            existing = self._sessions.get(host.name)
        if existing is not None and not getattr(existing, "aborted", False):
            existing.deadline = deadline
            return existing
        inv, o = self.inventory, self.options
        s: BaseSession
        if host.connection == "local":
            s = LocalSession(host.name, deadline=deadline, stream=o.stream)
        else:
            s = SshSession(
                host.name, host.address, user=inv.user_of(host), port=inv.port_of(host),
                key_file=host.key_file or inv.defaults.key_file,
                known_hosts=o.known_hosts, strict_host_keys=o.strict_host_keys,
                connect_timeout=o.connect_timeout, deadline=deadline, stream=o.stream, liveness=o.liveness,
            )
        s.open()
        with self._lock:
            self._sessions[host.name] = s
        return s

    def _drop(self, host: str) -> None:
        with self._lock:
            s = self._sessions.pop(host, None)
        if s is not None:
            abort = getattr(s, "abort", None)
            (abort or s.close)()

    # -- running ---------------------------------------------------------------------
    def run(self, hosts: Iterable[Host], work: Callable[[BaseSession], T], *,
            host_timeout: float | None = None, fail_fast: bool | None = None) -> list[HostResult[T]]:
        """Run ``work`` on every host in parallel and return one result per host, in input order."""
        slots = [_Slot(h) for h in hosts]
        timeout = host_timeout or self.options.host_timeout
        stop_on_fail = self.options.fail_fast if fail_fast is None else fail_fast
        pending: "queue.Queue[_Slot | None]" = queue.Queue()
        for slot in slots:
            pending.put(slot)
        stop = threading.Event()

        def worker() -> None:
            while True:
                try:
                    slot = pending.get_nowait()
                except queue.Empty:
                    return
                if slot is None:
                    return
                if stop.is_set():
                    slot.result = HostResult(slot.host.name, HostStatus.SKIPPED,
                                             error="skipped: an earlier host failed (fail-fast)")
                    slot.done.set()
                    continue
                slot.started = time.monotonic()
                result = self._run_one(slot, work, slot.started + timeout)
                if slot.result is None:  # the watchdog may already have given up on it
                    slot.result = result
                slot.done.set()
                if stop_on_fail and not result.ok:
                    stop.set()

        n = max(1, min(self.options.workers, len(slots)))
        threads = [threading.Thread(target=worker, daemon=True, name=f"opskit-worker-{i}") for i in range(n)]
        for t in threads:
            t.start()
        self._watch(slots, timeout)
        return [s.result for s in slots]  # type: ignore[misc]

    def _watch(self, slots: list[_Slot], timeout: float) -> None:
        """Wait for every slot; give up on a host at its deadline without waiting for its thread."""
        while True:
            now = time.monotonic()
            waiting = [s for s in slots if not s.done.is_set()]
            if not waiting:
                return
            for s in waiting:
                if s.started is not None and now - s.started > timeout + 0.5:
                    s.result = HostResult(s.host.name, HostStatus.UNREACHABLE,
                                          error=f"{s.host.name}: no answer within the {timeout:g}s host deadline",
                                          duration_s=now - s.started)
                    s.done.set()
                    self._drop(s.host.name)
            waiting[0].done.wait(0.05)

    def _run_one(self, slot: _Slot, work: Callable[[BaseSession], T], deadline: float) -> HostResult[T]:
        name = slot.host.name
        started = slot.started or time.monotonic()
        try:
            session = self.session(slot.host, deadline)
        except HostUnreachable as exc:
            return HostResult(name, HostStatus.UNREACHABLE, error=str(exc), duration_s=time.monotonic() - started)
        except Exception as exc:  # anything else while connecting means we could not reach it
            return HostResult(name, HostStatus.UNREACHABLE, error=f"{name}: {type(exc).__name__}: {exc}",
                              duration_s=time.monotonic() - started)
        slot.session = session
        session.changed = False
        try:
            value = work(session)
        except HostUnreachable as exc:
            self._drop(name)
            return HostResult(name, HostStatus.UNREACHABLE, error=str(exc), duration_s=time.monotonic() - started)
        except OpskitError as exc:
            return HostResult(name, HostStatus.FAILED, error=str(exc), duration_s=time.monotonic() - started)
        except Exception as exc:
            return HostResult(name, HostStatus.FAILED, error=f"{name}: {type(exc).__name__}: {exc}",
                              duration_s=time.monotonic() - started)
        finally:
            # the session is shared by the run's later users of this host (a ChannelAdmin's tools container,
            # a DockerHost): this run's deadline must not stay on it and cut their commands short later
            if session.deadline == deadline:
                session.deadline = None
        status = HostStatus.CHANGED if session.changed else HostStatus.OK
        return HostResult(name, status, value=value, duration_s=time.monotonic() - started)


def run_on_hosts(inventory: Inventory, hosts: Iterable[Host], work: Callable[[BaseSession], T],
                 **options: Any) -> list[HostResult[T]]:
    """One-shot helper: open an engine, run ``work`` everywhere, close every connection."""
    with Engine(inventory, EngineOptions.from_inventory(inventory, **options)) as engine:
        return engine.run(hosts, work)


def stderr_stream() -> IO[str]:
    return sys.stderr
