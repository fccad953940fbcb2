"""Journals: an append-only record of a changing run, so an interrupted run can resume.

Each line is one JSON event, written and fsync'ed *before* the action it
announces (``phase: "begin"``) and after it (``phase: "done"`` or ``"failed"``).
A re-run reads the journal, skips what is done and looks closely at anything
begun but not done: that is where a crash or Ctrl-C happened.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from opskit import secrets
from opskit.errors import HostUnreachable
from opskit.runlock import state_dir


T = TypeVar("T")

#: ``boundary(step, phase)``: called once the journal holds the step's "begin" (before the step runs) and its
#: "done" (after it finished): where crash tests kill a run, and where a run may stop between two steps
Boundary = Callable[[str, str], None]


@dataclass
class Event:
    step: str
    phase: str  # begin | done | failed | note
    ts: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)


class Journal:
    """One operation's journal file (e.g. one rollout over one inventory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def for_operation(cls, inventory_name: str, operation: str) -> "Journal":
        return cls(state_dir() / "journal" / inventory_name / f"{operation}.jsonl")

    def _append(self, event: Event) -> None:
        line = json.dumps({"ts": event.ts, "step": event.step, "phase": event.phase,
                           "data": secrets.mask(event.data)}, sort_keys=True, default=str)
        # 0600: a journal names hosts, containers and settings; only the operator who ran it reads it
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def begin(self, step: str, **data: Any) -> None:
        self._append(Event(step, "begin", data=data))

    def done(self, step: str, **data: Any) -> None:
        self._append(Event(step, "done", data=data))

    def failed(self, step: str, **data: Any) -> None:
        self._append(Event(step, "failed", data=data))

    def note(self, step: str, **data: Any) -> None:
        self._append(Event(step, "note", data=data))

    def run_step(self, step: str, fn: Callable[[], T], *, data: dict[str, Any] | None = None,
                 result: Callable[[T], dict[str, Any]] | None = None, boundary: Boundary | None = None) -> tuple[T, float]:
        """Run one step of a journaled operation; returns ``fn()``'s value and the seconds it took.

        ``begin`` (with ``data``) is on disk before ``fn`` runs and ``done`` (with ``result(value)`` and the
        seconds) after it returned, so a re-run knows exactly what finished. How a step that did not finish is
        recorded decides what that re-run does: an error raised by the step is ``failed``; a Ctrl-C or a host that
        stopped answering leaves the step begun (with a note saying which), because whether it took effect is
        unknown, and the re-run looks at the host before going on. The one runner of the container rollouts and of
        the Kafka-to-Raft migration.
        """
        self.begin(step, **(data or {}))
        if boundary is not None:
            boundary(step, "begin")
        started = time.monotonic()
        try:
            value = fn()
        except KeyboardInterrupt:
            self.note(step, interrupted=True)
            raise
        except HostUnreachable as exc:
            self.note(step, unanswered=str(exc))
            raise
        except BaseException as exc:
            self.failed(step, error=str(exc))
            raise
        seconds = round(time.monotonic() - started, 2)
        self.done(step, **{**(result(value) if result is not None else {}), "seconds": seconds})
        if boundary is not None:
            boundary(step, "done")
        return value, seconds

    def events(self) -> Iterator[Event]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    d = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash mid-write is ignored: its step is "begun" at most
                yield Event(d["step"], d["phase"], d["ts"], d.get("data") or {})

    def state(self) -> dict[str, Event]:
        """The last event of every step."""
        last: dict[str, Event] = {}
        for e in self.events():
            if e.phase != "note":
                last[e.step] = e
        return last

    def done_steps(self) -> set[str]:
        return {s for s, e in self.state().items() if e.phase == "done"}

    def in_flight(self) -> list[str]:
        """Steps begun and never finished: where the previous run stopped."""
        return [s for s, e in self.state().items() if e.phase == "begin"]

    def archive(self) -> Path | None:
        """Move a finished journal aside so the next run starts fresh; returns the new path."""
        if not self.path.exists():
            return None
        dest = self.path.with_suffix(f".{int(time.time())}.done.jsonl")
        self.path.rename(dest)
        return dest
