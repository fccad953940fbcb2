"""A plain table of rows with chosen columns (tasks whose output is a listing, not a list of findings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from opskit.output.report import Finding, Report


def print_rows(report: Report, columns: Sequence[str], rows: Sequence[Sequence[object]],
               notes: Sequence[Finding] = (), stream: IO[str] | None = None) -> int:
    """Print ``rows`` under ``columns`` (in the given order), the report's one-line summary, then ``notes`` (findings
    that are not rows, e.g. an orderer that could not be read); return the report's exit code. Every cell is plain
    text (never rich markup)."""
    from rich.table import Table
    from rich.text import Text

    from opskit.output.render import console as make_console
    from opskit.output.render import plain, summary_line

    console = make_console(stream)
    report.finish()
    table = Table(title=Text(plain(report.task + (f" ({report.inventory})" if report.inventory else ""))))
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(Text(plain("" if cell is None else str(cell))) for cell in row))
    console.print(table)
    console.print(Text(summary_line(report)))
    for f in notes:
        console.print(Text(f"{f.severity.label()}: {f.node or f.host or '-'}: {plain(f.message)}"))
    return report.exit_code
