"""D12: one rounding rule for disk percentages, df's (Use% rounded up), for what is shown and what is judged."""

from __future__ import annotations

import subprocess

from opskit.health.basic import disk_findings
from opskit.health.facts import DiskUsage, HostFacts
from opskit.inventory.load import load_text
from opskit.output.report import Severity
from tests.trust.cli import inventory_text


def _finding(used: int, avail: int):
    inv = load_text(inventory_text(22))
    host = inv.hosts["vm1"]
    facts = HostFacts()
    facts.disks = [DiskUsage("/", "/", used + avail, used, avail, None, None)]
    return [f for f in disk_findings(inv, host, facts) if f.check == "disk"][0]


def test_89_6_percent_is_shown_and_judged_as_90():
    f = _finding(896, 104)  # 89.6 %: df prints 90%; the default critical threshold is 90
    assert "90% used" in f.message
    assert f.severity is Severity.CRITICAL
    assert f.data["used_pct"] == 90


def test_rounding_up_like_df_also_just_above_a_whole_percent():
    f = _finding(8001, 1999)  # 80.01 % -> df 81 %
    assert "81% used" in f.message and f.severity is Severity.WARNING
    assert _finding(7999, 2001).severity is Severity.WARNING  # 79.99 % is df's 80 %
    assert _finding(7900, 2100).severity is Severity.OK       # 79 % exactly


def test_same_percentage_as_the_real_df():
    from opskit.health.facts import df_percent

    for path in ("/", "/tmp", "/run"):
        out = subprocess.run(["df", "-P", "-k", path], capture_output=True, text=True, check=True).stdout
        fields = out.strip().splitlines()[-1].split()
        used, avail, shown = int(fields[2]), int(fields[3]), int(fields[4].rstrip("%"))
        assert df_percent(used, used + avail) == shown, (path, fields)
