"""Monitoring coverage and heights from Prometheus (prometheus-api-client).

Coverage: every inventory node with an operations endpoint and every host's
node_exporter (port 9100) must be a Prometheus target that is up; whatever is
not is what Grafana would not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from opskit.health.chains import Height
from opskit.inventory.model import Inventory, Node
from opskit.output.report import Finding, Severity

NODE_EXPORTER_PORT = 9100


@dataclass
class Target:
    address: str  # host:port
    job: str
    health: str  # up | down | unknown
    error: str


def _hostport(url: str) -> str | None:
    p = urlparse(url if "//" in url else f"http://{url}")
    if not p.hostname:
        return None
    port = p.port or (443 if p.scheme == "https" else 80)
    return f"{p.hostname}:{port}"


def fetch_targets(prometheus_url: str, timeout: float = 5.0) -> list[Target]:
    """Active scrape targets from the Prometheus HTTP API."""
    from prometheus_api_client import PrometheusConnect

    prom = PrometheusConnect(url=prometheus_url, disable_ssl=True, timeout=timeout)
    resp = prom._session.get(f"{prom.url}/api/v1/targets", params={"state": "active"}, timeout=timeout)
    resp.raise_for_status()
    out = []
    for t in resp.json()["data"]["activeTargets"]:
        out.append(Target(t["labels"].get("instance") or t["discoveredLabels"].get("__address__", ""),
                          t["labels"].get("job", ""), t.get("health", "unknown"), t.get("lastError", "")))
    return out


def fetch_heights(prometheus_url: str, inv: Inventory, timeout: float = 5.0) -> list[Height]:
    """`ledger_blockchain_height` per node and channel, mapped to inventory nodes by target address."""
    from prometheus_api_client import PrometheusConnect

    prom = PrometheusConnect(url=prometheus_url, disable_ssl=True, timeout=timeout)
    by_addr = {_hostport(n.operations): n for n in inv.nodes.values() if n.operations}
    out = []
    for r in prom.custom_query("ledger_blockchain_height"):
        node = by_addr.get(r["metric"].get("instance", ""))
        if node is None or "channel" not in r["metric"]:
            continue
        out.append(Height(node.name, r["metric"]["channel"], int(float(r["value"][1])), "prometheus", node.host))
    return out


def coverage_findings(inv: Inventory, nodes: list[Node], targets: list[Target]) -> list[Finding]:
    by_addr = {t.address: t for t in targets}
    out = []
    hosts = sorted({n.host for n in nodes} | set())
    for host_name in hosts:
        host = inv.hosts[host_name]
        addr = f"{host.address}:{NODE_EXPORTER_PORT}"
        t = by_addr.get(addr)
        out.append(_coverage(host_name, None, "node_exporter", addr, t))
    for n in nodes:
        if not n.operations:
            continue
        addr = _hostport(n.operations)
        out.append(_coverage(n.host, n.name, "operations", addr or n.operations, by_addr.get(addr or "")))
    return out


def _coverage(host: str, node: str | None, what: str, addr: str, t: Target | None) -> Finding:
    data = {"target": addr, "kind": what}
    if t is None:
        return Finding("monitoring", Severity.WARNING, f"{what} {addr} is not a Prometheus target: Grafana will not show it",
                       host=host, node=node, data={**data, "state": "missing"})
    if t.health != "up":
        return Finding("monitoring", Severity.WARNING,
                       f"{what} {addr} target is {t.health} (job {t.job}): {t.error or 'no scrape'}",
                       host=host, node=node, data={**data, "state": t.health, "job": t.job})
    return Finding("monitoring", Severity.OK, f"{what} {addr} scraped (job {t.job})", host=host, node=node,
                   data={**data, "state": "up", "job": t.job})
