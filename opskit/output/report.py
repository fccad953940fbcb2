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
    #: this finding reports a change the task made (a record written, a container recreated, a channel joined);
    #: False for reads, plans and "already as asked", so that a no-op run can be told from a real change
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "node": self.node,
            "check": self.check,
            "severity": self.severity.label(),
            "message": self.message,
            "changed": self.changed,
            "data": self.data,
        }


@dataclass
class HostOutcome:
    """How the connection and work on one host went (from the remote engine)."""

    host: str
    status: HostStatus
    duration_s: float
    error: str | None = None
    #: the work changed something on this host (the engine's ``session.mark_changed()``); a ``changed`` status
    #: implies it. :meth:`Report.host_changed` also counts the host's changed findings.
    changed: bool = False

    def __post_init__(self) -> None:
        if self.status is HostStatus.CHANGED:
            self.changed = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "changed": self.changed,
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
    #: what a task that contacts no inventory host talked to (e.g. "AWS eu-west-1"): named in the table's summary
    contacted: str | None = None
    #: table layout for check-style reports (fleet.health): problems first, then each host's OK rows; findings are
    #: grouped by host in the order hosts first appear, never sorted by check. Plans and step logs keep the order
    #: their findings were added in (the default).
    group_by_host: bool = False
    #: with ``group_by_host``: one "N checks ok" row per host instead of every OK row (the table only; JSON always
    #: holds every finding)
    collapse_ok: bool = False

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

    def host_names(self) -> list[str]:
        """The hosts this report is about, in first-seen order: the remote engine's outcomes (the hosts really
        contacted), then any other host its findings name. Tasks that build findings themselves (dns, container)
        record no outcome, or one only for a host that stopped answering: their findings still count."""
        return list(dict.fromkeys([h.host for h in self.hosts] + [f.host for f in self.findings if f.host]))

    def host_changed(self, host: str) -> bool:
        """Whether anything changed on ``host``: its outcome says so, or one of its findings does."""
        return (any(h.changed for h in self.hosts if h.host == host)
                or any(f.changed for f in self.findings if f.host == host))

    @property
    def changed(self) -> bool:
        """Whether the run changed anything at all (a no-op run of a changing task says False)."""
        return any(f.changed for f in self.findings) or any(h.changed for h in self.hosts)

    def changed_hosts(self) -> list[str]:
        return [h for h in self.host_names() if self.host_changed(h)]

    def recap(self) -> dict[str, dict[str, int]]:
        """Per host, like Ansible's PLAY RECAP: ``{host: {ok, changed, failed, unreachable, skipped}}``.

        Every finding on a host counts once: ``failed`` if critical or unknown, else ``ok`` (warnings included: the
        step ran); ``changed`` counts the changed ones among them (so, as in Ansible, ``ok`` includes them). The
        host's outcome adds ``unreachable``/``skipped`` (1), and counts as one ok/changed/failed when the host has
        no finding of its own. The UNKNOWN findings of an unreachable host are not counted as failed again.
        """
        out: dict[str, dict[str, int]] = {}

        def row(host: str) -> dict[str, int]:
            return out.setdefault(host, {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0})

        outcome = {h.host: h for h in self.hosts}
        for host in self.host_names():
            row(host)
        for f in self.findings:
            if not f.host:
                continue
            r = row(f.host)
            o = outcome.get(f.host)
            down = o is not None and o.status is HostStatus.UNREACHABLE
            if f.severity in (Severity.CRITICAL, Severity.UNKNOWN):
                if not (down and f.severity is Severity.UNKNOWN):
                    r["failed"] += 1
            else:
                r["ok"] += 1
            if f.changed:
                r["changed"] += 1
        for h in self.hosts:
            r = row(h.host)
            own = any(f.host == h.host for f in self.findings)
            if h.status is HostStatus.UNREACHABLE:
                r["unreachable"] = 1
            elif h.status is HostStatus.SKIPPED:
                r["skipped"] = 1
            elif h.status is HostStatus.FAILED:
                r["failed"] = max(r["failed"], 1)
            elif not own:
                r["ok"] = max(r["ok"], 1)
            if h.changed and not r["changed"]:
                r["changed"] = 1
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
            "hosts": [{**h.to_dict(), "changed": self.host_changed(h.host)} for h in self.hosts],
            "results": [f.to_dict() for f in self.findings],
            "summary": {
                "severity": self.severity.label(),
                "exit_code": self.exit_code,
                "counts": self.counts(),
                "hosts": len(self.host_names()),
                "unreachable": sum(h.status is HostStatus.UNREACHABLE for h in self.hosts),
                "changed": self.changed,
                "changed_hosts": len(self.changed_hosts()),
                "recap": self.recap(),
            },
            "meta": self.meta,
        }
