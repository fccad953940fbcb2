"""One result model for every task, so that cron, dashboards and people read the same thing.

A :class:`Report` holds per-host connection outcomes and per-check findings.
Its exit code follows the Nagios plugin convention (docs/exit-codes.md):
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. When findings disagree, the worst wins
in the order OK < WARNING < UNKNOWN < CRITICAL: a critical disk is reported as
critical even if another host could not be reached.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

JSON_SCHEMA_VERSION = 1


class Severity(enum.IntEnum):
    """Nagios-style severity; the int value is the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def rank(self) -> int:
        """Order used to pick the worst severity (UNKNOWN ranks below CRITICAL)."""
        return {0: 0, 1: 1, 3: 2, 2: 3}[int(self)]

    @classmethod
    def worst(cls, severities: "list[Severity] | tuple[Severity, ...]") -> "Severity":
        return max(severities, key=lambda s: s.rank, default=cls.OK)

    def label(self) -> str:
        return self.name.lower()


class HostStatus(str, enum.Enum):
    """What happened to one host in one run of the remote engine."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


@dataclass
class Finding:
    """The outcome of one check on one host (and optionally one node)."""

    check: str
    severity: Severity
    message: str
    host: str | None = None
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "node": self.node,
            "check": self.check,
            "severity": self.severity.label(),
            "message": self.message,
            "data": self.data,
        }


@dataclass
class HostOutcome:
    """How the connection and work on one host went (from the remote engine)."""

    host: str
    status: HostStatus
    duration_s: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Report:
    """Everything a task found, ready to render as a table or as JSON."""

    task: str
    inventory: str | None = None
    findings: list[Finding] = field(default_factory=list)
    hosts: list[HostOutcome] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, finding: Finding) -> Finding:
        self.findings.append(finding)
        return finding

    def extend(self, findings: "list[Finding]") -> None:
        self.findings.extend(findings)

    def finish(self) -> "Report":
        if self.finished is None:
            self.finished = time.time()
        return self

    @property
    def severity(self) -> Severity:
        return Severity.worst([f.severity for f in self.findings])

    @property
    def exit_code(self) -> int:
        return int(self.severity)

    def counts(self) -> dict[str, int]:
        out = {s.label(): 0 for s in Severity}
        for f in self.findings:
            out[f.severity.label()] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        self.finish()
        assert self.finished is not None
        return {
            "schema": JSON_SCHEMA_VERSION,
            "task": self.task,
            "inventory": self.inventory,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "duration_s": round(self.finished - self.started, 3),
            "hosts": [h.to_dict() for h in self.hosts],
            "results": [f.to_dict() for f in self.findings],
            "summary": {
                "severity": self.severity.label(),
                "exit_code": self.exit_code,
                "counts": self.counts(),
                "hosts": len(self.hosts),
                "unreachable": sum(h.status is HostStatus.UNREACHABLE for h in self.hosts),
            },
            "meta": self.meta,
        }
