"""The shared table and JSON output (issue 16): order kept, changed, recap, summary, fleet.health's compact table."""

from __future__ import annotations

import io
import json

import pytest

from opskit.output.render import channel_heights, console, render, summary_line
from opskit.output.report import Finding, HostOutcome, HostStatus, Report, Severity


def _table(report: Report) -> list[str]:
    """The rendered table's lines, box characters and padding removed."""
    out = io.StringIO()
    render(report, stream=out)
    lines = []
    for line in out.getvalue().splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        text = " | ".join(c for c in cells if c)
        if text and not set(text) <= set("━┏┓┗┛┳┻╇┡┩└┘┴┬─┼├┤ "):
            lines.append(text)
    return lines


def _json(report: Report) -> dict:
    out = io.StringIO()
    render(report, as_json=True, stream=out)
    return json.loads(out.getvalue())


def _plan() -> Report:
    report = Report("orderer.migrate-raft")
    for step in ("enter-maintenance/mychannel", "backup/stop-kafka", "backup/start-kafka", "restart-raft/orderer1",
                 "verify-leaders"):
        report.add(Finding(f"step.{step}", Severity.OK, f"{step}: done", node=step,
                           changed=step != "verify-leaders"))
    return report


def test_plan_steps_keep_their_order():
    rows = [line for line in _table(_plan()) if "step." in line]
    assert [r.split(" | ")[0] for r in rows] == ["enter-maintenance/mychannel", "backup/stop-kafka",
                                                 "backup/start-kafka", "restart-raft/orderer1", "verify-leaders"]
    assert [f["node"] for f in _json(_plan())["results"]][-1] == "verify-leaders"


def test_steps_within_a_host_are_not_reordered():
    report = Report("container.replace")
    for host, check in (("vm2", "stop"), ("vm1", "stop"), ("vm2", "start"), ("vm1", "start"), ("vm2", "check")):
        report.add(Finding(check, Severity.OK, f"{check} on {host}", host=host))
    msgs = [line.split(" | ")[-1] for line in _table(report) if " on vm" in line]
    assert msgs == ["stop on vm2", "stop on vm1", "start on vm2", "start on vm1", "check on vm2"]
    report.group_by_host = True  # grouped: hosts in first-seen order, steps in their order within each
    msgs = [line.split(" | ")[-1] for line in _table(report) if " on vm" in line]
    assert msgs == ["stop on vm2", "start on vm2", "check on vm2", "stop on vm1", "start on vm1"]


def _fleet_run(changed_hosts: tuple[str, ...] = ()) -> Report:
    report = Report("rollout.logging")
    for host in ("vm1", "vm2", "vm3"):
        report.hosts.append(HostOutcome(host, HostStatus.CHANGED if host in changed_hosts else HostStatus.OK, 0.5))
    report.hosts.append(HostOutcome("vm4", HostStatus.UNREACHABLE, 5.0, "timed out"))
    report.hosts.append(HostOutcome("vm5", HostStatus.SKIPPED, 0.0))
    report.add(Finding("container", Severity.OK, "changed: rotation set", host="vm1", node="peer0",
                       changed="vm1" in changed_hosts))
    report.add(Finding("container", Severity.OK, "unchanged", host="vm1", node="peer1"))
    report.add(Finding("container", Severity.WARNING, "unchanged, log large", host="vm2", node="orderer1"))
    report.add(Finding("container", Severity.CRITICAL, "rolled-back: gate failed", host="vm3", node="orderer2"))
    report.add(Finding("reachable", Severity.UNKNOWN, "timed out", host="vm4"))
    return report


def test_recap_counts_per_host():
    recap = _fleet_run(changed_hosts=("vm1",)).recap()
    assert recap == {
        "vm1": {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0},
        "vm2": {"ok": 1, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0},
        "vm3": {"ok": 0, "changed": 0, "failed": 1, "unreachable": 0, "skipped": 0},
        "vm4": {"ok": 0, "changed": 0, "failed": 0, "unreachable": 1, "skipped": 0},
        "vm5": {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 1},
    }


def test_recap_and_changed_summary_in_the_table():
    lines = _table(_fleet_run(changed_hosts=("vm1",)))
    assert "vm1  ok=2 changed=1 failed=0 unreachable=0 skipped=0" in lines
    assert "vm4  ok=0 changed=0 failed=0 unreachable=1 skipped=0" in lines
    summary = lines[-1]
    assert summary.startswith("CRITICAL: 2 ok, 1 warning, 1 critical, 1 unknown; 5 hosts (1 unreachable, 1 skipped)")
    assert "changed 1 of 5 hosts" in summary


def test_a_no_op_run_says_no_changes():
    report = _fleet_run()
    assert not report.changed
    assert "; no changes; " in summary_line(report)
    doc = _json(report)
    assert doc["summary"]["changed"] is False and doc["summary"]["changed_hosts"] == 0
    assert all(h["changed"] is False for h in doc["hosts"])


def test_a_single_host_no_op_has_no_recap():
    report = Report("container.truncate-log")
    report.hosts.append(HostOutcome("vm1", HostStatus.OK, 0.1))
    report.add(Finding("truncate", Severity.WARNING, "not confirmed: nothing done", host="vm1", node="peer0"))
    lines = _table(report)
    assert not any("ok=" in line for line in lines)
    assert lines[-1].startswith("WARNING: 1 warning; 1 host; no changes; ")


def test_a_single_host_change_has_a_recap():
    report = Report("container.truncate-log")
    report.add(Finding("truncate", Severity.OK, "log emptied", host="vm1", node="peer0", changed=True))
    lines = _table(report)
    assert "vm1  ok=1 changed=1 failed=0 unreachable=0 skipped=0" in lines
    assert "vm1 | peer0 | truncate | changed | log emptied" in lines
    assert "; 1 host; changed 1 of 1 host; " in lines[-1]


def test_hosts_come_from_findings_when_no_outcome_was_recorded():
    """dns, orderer and container tasks build findings themselves: never "across 0 host(s)"."""
    report = Report("dns.sync")
    report.add(Finding("dns.sync", Severity.OK, "zone in sync: nothing to do", host="org1"))
    report.add(Finding("dns.sync", Severity.OK, "applied 2 changes", host="org2", changed=True))
    assert "; 2 hosts; changed 1 of 2 hosts; " in summary_line(report)
    doc = _json(report)
    assert doc["summary"]["hosts"] == 2 and doc["summary"]["changed"] is True
    assert doc["summary"]["recap"]["org2"] == {"ok": 1, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0}
    assert "0 host" not in summary_line(report)


def test_a_task_without_hosts_names_what_it_contacted_or_leaves_the_count_out():
    report = Report("aws.ecs-deploy", contacted="AWS (region eu-west-1)")
    report.add(Finding("ecs.deploy", Severity.OK, "service api runs api:7", changed=True))
    line = summary_line(report)
    assert line.startswith("OK: 1 ok; contacted AWS (region eu-west-1); changed (1 change); ")
    report = Report("orderer.set-batch")
    report.add(Finding("update", Severity.OK, "mychannel: already as asked: nothing to change", node="mychannel"))
    line = summary_line(report)
    assert line.startswith("OK: 1 ok; no changes; ") and "host" not in line
    assert not any("ok=" in text for text in _table(report))  # no host, nothing changed: no recap


def test_json_fields_are_added_and_schema_stays_1():
    doc = _json(_fleet_run(changed_hosts=("vm1",)))
    assert doc["schema"] == 1
    assert set(doc["results"][0]) == {"host", "node", "check", "severity", "message", "changed", "data"}
    assert doc["results"][0]["changed"] is True and doc["results"][1]["changed"] is False
    assert set(doc["hosts"][0]) == {"host", "status", "duration_s", "error", "changed"}
    assert [h["changed"] for h in doc["hosts"]] == [True, False, False, False, False]
    summary = doc["summary"]
    assert summary["changed"] is True and summary["changed_hosts"] == 1 and summary["hosts"] == 5
    assert summary["unreachable"] == 1 and summary["exit_code"] == 2
    assert summary["recap"]["vm3"]["failed"] == 1


def test_a_changed_finding_marks_its_host_changed_even_if_the_engine_did_not():
    report = Report("orderer.join")
    report.hosts.append(HostOutcome("vm1", HostStatus.OK, 0.1))
    report.add(Finding("join", Severity.OK, "joined", host="vm1", node="orderer4", changed=True))
    assert _json(report)["hosts"][0]["changed"] is True


def _health(*, collapse: bool = True) -> Report:
    report = Report("fleet.health", group_by_host=True, collapse_ok=collapse)
    for host in ("vm1", "vm2", "vm3"):
        report.hosts.append(HostOutcome(host, HostStatus.OK, 0.2))
    for host, node in (("vm1", "orderer1"), ("vm2", "orderer2"), ("vm3", "peer0.org1")):
        report.add(Finding("disk", Severity.OK, "/ 20% used", host=host))
        report.add(Finding("container", Severity.OK, "running", host=host, node=node))
        report.add(Finding("healthz", Severity.OK, "healthz OK", host=host, node=node))
    heights = (("orderer1", "vm1", 12, 0), ("orderer2", "vm2", 12, 0), ("peer0.org1", "vm3", 11, 1))
    for node, host, height, lag in heights:
        sev = Severity.WARNING if lag else Severity.OK
        report.add(Finding("height", sev, f"mychannel: height {height}", host=host, node=node,
                           data={"channel": "mychannel", "height": height, "best": 12, "lag": lag, "source": "operations"}))
    report.add(Finding("disk", Severity.CRITICAL, "/var 95% used", host="vm2"))
    report.add(Finding("raft.leader", Severity.OK, "mychannel: leader orderer1", data={"channel": "mychannel"}))
    return report


def test_health_shows_problems_first_and_one_ok_line_per_host():
    lines = _table(_health())
    body = [line for line in lines if line.startswith(("vm", "-", "peer", "orderer")) or " | " in line]
    rows = [line for line in body if " | " in line and not line.startswith("host |")]
    # problems first, grouped by host in the order hosts first appear (vm2's disk came before vm3's lag)
    assert rows[0] == "vm2 | disk | critical | /var 95% used"
    assert rows[1] == "vm3 | peer0.org1 | height | warning | mychannel: height 11"
    assert rows[2:] == ["vm1 | ok | 4 checks ok (disk, container, healthz, height)",
                        "vm2 | ok | 4 checks ok (disk, container, healthz, height)",
                        "vm3 | ok | 3 checks ok (disk, container, healthz)",
                        "- | ok | 1 check ok (raft.leader)"]
    assert not any("healthz OK" in line for line in lines)


def test_health_all_shows_every_row_problems_still_first():
    lines = _table(_health(collapse=False))
    rows = [line for line in lines if " | " in line and not line.startswith("host |")]
    assert len(rows) == 14
    assert "critical" in rows[0] and "warning" in rows[1]
    assert sum("healthz OK" in r for r in rows) == 3
    assert not any("checks ok" in r for r in rows)


def test_health_json_keeps_every_finding():
    doc = _json(_health())
    assert len(doc["results"]) == 14
    assert [r["check"] for r in doc["results"][:3]] == ["disk", "container", "healthz"]  # added order, not sorted


def test_channel_heights_line():
    assert channel_heights(_health()) == ["mychannel: orderer1 12, orderer2 12, peer0.org1 11 (lag 1)"]
    assert "mychannel: orderer1 12, orderer2 12, peer0.org1 11 (lag 1)" in _table(_health())


def test_fleet_health_task_has_an_all_option():
    from opskit.tasks import fleet

    assert "all_" in fleet.health.argspec(fleet.health.body).parameters
    assert "all" in fleet.health.help


def test_markup_in_messages_stays_plain():
    report = _health()
    report.add(Finding("logs", Severity.WARNING, "ERRO [/var/hyperledger] [bold]x[/bold]", host="vm1"))
    text = "\n".join(_table(report))
    assert "[/var/hyperledger] [bold]x[/bold]" in text


@pytest.mark.parametrize("columns, want", [("120", 120), ("", 200), ("junk", 200)])
def test_width_when_not_a_terminal(monkeypatch, columns, want):
    monkeypatch.setenv("COLUMNS", columns)
    assert console(io.StringIO()).width == want


def test_an_outcome_for_one_host_does_not_hide_the_hosts_findings_name():
    """container.replace records an outcome only for a host that stopped answering."""
    report = Report("rollout.volumes")
    report.hosts.append(HostOutcome("vm3", HostStatus.UNREACHABLE, 0.0, "timed out"))
    report.add(Finding("container", Severity.OK, "changed: volume", host="vm1", node="peer0", changed=True))
    report.add(Finding("container", Severity.CRITICAL, "unreachable: timed out", host="vm3", node="orderer3"))
    assert report.host_names() == ["vm3", "vm1"]
    assert "; 2 hosts (1 unreachable); changed 1 of 2 hosts; " in summary_line(report)
    assert report.recap()["vm3"] == {"ok": 0, "changed": 0, "failed": 1, "unreachable": 1, "skipped": 0}


@pytest.mark.parametrize("status, changed", [("changed", True), ("unchanged", False), ("planned", False),
                                             ("failed", False), ("rolled-back", False), ("skipped", False)])
def test_container_outcome_says_changed_only_when_it_changed(status, changed):
    from opskit.container.recreate import NodeOutcome

    assert NodeOutcome("peer0.org1", "vm1", status).finding().changed is changed


@pytest.mark.parametrize("name, data, changed", [
    ("enter-maintenance/mychannel", {"sequence": 4, "seconds": 1.0}, True),
    ("enter-maintenance/mychannel", {"already": True, "sequence": 4, "seconds": 0.1}, False),
    ("backup/stop-kafka", {"stopped": [], "seconds": 0.1}, False),
    ("backup/stop-kafka", {"stopped": ["kafka0"], "seconds": 2.0}, True),
    ("restart-raft/orderer1", {"result": [], "changed": 0, "seconds": 1.0}, False),
    ("restart-raft/orderer1", {"result": ["changed"], "changed": 1, "seconds": 9.0}, True),
    ("verify-leaders", {"leaders": {"mychannel": "orderer1"}, "seconds": 1.0}, False),
])
def test_migration_steps_say_whether_they_changed(name, data, changed):
    from opskit.orderer.migrate import Migration

    assert Migration._changed(name, data) is changed
