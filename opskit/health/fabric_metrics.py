"""Parse what Fabric nodes say about themselves: /metrics, /healthz and `peer channel getinfo`.

Parsers are pure functions over the real text formats (tested on scrapes from
Fabric 2.5 in tests/fixtures). A node that answers with garbage gives a
:class:`NodeOutputError` naming what was wrong, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from opskit.errors import OpskitError


class NodeOutputError(OpskitError):
    """A node's /metrics, /healthz or CLI output could not be understood."""


@dataclass
class NodeMetrics:
    """The figures opskit uses from one node's /metrics."""

    heights: dict[str, int] = field(default_factory=dict)          # ledger_blockchain_height{channel}
    gossip_heights: dict[str, int] = field(default_factory=dict)   # peers: gossip_state_height{channel}
    is_leader: dict[str, bool] = field(default_factory=dict)       # raft orderers
    cluster_size: dict[str, int] = field(default_factory=dict)
    active_nodes: dict[str, int] = field(default_factory=dict)
    committed_block: dict[str, int] = field(default_factory=dict)
    leader_changes: dict[str, int] = field(default_factory=dict)
    version: str | None = None


_BY_CHANNEL = {
    "ledger_blockchain_height": "heights",
    "gossip_state_height": "gossip_heights",
    "consensus_etcdraft_cluster_size": "cluster_size",
    "consensus_etcdraft_active_nodes": "active_nodes",
    "consensus_etcdraft_committed_block_number": "committed_block",
    "consensus_etcdraft_leader_changes": "leader_changes",
}


def parse_metrics(text: str) -> NodeMetrics:
    """Parse Prometheus text exposition from a Fabric operations endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    out = NodeMetrics()
    if not text.strip():
        raise NodeOutputError("empty /metrics response")
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError, TypeError, IndexError on garbage
        raise NodeOutputError(f"/metrics is not Prometheus text format: {exc}") from None
    seen = 0
    for fam in families:
        for s in fam.samples:
            seen += 1
            channel = s.labels.get("channel")
            if s.name in _BY_CHANNEL and channel is not None:
                getattr(out, _BY_CHANNEL[s.name])[channel] = int(s.value)
            elif s.name == "consensus_etcdraft_is_leader" and channel is not None:
                out.is_leader[channel] = s.value >= 1
            elif s.name == "fabric_version":
                out.version = s.labels.get("version")
    if not seen:
        raise NodeOutputError("/metrics has no samples")
    return out


@dataclass
class Healthz:
    ok: bool
    status: str
    failed_checks: list[tuple[str, str]] = field(default_factory=list)


def parse_healthz(status_code: int, body: str) -> Healthz:
    """200 {"status":"OK"} or 503 {"status":"Service Unavailable","failed_checks":[{component, reason}]}."""
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        raise NodeOutputError(f"/healthz answered HTTP {status_code} with non-JSON: {body[:80]!r}") from None
    if not isinstance(doc, dict):
        raise NodeOutputError("/healthz answer is not a JSON object")
    checks = [(str(c.get("component", "?")), str(c.get("reason", ""))) for c in doc.get("failed_checks") or []
              if isinstance(c, dict)]
    ok = status_code == 200 and str(doc.get("status", "")).upper() == "OK" and not checks
    return Healthz(ok, str(doc.get("status", "")), checks)


@dataclass
class ChainInfo:
    height: int
    current_block_hash: str
    previous_block_hash: str


def parse_getinfo(text: str) -> ChainInfo:
    """The `Blockchain info: {...}` line of `peer channel getinfo` (other lines, colour codes ignored)."""
    for line in text.splitlines():
        idx = line.find("Blockchain info:")
        if idx >= 0:
            payload = line[idx + len("Blockchain info:"):].strip()
            try:
                doc = json.loads(payload)
                return ChainInfo(int(doc["height"]), doc.get("currentBlockHash", ""), doc.get("previousBlockHash", ""))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise NodeOutputError(f"unreadable getinfo output: {payload[:80]!r}") from None
    raise NodeOutputError("no 'Blockchain info:' line in `peer channel getinfo` output")
