"""Render a :class:`Report` for people (a rich table) or machines (one JSON document)."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import IO, TYPE_CHECKING, Any

from opskit.output.report import Finding, HostStatus, Report, Severity

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {
    Severity.OK: "green",
    Severity.WARNING: "yellow",
    Severity.CRITICAL: "bold red",
    Severity.UNKNOWN: "magenta",
}


def render_json(report: Report, stream: IO[str] | None = None) -> None:
    """Write the stable JSON document (schema in docs/exit-codes.md)."""
    stream = stream or sys.stdout
    json.dump(report.to_dict(), stream, indent=2, sort_keys=False, default=_json_default)
    stream.write("\n")
    stream.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def plain(text: str) -> str:
    """``text`` without terminal escape sequences (remote log lines keep Fabric's colour codes)."""
    return _ANSI.sub("", text)


#: table width when the output is not a terminal and $COLUMNS is unset: wide enough that a CI log keeps one
#: finding per line instead of folding every message into a narrow column
WIDE_DEFAULT = 200


def console(stream: IO[str] | None = None) -> "Console":
    """A rich Console on ``stream`` that uses the terminal's width (rich's detection) on a TTY, else $COLUMNS, else
    :data:`WIDE_DEFAULT`: rich's own 80 columns would fold long messages in CI logs and cron mails."""
    from rich.console import Console

    out = stream or sys.stdout
    width: int | None = None
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        try:
            width = int(os.environ.get("COLUMNS", "")) or None
        except ValueError:
            width = None
        width = width if width and width > 0 else WIDE_DEFAULT
    return Console(file=out, soft_wrap=False, width=width)


def _rows(report: Report) -> list[tuple[Finding | None, str, str]]:
    """The table's rows in display order: ``(finding, host, collapsed message)``; finding None for a collapsed row.

    Default: the order findings were added in (a plan's steps stay in order). ``group_by_host``: problems first,
    then OK rows, each grouped by host in the order hosts first appear (stable: never sorted by check name);
    ``collapse_ok`` replaces each host's OK rows with one "N checks ok" row.
    """
    if not report.group_by_host:
        return [(f, f.host or "-", "") for f in report.findings]
    hosts = list(dict.fromkeys([h.host for h in report.hosts] + [f.host or "-" for f in report.findings]))
    rank = {h: i for i, h in enumerate(hosts)}
    problems = [f for f in report.findings if f.severity is not Severity.OK]
    oks = [f for f in report.findings if f.severity is Severity.OK]
    rows: list[tuple[Finding | None, str, str]] = [
        (f, f.host or "-", "") for f in sorted(problems, key=lambda f: rank[f.host or "-"])]
    if not report.collapse_ok:
        return rows + [(f, f.host or "-", "") for f in sorted(oks, key=lambda f: rank[f.host or "-"])]
    by_host: dict[str, list[Finding]] = {}
    for f in oks:
        by_host.setdefault(f.host or "-", []).append(f)
    for host in sorted(by_host, key=lambda h: rank[h]):
        found = by_host[host]
        checks = ", ".join(dict.fromkeys(f.check for f in found))
        rows.append((None, host, f"{len(found)} check{'s' if len(found) != 1 else ''} ok ({checks})"))
    return rows


def channel_heights(report: Report) -> list[str]:
    """One line per channel with every node's block height, from the ``height`` findings (fleet.health):
    ``mychannel: orderer1 12, orderer2 12, peer0.org1 11 (lag 1)``; nodes in the order the findings list them."""
    by_channel: dict[str, list[str]] = {}
    for f in report.findings:
        if f.check != "height" or "channel" not in f.data or "height" not in f.data:
            continue
        lag = f.data.get("lag") or 0
        text = f"{f.node or f.host or '-'} {f.data['height']}" + (f" (lag {lag})" if lag else "")
        by_channel.setdefault(str(f.data["channel"]), []).append(text)
    return [f"{ch}: {', '.join(nodes)}" for ch, nodes in by_channel.items()]


def recap_lines(report: Report) -> list[str]:
    """Ansible-style PLAY RECAP: one line per host, names padded so the counts line up."""
    recap = report.recap()
    if not recap:
        return []
    pad = max(len(h) for h in recap)
    return [f"{host.ljust(pad)}  " + " ".join(f"{k}={n}" for k, n in counts.items())
            for host, counts in recap.items()]


def summary_line(report: Report) -> str:
    """``SEVERITY: counts; hosts contacted; what changed; duration`` (plain text).

    The host count is the hosts really contacted (:meth:`Report.host_names`); a task that contacts no inventory
    host names what it contacted (``report.contacted``) or leaves the count out, never "0 hosts".
    """
    report.finish()
    assert report.finished is not None
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n) or "no findings"
    parts = [f"{report.severity.name}: {counts}"]
    hosts = report.host_names()
    changed = report.changed_hosts()
    if hosts:
        where = f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}"
        down = sum(h.status is HostStatus.UNREACHABLE for h in report.hosts)
        skipped = sum(h.status is HostStatus.SKIPPED for h in report.hosts)
        extra = [f"{down} unreachable"] * bool(down) + [f"{skipped} skipped"] * bool(skipped)
        parts.append(where + (f" ({', '.join(extra)})" if extra else ""))
    elif report.contacted:
        parts.append(f"contacted {report.contacted}")
    if report.meta.get("check"):
        pending = int(report.meta.get("pending") or 0)
        parts.append(f"check mode: {pending} change{'s' if pending != 1 else ''} would be made" if pending
                     else "check mode: nothing would change")
    elif not report.changed:
        parts.append("no changes")
    elif hosts and changed:
        parts.append(f"changed {len(changed)} of {len(hosts)} host{'s' if len(hosts) != 1 else ''}")
    else:
        n = sum(f.changed for f in report.findings)
        parts.append(f"changed ({n} change{'s' if n != 1 else ''})" if n else "changed")
    parts.append(f"{report.finished - report.started:.2f}s")
    return "; ".join(parts)


def render_table(report: Report, stream: IO[str] | None = None) -> None:
    """A table of the findings, then the channel heights (if any), a per-host recap and a one-line summary.

    Every value is plain text: a message holding ``[/...]`` (a path, a log line) is shown as it is, never read
    as rich markup. The recap is shown when the report touched more than one host or changed anything.
    """
    from rich.table import Table
    from rich.text import Text

    out = console(stream)
    report.finish()
    table = Table(title=Text(plain(report.task + (f" ({report.inventory})" if report.inventory else ""))))
    with_host = any(f.host for f in report.findings)  # orderer/aws tasks name no host: no column of dashes
    if with_host:
        table.add_column("host")
    table.add_column("node")
    table.add_column("check")
    table.add_column("severity")
    table.add_column("message", overflow="fold")
    last_host = None
    for f, host, collapsed in _rows(report):
        first = [Text(plain(host if host != last_host else ""))] if with_host else []
        if f is None:
            table.add_row(*first, Text(""), Text(""), Text(Severity.OK.label(), style=_STYLE[Severity.OK]),
                          Text(plain(collapsed)))
        else:
            label = f.severity.label()
            if f.changed:  # Ansible's "changed:" where it would say "ok:"
                label = "changed" if f.severity is Severity.OK else f"{label}, changed"
            table.add_row(*first, Text(plain(f.node or "")), Text(plain(f.check)),
                          Text(label, style=_STYLE[f.severity]), Text(plain(f.message)))
        last_host = host
    out.print(table)
    for line in channel_heights(report):
        out.print(Text(plain(line)))
    if len(report.host_names()) > 1 or report.changed:
        lines = recap_lines(report)
        if lines:
            out.print(Text("recap:"))
        for line in lines:
            out.print(Text(plain(line)))
    sev = report.severity
    text = Text(plain(summary_line(report)))
    text.stylize(_STYLE[sev], 0, len(sev.name))
    out.print(text)


def render(report: Report, *, as_json: bool = False, stream: IO[str] | None = None) -> int:
    """Render and return the exit code the task should end with."""
    if as_json:
        render_json(report, stream)
    else:
        render_table(report, stream)
    return report.exit_code
