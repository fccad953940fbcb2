"""``rollout.logging --audit`` and ``container.truncate-log``: look at container logs, empty one in an emergency."""

from __future__ import annotations

from collections.abc import Callable

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
        report.extend([f for f in disk_findings(inv, host, facts) if f.check == "disk"] or disk_findings(inv, host, facts))
        for f in log_findings(inv, host, facts):
            if f.data.get("container") in wanted or f.node is None:
                report.add(f)
                total += int(f.data.get("log_bytes") or 0)
    report.meta["log_bytes_total"] = total
    return report.finish()


_TRUNCATE = r"""
set -e
lp="$1"
before=$(stat -c %s "$lp")
truncate -s 0 "$lp"
echo "$before $(stat -c %s "$lp")"
"""


def truncate_log(inv: Inventory, node_name: str, confirm: Callable[[str], bool] | None = None,
                 engine_options: EngineOptions | None = None) -> Report:
    """Empty the node's json log file in place (the daemon keeps appending to the same file)."""
    from opskit.container.docker import DockerHost, DockerError
    from opskit.errors import OpskitError, SelectorError

    if node_name not in inv.nodes:
        raise SelectorError(f"unknown node {node_name!r} (nodes: {', '.join(sorted(inv.nodes))})")
    node = inv.nodes[node_name]
    report = Report(task="container.truncate-log", inventory=inv.source)
    with Engine(inv, engine_options) as engine:
        dh = DockerHost(inv.hosts[node.host], lambda h: engine.session(h))
        cfg = dh.inspect(node.container_name)
        if cfg is None:
            raise OpskitError(f"{node.name}: there is no container {node.container_name} on {node.host}", exit_code=2)
        if cfg.log_driver not in ("json-file", "") or not cfg.log_path:
            raise OpskitError(f"{node.name}: log driver {cfg.log_driver}: no json log file to truncate", exit_code=2)
        size = dh.run(["stat", "-c", "%s", cfg.log_path], check=False).stdout.strip()
        question = (f"Empty the log of {node.container_name} on {node.host} ({size} bytes, {cfg.log_path})? "
                    "Its content is lost")
        if confirm is not None and not confirm(question):
            report.add(Finding("truncate", Severity.WARNING, "not confirmed: nothing done", host=node.host, node=node.name))
            return report.finish()
        try:
            res = dh.sh(_TRUNCATE, cfg.log_path)
        except DockerError as exc:
            raise OpskitError(f"{node.name}: truncating {cfg.log_path} failed: {exc}", exit_code=2) from None
        before, after = (int(x) for x in res.stdout.split()[:2])
    report.add(Finding("truncate", Severity.OK, f"log emptied: {before} -> {after} bytes ({cfg.log_path})",
                       host=node.host, node=node.name, data={"before": before, "after": after, "path": cfg.log_path}))
    if not cfg.log_opts.get("max-size"):
        report.add(Finding("rotation", Severity.WARNING, "this container has no log rotation: run rollout.logging",
                           host=node.host, node=node.name))
    return report.finish()
