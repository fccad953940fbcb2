"""``rollout.logging --audit``: container log sizes and rotation settings on the selected hosts.

(Emptying one log in an emergency, ``container.truncate-log``, is :mod:`opskit.container.logfile`.)
"""

from __future__ import annotations

from opskit.health.basic import disk_findings, host_paths
from opskit.health.facts import collect
from opskit.health.logs import log_findings
from opskit.inventory.model import Inventory
from opskit.inventory.select import Selection
from opskit.output.report import Finding, Report, Severity
from opskit.remote.engine import Engine, EngineOptions


def audit_logs(inv: Inventory, sel: Selection, engine_options: EngineOptions | None = None) -> Report:
    """Every container on the selected hosts: json log size and rotation settings; the Docker disk's use."""
    report = Report(task="rollout.logging --audit", inventory=inv.source)
    wanted = {n.container_name for n in sel.nodes}

    def work(session):  # type: ignore[no-untyped-def]
        return collect(session, host_paths(inv, inv.hosts[session.name]), {})

    with Engine(inv, engine_options) as engine:
        results = engine.run(sel.hosts, work)
    total = 0
    for host, res in zip(sel.hosts, results):
        report.hosts.append(res.outcome())
        if not res.ok or res.value is None:
            report.add(Finding("reachable", Severity.UNKNOWN, res.error or "no result", host=host.name))
            continue
        facts = res.value
        if not facts.docker_installed or not facts.docker_reachable or not facts.complete:
            # no engine answer means no log sizes: that is not "OK with no lines"
            why = (facts.docker_error or "docker is not installed") if facts.complete else "the host's facts were cut short"
            report.add(Finding("docker", Severity.CRITICAL if inv.nodes_on(host.name) else Severity.UNKNOWN,
                               f"cannot audit container logs: {why}", host=host.name))
        report.extend([f for f in disk_findings(inv, host, facts) if f.check == "disk"] or disk_findings(inv, host, facts))
        for f in log_findings(inv, host, facts):
            if f.data.get("container") in wanted or f.node is None:
                report.add(f)
                total += int(f.data.get("log_bytes") or 0)
    report.meta["log_bytes_total"] = total
    return report.finish()
