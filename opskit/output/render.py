"""Render a :class:`Report` for people (a rich table) or machines (one JSON document)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from opskit.output.report import Report, Severity

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


def render_table(report: Report, stream: IO[str] | None = None) -> None:
    """A table grouped by host, followed by a one-line summary."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream or sys.stdout, soft_wrap=False)
    report.finish()
    table = Table(title=f"{report.task}" + (f" ({report.inventory})" if report.inventory else ""))
    table.add_column("host")
    table.add_column("node")
    table.add_column("check")
    table.add_column("severity")
    table.add_column("message", overflow="fold")
    ordered = sorted(report.findings, key=lambda f: (f.host or "", f.node or "", f.check))
    last_host = None
    for f in ordered:
        host = f.host or "-"
        table.add_row(
            host if host != last_host else "",
            f.node or "",
            f.check,
            f"[{_STYLE[f.severity]}]{f.severity.label()}[/]",
            f.message,
        )
        last_host = host
    console.print(table)
    counts = report.counts()
    sev = report.severity
    assert report.finished is not None
    console.print(
        f"[{_STYLE[sev]}]{sev.name}[/]: "
        + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        + f" across {len(report.hosts)} host(s) in {report.finished - report.started:.2f}s"
    )


def render(report: Report, *, as_json: bool = False, stream: IO[str] | None = None) -> int:
    """Render and return the exit code the task should end with."""
    if as_json:
        render_json(report, stream)
    else:
        render_table(report, stream)
    return report.exit_code
