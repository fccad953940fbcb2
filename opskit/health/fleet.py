"""`fleet.health`: every check over every selected host and node, in one parallel pass.

One command per host per sample collects disks, containers, log sizes and the
operations endpoints of the host's nodes (fetched *on* the host, because
Fabric binds them to 127.0.0.1 by default). Prometheus adds coverage and a second
source of heights; block files are the source of last resort for a node whose
endpoint is down.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from opskit.health.basic import disk_findings, docker_findings, host_paths
from opskit.health.chains import Height, RaftView, lag_findings, raft_findings, stall_findings
from opskit.health.fabric_metrics import NodeOutputError, parse_healthz, parse_metrics
from opskit.health.facts import HostFacts, collect
from opskit.health.logs import log_findings
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.inventory.select import Selection
from opskit.output.report import Finding, Report, Severity
from opskit.remote.engine import Engine, EngineOptions, HostResult
from opskit.runlock import state_dir

LEDGER_KINDS = (NodeKind.ORDERER, NodeKind.PEER)


@dataclass
class HealthOptions:
    samples: int = 1
    interval: float = 10.0
    use_prometheus: bool = True
    ledger_fallback: bool = True
    textfile: str | None = None
    getinfo: bool = False  # also ask `peer channel getinfo` in the tools (cli) container for each peer
    record_samples: bool = True  # feed fleet.forecast's own sample store with each run's df figures
    state_file: Path | None = None  # where restart counts are remembered between runs


@dataclass
class _NodeView:
    node: Node
    heights: list[Height] = field(default_factory=list)
    down: bool = False


def _endpoints(nodes: list[Node]) -> dict[str, str]:
    return {n.name: n.operations for n in nodes if n.operations}


def fleet_health(inv: Inventory, sel: Selection, engine_options: EngineOptions | None = None,
                 options: HealthOptions | None = None) -> Report:
    opts = options or HealthOptions()
    report = Report(task="fleet.health", inventory=inv.source)
    nodes_by_host: dict[str, list[Node]] = {}
    for n in sel.nodes:
        nodes_by_host.setdefault(n.host, []).append(n)

    def work(session):  # type: ignore[no-untyped-def]
        host = inv.hosts[session.name]
        return collect(session, host_paths(inv, host), _endpoints(nodes_by_host.get(host.name, [])))

    samples: list[list[HostResult[HostFacts]]] = []
    with Engine(inv, engine_options) as engine:
        for k in range(max(1, opts.samples)):
            if k:
                time.sleep(opts.interval)  # the sampling interval itself (stall detection), not a wait for readiness
            samples.append(engine.run(sel.hosts, work))
        results = samples[-1]
        host_facts: dict[str, HostFacts] = {}
        for host, res in zip(sel.hosts, results):
            report.hosts.append(res.outcome())
            if not res.ok or res.value is None:
                report.add(Finding("reachable", Severity.UNKNOWN, res.error or "no result", host=host.name))
                for n in nodes_by_host.get(host.name, []):
                    report.add(Finding("node", Severity.UNKNOWN, f"host {host.name} unreachable", host=host.name, node=n.name))
                continue
            facts = res.value
            host_facts[host.name] = facts
            if opts.record_samples:
                _record_samples(host.name, facts)
            report.extend(disk_findings(inv, host, facts))
            report.extend(_containers(inv, host.name, facts, docker_findings(inv, host, facts), opts))
            if facts.docker_reachable:
                report.extend(log_findings(inv, host, facts))

        views = {n.name: _NodeView(n) for n in sel.nodes}
        raft: list[RaftView] = []
        for n in sel.nodes:
            facts = host_facts.get(n.host)
            if facts is None or not n.operations:
                continue
            report.extend(_endpoint_findings(n, facts, views[n.name], raft))
        per_sample_heights = [_heights_of(inv, sel, s) for s in samples]

        if opts.use_prometheus and inv.monitoring.prometheus_url:
            report.extend(_prometheus(inv, sel, views))
        if opts.ledger_fallback:
            report.extend(_ledger_fallback(inv, engine, views))
        if opts.getinfo:
            report.extend(_getinfo(inv, engine, views))

    heights = [h for v in views.values() for h in v.heights]
    down = {name for name, v in views.items() if v.down}
    report.extend(lag_findings(heights, _lag_thresholds(inv), down=down))
    report.extend(stall_findings(per_sample_heights))
    report.extend(raft_findings(raft))
    report.meta["samples"] = len(samples)
    report.finish()
    if opts.textfile:
        write_textfile(report, opts.textfile)
    return report


def _record_samples(host: str, facts: HostFacts) -> None:
    from opskit.ledger.forecast import SampleStore

    try:
        SampleStore().append_disks(host, facts.disks)
    except OSError:
        pass  # a read-only home must not fail a health check


def _lag_thresholds(inv: Inventory):  # type: ignore[no-untyped-def]
    return inv.defaults.thresholds


def _heights_of(inv: Inventory, sel: Selection, results: list[HostResult[HostFacts]]) -> list[Height]:
    out = []
    by_host = {r.host: r for r in results}
    for n in sel.nodes:
        r = by_host.get(n.host)
        if r is None or r.value is None:
            continue
        ep = r.value.endpoints.get((n.name, "metrics"))
        if ep is None or ep.http_code != 200:
            continue
        try:
            m = parse_metrics(ep.body)
        except NodeOutputError:
            continue
        out += [Height(n.name, ch, h, "operations", n.host) for ch, h in m.heights.items()]
    return out


def _endpoint_findings(n: Node, facts: HostFacts, view: _NodeView, raft: list[RaftView]) -> list[Finding]:
    out: list[Finding] = []
    ep = facts.endpoints.get((n.name, "metrics"))
    if ep is None or ep.http_code == 0:
        view.down = True
        reason = (ep.body.strip().splitlines() or ["no answer"])[-1][:200] if ep else "not fetched"
        out.append(Finding("operations", Severity.CRITICAL, f"operations endpoint {n.operations} unreachable: {reason}",
                           host=n.host, node=n.name, data={"url": n.operations}))
        return out
    try:
        if ep.http_code != 200:
            raise NodeOutputError(f"/metrics answered HTTP {ep.http_code}")
        m = parse_metrics(ep.body)
    except NodeOutputError as exc:
        out.append(Finding("metrics", Severity.UNKNOWN, str(exc), host=n.host, node=n.name, data={"url": n.operations}))
        m = None
    if m is not None:
        view.heights += [Height(n.name, ch, h, "operations", n.host) for ch, h in m.heights.items()]
        if n.kind is NodeKind.ORDERER:
            for ch in m.cluster_size.keys() | m.is_leader.keys():
                raft.append(RaftView(n.name, ch, m.is_leader.get(ch, False), m.cluster_size.get(ch),
                                     m.active_nodes.get(ch), n.host))
        if n.kind in LEDGER_KINDS and not m.heights:
            out.append(Finding("metrics", Severity.WARNING, "no ledger_blockchain_height in /metrics (metrics provider disabled?)",
                               host=n.host, node=n.name))
    hz = facts.endpoints.get((n.name, "healthz"))
    if hz is not None and hz.http_code:
        try:
            h = parse_healthz(hz.http_code, hz.body)
            if h.ok:
                out.append(Finding("healthz", Severity.OK, "healthz OK", host=n.host, node=n.name))
            else:
                detail = "; ".join(f"{c}: {r}" for c, r in h.failed_checks) or h.status
                out.append(Finding("healthz", Severity.CRITICAL, f"healthz failed: {detail}", host=n.host, node=n.name,
                                   data={"failed_checks": [{"component": c, "reason": r} for c, r in h.failed_checks]}))
        except NodeOutputError as exc:
            out.append(Finding("healthz", Severity.UNKNOWN, str(exc), host=n.host, node=n.name))
    return out


def _containers(inv: Inventory, host: str, facts: HostFacts, base: list[Finding], opts: HealthOptions) -> list[Finding]:
    """Add restarting/unhealthy states and restart counts rising since the previous run."""
    path = opts.state_file or state_dir() / "health" / f"{inv.name}-restarts.json"
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    current = dict(previous)
    by_name = {c.name: c for c in facts.containers}
    out = []
    for f in base:
        c = by_name.get(f.data.get("container") or "") if f.check == "container" else None
        if f.check == "container" and f.node:
            node = inv.nodes[f.node]
            c = by_name.get(node.container_name)
        if c is not None:
            key = f"{host}/{c.name}"
            before = previous.get(key)
            current[key] = c.restart_count
            f.data.update({"restart_count": c.restart_count, "health": c.health})
            if c.state == "restarting" and f.severity < Severity.CRITICAL:
                f.severity = Severity.CRITICAL
            if c.health == "unhealthy":
                f.severity = Severity.CRITICAL
                f.message += "; healthcheck unhealthy"
            if before is not None and c.restart_count > before:
                f.message += f"; restarted {c.restart_count - before} time(s) since the last check"
                if f.severity is Severity.OK:
                    f.severity = Severity.WARNING
        out.append(f)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass
    return out


def _prometheus(inv: Inventory, sel: Selection, views: dict[str, _NodeView]) -> list[Finding]:
    from opskit.health.monitoring import coverage_findings, fetch_heights, fetch_targets

    url = inv.monitoring.prometheus_url
    assert url
    try:
        targets = fetch_targets(url)
        prom_heights = fetch_heights(url, inv)
    except Exception as exc:  # Prometheus down must not hide the other findings
        return [Finding("monitoring", Severity.UNKNOWN, f"Prometheus {url} not usable: {type(exc).__name__}: {exc}")]
    for h in prom_heights:
        v = views.get(h.node)
        if v is not None and not v.heights and not v.down:
            v.heights.append(h)
    return coverage_findings(inv, sel.nodes, targets)


def _ledger_fallback(inv: Inventory, engine: Engine, views: dict[str, _NodeView]) -> list[Finding]:
    """Heights from the block files of nodes whose endpoint is down (the node may be stopped)."""
    wanted = [v for v in views.values() if v.down and v.node.kind in LEDGER_KINDS]
    if not wanted:
        return []
    from opskit.ledger.remote import NodeLedger

    out: list[Finding] = []
    hosts = sorted({v.node.host for v in wanted})

    def work(session):  # type: ignore[no-untyped-def]
        got = []
        for v in wanted:
            if v.node.host != session.name:
                continue
            for ch in inv.channels_of(v.node) or ["mychannel"]:
                ledger = NodeLedger.for_node(session, inv, v.node, ch)
                try:
                    got.append(Height(v.node.name, ch, int(ledger.height()["height"]), "ledger", v.node.host))
                except Exception as exc:  # noqa: BLE001 - reported as a finding
                    got.append(f"{v.node.name} {ch}: {exc}")
                finally:
                    ledger.cleanup()
        return got

    for res in engine.run([inv.hosts[h] for h in hosts], work):
        for item in res.value or []:
            if isinstance(item, Height):
                views[item.node].heights.append(item)
            else:
                out.append(Finding("ledger", Severity.UNKNOWN, f"could not read block files: {item}", host=res.host))
    return out


PEER_PORT = 7051


def _getinfo(inv: Inventory, engine: Engine, views: dict[str, _NodeView]) -> list[Finding]:
    """Heights from `peer channel getinfo` run in the fleet's tools container, one call per peer and channel.

    The peer is addressed as ``CORE_PEER_ADDRESS=<its host's address>:7051`` (or its first port) with its
    org's MSP id; TLS settings of a real fleet's cli container are taken from the container's own environment.
    A peer whose operations endpoint already gave a height keeps it; the getinfo figure is added as a second
    source only where the endpoint gave none.
    """
    from opskit.health.fabric_metrics import parse_getinfo

    cli = next((n for n in inv.nodes.values() if n.kind is NodeKind.CLI), None)
    peers = [v for v in views.values() if v.node.kind is NodeKind.PEER]
    if cli is None or not peers:
        return [Finding("getinfo", Severity.UNKNOWN, "no cli (tools) container in the inventory to run peer channel getinfo")] if peers else []

    def work(session):  # type: ignore[no-untyped-def]
        got: list[Height | Finding] = []
        for v in peers:
            port = next((p for p in v.node.ports if p == PEER_PORT), v.node.ports[0] if v.node.ports else PEER_PORT)
            address = f"{inv.hosts[v.node.host].address}:{port}"
            env = ["-e", f"CORE_PEER_ADDRESS={address}"]
            if v.node.org and v.node.org in inv.orgs:
                env += ["-e", f"CORE_PEER_LOCALMSPID={inv.orgs[v.node.org].msp_id}"]
            for ch in inv.channels_of(v.node):
                res = session.run(["docker", "exec", *env, cli.container_name, "peer", "channel", "getinfo", "-c", ch],
                                  check=False, timeout=30)
                try:
                    info = parse_getinfo(res.stdout + "\n" + res.stderr)
                    got.append(Height(v.node.name, ch, info.height, "getinfo", v.node.host))
                except NodeOutputError as exc:
                    got.append(Finding("getinfo", Severity.UNKNOWN, f"{ch}: {exc}", host=v.node.host, node=v.node.name))
        return got

    out: list[Finding] = []
    res = engine.run([inv.hosts[cli.host]], work)[0]
    if not res.ok:
        return [Finding("getinfo", Severity.UNKNOWN, f"tools container host: {res.error}", host=cli.host)]
    for item in res.value or []:
        if isinstance(item, Height):
            view = views[item.node]
            if not any(h.channel == item.channel for h in view.heights):
                view.heights.append(item)
            out.append(Finding("getinfo", Severity.OK, f"{item.channel}: height {item.height} from peer channel getinfo",
                               host=item.host, node=item.node, data={"channel": item.channel, "height": item.height}))
        else:
            out.append(item)
    return out


def write_textfile(report: Report, path: str) -> None:
    """Findings as Prometheus metrics for node_exporter's textfile collector, written atomically."""
    lines = [
        "# HELP opskit_health_severity Worst severity per host and check (0 ok, 1 warning, 2 critical, 3 unknown).",
        "# TYPE opskit_health_severity gauge",
    ]
    worst: dict[tuple[str, str, str], int] = {}
    for f in report.findings:
        key = (f.host or "", f.node or "", f.check)
        cur = worst.get(key)
        if cur is None or Severity(f.severity).rank > Severity(cur).rank:
            worst[key] = int(f.severity)
    for (host, node, check), sev in sorted(worst.items()):
        lines.append(f'opskit_health_severity{{host="{_esc(host)}",node="{_esc(node)}",check="{_esc(check)}"}} {sev}')
    lines += ["# HELP opskit_block_height Block height per node and channel as seen by fleet.health.",
              "# TYPE opskit_block_height gauge"]
    for f in report.findings:
        if f.check == "height":
            lines.append(f'opskit_block_height{{node="{_esc(f.node or "")}",channel="{_esc(f.data["channel"])}",'
                         f'source="{f.data["source"]}"}} {f.data["height"]}')
    lines += ["# HELP opskit_health_exit_code Exit code of the last fleet.health run.", "# TYPE opskit_health_exit_code gauge",
              f"opskit_health_exit_code {report.exit_code}",
              "# HELP opskit_health_last_run_timestamp_seconds When fleet.health last finished.",
              "# TYPE opskit_health_last_run_timestamp_seconds gauge",
              f"opskit_health_last_run_timestamp_seconds {report.finished or time.time():.3f}"]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".opskit-health.", suffix=".prom.tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
