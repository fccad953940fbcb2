"""The table renderer shows messages as plain text (issue 14 defect 6)."""

from __future__ import annotations

import io

from opskit.output.render import plain, render
from opskit.output.report import Finding, Report, Severity


def test_markup_like_message_is_printed_verbatim():
    report = Report(task="container.replace")
    msg = "rolled back: error [/var/hyperledger/production] [bold]x[/bold] \x1b[31mERRO\x1b[0m done"
    report.add(Finding("replace", Severity.CRITICAL, msg, host="vm1", node="orderer1"))
    out = io.StringIO()
    code = render(report, stream=out)
    text = out.getvalue().replace("\n", " ").replace("│", " ")
    assert code == 2
    squeezed = " ".join(text.split())
    assert "[/var/hyperledger/production]" in squeezed.replace(" ", "") or "[/var/hyperledger/production]" in squeezed
    assert "[bold]x[/bold]" in squeezed.replace(" ", "")
    assert "\x1b" not in text


def test_plain_strips_fabric_colour_codes():
    line = "\x1b[33m2026-12-07 03:30:17.480 UTC 00dd WARN\x1b[0m [middleware] \x1b[33;1mServeHTTP\x1b[0m -> x"
    assert plain(line) == "2026-12-07 03:30:17.480 UTC 00dd WARN [middleware] ServeHTTP -> x"
