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
from typing import TYPE_CHECKING

from opskit.health.basic import disk_findings, docker_findings, host_paths
from opskit.health.chains import Height, RaftView, lag_findings, raft_findings, stall_findings
from opskit.health.fabric_metrics import NodeMetrics, NodeOutputError, parse_healthz, parse_metrics
from opskit.health.facts import EndpointSpec, HostFacts, collect, collect_endpoints, endpoint_of
from opskit.health.logs import log_findings
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.inventory.select import Selection
from opskit.health.participation import parse_channel_list  # noqa: F401  (kept importable from here)
from opskit.output.report import Finding, Report, Severity
from opskit.remote.engine import Engine, EngineOptions, HostResult
from opskit.runlock import state_dir

if TYPE_CHECKING:
    from opskit.health.certs import CertInfo

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
    participation: bool = True  # ask each orderer's admin endpoint (osnadmin) which channels it really holds
    certs: bool = True  # read every selected node's certificates on its host and report their expiry


@dataclass
class _NodeView:
    node: Node
    heights: list[Height] = field(default_factory=list)
    down: bool = False
    not_joined: set[str] = field(default_factory=set)   #: channels its participation API does not list


def _endpoints(nodes: list[Node]) -> dict[str, EndpointSpec | str]:
    return {n.name: endpoint_of(n) for n in nodes if n.operations}


def raft_context(inv: Inventory, sel: Selection) -> list[Node]:
    """Orderers outside the selection that share a channel with a selected orderer.

    Leadership and the cluster's size are properties of the channel, not of one node: ``-s vm4`` must not
    conclude "no leader" because the leader runs on vm1. Their /metrics are read for the Raft checks only.
    """
    selected = {n.name for n in sel.nodes}
    channels = {ch for n in sel.nodes if n.kind is NodeKind.ORDERER for ch in inv.channels_of(n)}
    return [n for n in inv.nodes.values()
            if n.kind is NodeKind.ORDERER and n.name not in selected and n.operations
            and channels & set(inv.channels_of(n))]


def _raft_views(n: Node, m: NodeMetrics, selected: bool = True) -> list[RaftView]:
    return [RaftView(n.name, ch, m.is_leader.get(ch, False), m.cluster_size.get(ch), m.active_nodes.get(ch), n.host,
                     selected=selected)
            for ch in m.cluster_size.keys() | m.is_leader.keys()]


def _context_raft(inv: Inventory, engine: Engine, others: list[Node]) -> list[RaftView]:
    """Raft views of orderers outside the selection (one endpoints-only command per host)."""
    by_host: dict[str, list[Node]] = {}
    for n in others:
        by_host.setdefault(n.host, []).append(n)
    hosts = [inv.hosts[h] for h in by_host]
    results = engine.run(hosts, lambda session: collect_endpoints(session, _endpoints(by_host[session.name])))
    views: list[RaftView] = []
    for res in results:
        if not res.ok or res.value is None:
            continue
        for n in by_host[res.host]:
            ep = res.value.endpoints.get((n.name, "metrics"))
            if ep is None or ep.http_code != 200:
                continue
            try:
                views += _raft_views(n, parse_metrics(ep.body), selected=False)
            except NodeOutputError:
                continue
    return views


def fleet_health(inv: Inventory, sel: Selection, engine_options: EngineOptions | None = None,
                 options: HealthOptions | None = None) -> Report:
    opts = options or HealthOptions()
    # a 20-host fleet has hundreds of OK rows: the table shows problems first and one OK line per host
    # (fleet.health --all shows every row); JSON keeps every finding
    report = Report(task="fleet.health", inventory=inv.source, group_by_host=True, collapse_ok=True)
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
        others = raft_context(inv, sel) if raft else []
        context_held: dict[str, set[str]] = {}
        if opts.participation:
            report.extend(_participation(inv, engine, views, others, context_held))
        if opts.certs:
            report.extend(_certificates(inv, engine, sel, set(host_facts)))
        if others:
            raft += _context_raft(inv, engine, others)
        # a removed channel keeps its Raft gauges too (a removed leader still says is_leader 1)
        raft = [r for r in raft if r.channel not in (views[r.node].not_joined if r.node in views else set())
                and (r.node not in context_held or r.channel in context_held[r.node])]

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
    from opskit.health.forecast import SampleStore

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
        reason = _fetch_error(ep.body) if ep else "not fetched"
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
            raft += _raft_views(n, m)
        if n.kind in LEDGER_KINDS and not m.heights:
            out.append(Finding("metrics", Severity.WARNING, "no ledger_blockchain_height in /metrics (metrics provider disabled?)",
                               host=n.host, node=n.name))
    hz = facts.endpoints.get((n.name, "healthz"))
    if hz is None or not hz.http_code:
        # a /healthz that never answers is a finding, not silence (the node may serve /metrics but be wedged)
        reason = ((hz.body.strip().splitlines() or ["no answer"])[-1][:200] if hz is not None else "not fetched")
        out.append(Finding("healthz", Severity.CRITICAL, f"/healthz did not answer: {reason}", host=n.host,
                           node=n.name, data={"url": f"{n.operations}/healthz"}))
    else:
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


def _fetch_error(body: str) -> str:
    """The line of a failed fetch that says why: curl's own ``curl: (NN) ...`` line, not its last hint line."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    why = next((line for line in lines if line.startswith(("curl:", "wget:"))), lines[-1] if lines else "no answer")
    return why[:200]


#: a container that has restarts and started less than this ago is reported on the first run already
RECENT_START_S = 600.0


def _seconds_since(started_at: str) -> float | None:
    """Seconds since Docker's ``State.StartedAt`` (RFC 3339 with nanoseconds), None when unknown."""
    import re
    from datetime import datetime, timezone

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", started_at or "")
    if not m or started_at.startswith("0001-"):
        return None
    frac = float("0" + (m.group(2) or ".0"))
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    t = datetime.fromisoformat(m.group(1) + tz).timestamp() + frac
    return max(0.0, datetime.now(timezone.utc).timestamp() - t)


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
            elif before is None and c.restart_count > 0:
                # first look (no earlier count): restarts and a recent start mean it is restarting now
                since = _seconds_since(c.started_at)
                if since is not None and since < RECENT_START_S:
                    f.message += (f"; restarted {c.restart_count} time(s), the last {since:.0f}s ago "
                                  "(restarting repeatedly?)")
                    if f.severity is Severity.OK:
                        f.severity = Severity.WARNING
        out.append(f)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(current, sort_keys=True))
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


def getinfo_env(inv: Inventory, node: Node) -> dict[str, str]:
    """The peer CLI's environment for asking ``node`` as its own org's admin (see :func:`_getinfo`)."""
    if node.hostname and node.listen_port:
        address = f"{node.hostname}:{node.listen_port}"
    else:
        port = next((p for p in node.ports if p == PEER_PORT), node.ports[0] if node.ports else PEER_PORT)
        address = f"{inv.hosts[node.host].address}:{port}"
    env = {"CORE_PEER_ADDRESS": address}
    org = inv.orgs.get(node.org) if node.org else None
    if org is not None:
        env["CORE_PEER_LOCALMSPID"] = org.msp_id
        if org.admin_msp_path:
            env["CORE_PEER_MSPCONFIGPATH"] = org.admin_msp_path
        if org.admin_tls_cert and org.admin_tls_key:
            env.update({"CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true", "CORE_PEER_TLS_CLIENTCERT_FILE": org.admin_tls_cert,
                        "CORE_PEER_TLS_CLIENTKEY_FILE": org.admin_tls_key})
    if node.tls_ca_file:
        env.update({"CORE_PEER_TLS_ENABLED": "true", "CORE_PEER_TLS_ROOTCERT_FILE": node.tls_ca_file})
    return env


def cli_error(output: str) -> str:
    """The line where a Fabric CLI says what went wrong (``Error: ...``), without colour codes; "" if none."""
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[:300]
    errs = [line for line in lines if " ERRO " in line or "error" in line.lower()]
    return (errs[-1] if errs else "")[:300]


def _getinfo(inv: Inventory, engine: Engine, views: dict[str, _NodeView]) -> list[Finding]:
    """Heights from `peer channel getinfo` run in the fleet's tools container, one call per peer and channel.

    The peer is asked as its own org's admin (the org's ``admin_msp_path``: a peer refuses a creator whose
    MSP id and certificate belong to different orgs), at ``<hostname>:<listen_port>`` when the inventory names
    them (else its host's address and 7051), with ``tls_ca_file`` as TLS root and the org admin's TLS client
    pair where the inventory gives one. What the peer CLI said is reported when no height comes back.
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
            env = []
            for key, value in getinfo_env(inv, v.node).items():
                env += ["-e", f"{key}={value}"]
            for ch in inv.channels_of(v.node):
                res = session.run(["docker", "exec", *env, cli.container_name, "peer", "channel", "getinfo", "-c", ch],
                                  check=False, timeout=30)
                output = res.stdout + "\n" + res.stderr
                try:
                    info = parse_getinfo(output)
                    got.append(Height(v.node.name, ch, info.height, "getinfo", v.node.host))
                except NodeOutputError as exc:
                    said = cli_error(output)
                    got.append(Finding("getinfo", Severity.UNKNOWN, f"{ch}: {exc}" + (f": {said}" if said else ""),
                                       host=v.node.host, node=v.node.name))
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


def read_certs(inv: Inventory, engine: Engine, sel: Selection,
               hosts: set[str] | None = None) -> tuple[list[CertInfo], list[Finding]]:
    """Every selected node's certificates (:mod:`opskit.health.certs`), one command per host; returns
    (certificates, findings for hosts that could not be read)."""
    from opskit.health.certs import read_host_certs

    by_host: dict[str, list[Node]] = {}
    for n in sel.nodes:
        if hosts is None or n.host in hosts:
            by_host.setdefault(n.host, []).append(n)
    if not by_host:
        return [], []
    results = engine.run([inv.hosts[h] for h in by_host],
                         lambda session: read_host_certs(session, inv, inv.hosts[session.name], by_host[session.name]))
    certs: list[CertInfo] = []
    problems: list[Finding] = []
    for res in results:
        if res.ok and res.value is not None:
            certs += res.value
        else:
            problems.append(Finding("cert", Severity.UNKNOWN, f"certificates not read: {res.error}", host=res.host))
    return certs, problems


def _certificates(inv: Inventory, engine: Engine, sel: Selection, reachable: set[str]) -> list[Finding]:
    from opskit.health.certs import cert_findings

    certs, problems = read_certs(inv, engine, sel, reachable)
    return problems + cert_findings(inv, certs)


def participation_targets(inv: Inventory, views: dict[str, _NodeView]) -> list[Node]:
    """Selected orderers whose channel participation API opskit can ask: an ``admin_port``, a TLS CA and the org
    admin's TLS client pair (the admin endpoint requires a client certificate)."""
    from opskit.health.participation import admin_endpoint

    return [v.node for v in views.values() if admin_endpoint(inv, v.node) is not None]


#: statuses of a joined channel that are not (yet) serving it, and how bad they are
_PARTICIPATION_STATUS = {"onboarding": Severity.WARNING, "inactive": Severity.WARNING, "failed": Severity.CRITICAL}


def _participation(inv: Inventory, engine: Engine, views: dict[str, _NodeView], context: list[Node] | None = None,
                   context_held: dict[str, set[str]] | None = None) -> list[Finding]:
    """What each orderer really holds, from ``osnadmin channel list`` in the tools container
    (:func:`opskit.health.participation.read_participation`, one command for every selected orderer).

    Fabric keeps an orderer's ``ledger_blockchain_height`` gauge after ``osnadmin channel remove``, so a removed
    channel would otherwise show "at the best height". A channel the inventory expects and the orderer does not
    list is CRITICAL, and its stale height and Raft gauges are dropped from the lag and leader checks; a listed channel whose status is
    ``failed`` is CRITICAL, ``onboarding``/``inactive`` a WARNING. ``context``: orderers outside the selection read
    for the Raft checks; the channels each holds go to ``context_held`` (no findings of their own), in the same
    command.
    """
    from opskit.health.participation import admin_endpoint, read_participation, tools_node

    targets = participation_targets(inv, views)
    cli = next((n for n in inv.nodes.values() if n.kind is NodeKind.CLI), None)
    extra = [ep for ep in (admin_endpoint(inv, n) for n in context or []) if ep is not None]
    if not (targets or extra) or cli is None:
        return []
    endpoints = [ep for ep in (admin_endpoint(inv, n) for n in targets) if ep is not None] + extra

    tools = tools_node(inv, cli.name)
    host = inv.hosts[tools.host]
    env = {"DOCKER_HOST": host.docker_host} if host.docker_host else None

    def work(session):  # type: ignore[no-untyped-def]
        return read_participation(session, tools.container_name, endpoints, env=env)

    res = engine.run([inv.hosts[cli.host]], work)[0]
    if not res.ok or res.value is None:
        return [Finding("participation", Severity.UNKNOWN, f"tools container host: {res.error}", host=cli.host)]
    out: list[Finding] = []
    for ep in extra:
        oc = res.value[ep.node]
        if not oc.error and context_held is not None:
            context_held[ep.node] = set(oc.channels)
    for n in targets:
        oc = res.value[n.name]
        if oc.error and "channel participation API is disabled" in oc.error:
            out.append(Finding("participation", Severity.OK, "channel participation API disabled on this orderer: "
                               "channels not cross-checked", host=n.host, node=n.name, data={"disabled": True}))
            continue
        if oc.error:
            out.append(Finding("participation", Severity.UNKNOWN, oc.error[:300], host=n.host, node=n.name))
            continue
        listed = sorted(oc.channels)
        expected = inv.channels_of(n)
        missing = [ch for ch in expected if ch not in oc.channels]
        view = views[n.name]
        view.heights = [h for h in view.heights if h.channel not in missing]
        view.not_joined = set(missing)
        for ch in missing:
            out.append(Finding("participation", Severity.CRITICAL,
                               f"{ch}: not joined on this orderer (osnadmin channel list: "
                               f"{', '.join(listed) or 'no channels'}); its height and Raft gauges are stale",
                               host=n.host, node=n.name, data={"channel": ch, "listed": listed}))
        odd = [i for i in oc.channels.values() if i.status in _PARTICIPATION_STATUS]
        for i in odd:
            out.append(Finding("participation", _PARTICIPATION_STATUS[i.status],
                               f"{i.channel}: status {i.status} ({i.consensus_relation}, height {i.height})",
                               host=n.host, node=n.name, data={"channel": i.channel, **i.to_dict()}))
        if not missing and not odd:
            out.append(Finding("participation", Severity.OK, f"joined: {', '.join(listed) or 'no channels'}",
                               host=n.host, node=n.name, data={"listed": listed}))
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
    soonest: dict[tuple[str, str], float] = {}
    for f in report.findings:
        if f.check == "cert":
            days = f.data.get("days_left", (f.data.get("soonest") or {}).get("days_left"))
            if days is not None:
                where = (f.host or "", f.node or "")
                soonest[where] = min(days, soonest.get(where, days))
    if soonest:
        lines += ["# HELP opskit_cert_days_left Days until the first of a node's certificates expires.",
                  "# TYPE opskit_cert_days_left gauge"]
        lines += [f'opskit_cert_days_left{{host="{_esc(h)}",node="{_esc(n)}"}} {d:.2f}' for (h, n), d in sorted(soonest.items())]
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
