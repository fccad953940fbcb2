"""Which ports the fleet needs, from where: ONE table (:data:`NEEDS`) applied to the inventory.

A need says: a node of kind *source* talks to a node of kind *target* on the target's *role* port
("listen" = its gRPC/service port, "operations" = its operations endpoint). :func:`port_checks` turns the
table into concrete checks "from host H, connect to address:port", one per distinct (source host, target
node, port), remembering which source nodes and which needs asked for it.

Ports come from the inventory: ``Node.ports`` (the listen port is the one that is not the operations
port; when several remain, the kind's usual port if present, else the first) and the port of
``Node.operations``. A node without ports gets its kind's usual port (:data:`DEFAULT_LISTEN_PORT`), marked
``default_port`` in the check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from opskit.inventory.model import Inventory, Node, NodeKind

K = NodeKind

#: the usual listen port of each kind (Fabric / Kafka / ZooKeeper / CouchDB defaults)
DEFAULT_LISTEN_PORT: dict[NodeKind, int] = {
    K.ORDERER: 7050, K.PEER: 7051, K.COUCHDB: 5984, K.KAFKA: 9092, K.ZOOKEEPER: 2181, K.CA: 7054,
    K.PROMETHEUS: 9090, K.GRAFANA: 3000, K.NODE_EXPORTER: 9100,
}

#: What a port should answer to a short plain HTTP/1.0 request (docs/probe.md, "Answers"):
#: the set of answer classes that are expected; anything else that answers is a WARNING.
EXPECTED_ANSWERS: dict[str, frozenset[str]] = {
    # gRPC (with or without TLS) never answers HTTP/1.x: TLS closes or alerts, h2c closes or sends a frame
    "grpc": frozenset({"closed", "silent", "reset", "tls", "http2", "other"}),
    # Kafka and ZooKeeper read a 4-byte length: "GET " is absurd, they close
    "kafka": frozenset({"closed", "silent", "reset", "other"}),
    "zookeeper": frozenset({"closed", "silent", "reset", "other"}),
    "http": frozenset({"http"}),
    # an https endpoint (Go net/http with TLS) answers a plain request with "400 ... HTTP request to an HTTPS server"
    "https": frozenset({"https", "tls", "closed", "reset"}),
}

PROTOCOL_OF_KIND: dict[NodeKind, str] = {
    K.ORDERER: "grpc", K.PEER: "grpc", K.CA: "https", K.COUCHDB: "http", K.KAFKA: "kafka",
    K.ZOOKEEPER: "zookeeper", K.PROMETHEUS: "http", K.GRAFANA: "http", K.NODE_EXPORTER: "http",
}


@dataclass(frozen=True)
class Need:
    source: NodeKind
    target: NodeKind
    role: str            #: "listen" or "operations"
    why: str
    scope: str = "all"   #: all | channel (shares a channel) | own (same org, same host first)


#: THE table: who needs which port of whom.
NEEDS: tuple[Need, ...] = (
    Need(K.PEER, K.ORDERER, "listen", "peer -> orderer (deliver blocks)", "channel"),
    Need(K.PEER, K.PEER, "listen", "peer -> peer (gossip)", "channel"),
    Need(K.PEER, K.COUCHDB, "listen", "peer -> its CouchDB (state database)", "own"),
    Need(K.ORDERER, K.ORDERER, "listen", "orderer -> orderer (Raft cluster on the listen port)", "channel"),
    Need(K.ORDERER, K.KAFKA, "listen", "orderer -> Kafka (Kafka consensus)"),
    Need(K.KAFKA, K.ZOOKEEPER, "listen", "Kafka -> ZooKeeper"),
    Need(K.KAFKA, K.KAFKA, "listen", "Kafka -> Kafka (replication)"),
    Need(K.ZOOKEEPER, K.ZOOKEEPER, "listen", "ZooKeeper -> ZooKeeper (client port of the ensemble)"),
    Need(K.CLI, K.ORDERER, "listen", "cli -> orderer (broadcast; load.tx)"),
    Need(K.CLI, K.PEER, "listen", "cli -> peer (endorse, query, getinfo)"),
    Need(K.PROMETHEUS, K.ORDERER, "operations", "Prometheus -> orderer operations (scrape)"),
    Need(K.PROMETHEUS, K.PEER, "operations", "Prometheus -> peer operations (scrape)"),
    Need(K.PROMETHEUS, K.NODE_EXPORTER, "listen", "Prometheus -> node_exporter (scrape)"),
    Need(K.GRAFANA, K.PROMETHEUS, "listen", "Grafana -> Prometheus"),
)


def operations_port(node: Node) -> int | None:
    if not node.operations:
        return None
    m = re.match(r"^[a-z]+://[^/:]+:(\d+)", node.operations) or re.match(r"^[^/:]+:(\d+)", node.operations)
    if m:
        return int(m.group(1))
    return 443 if node.operations.startswith("https:") else 80 if node.operations.startswith("http:") else None


def listen_port(node: Node) -> int | None:
    """The node's listen (service) port from ``ports``, leaving out the operations port."""
    ops = operations_port(node)
    ports = [p for p in node.ports if p != ops]
    default = DEFAULT_LISTEN_PORT.get(node.kind)
    if default in ports:
        return default
    return ports[0] if ports else None


@dataclass
class PortCheck:
    """Connect from ``source_host`` to ``address:port`` (the target node's host) and classify the answer."""

    source_host: str
    target: str          #: node name
    target_host: str
    address: str
    port: int
    protocol: str        #: key of EXPECTED_ANSWERS
    role: str
    sources: list[str] = field(default_factory=list)   #: source node names
    why: list[str] = field(default_factory=list)
    default_port: bool = False

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


def _targets(inv: Inventory, src: Node, need: Need) -> list[Node]:
    cands = [n for n in inv.nodes.values() if n.kind == need.target and n.name != src.name]
    if need.scope == "channel":
        mine = set(inv.channels_of(src))
        if mine:
            cands = [n for n in cands if mine & set(inv.channels_of(n)) or not inv.channels_of(n)]
    elif need.scope == "own":
        same_org = [n for n in cands if n.org == src.org] if src.org else cands
        same_host = [n for n in same_org if n.host == src.host]
        cands = same_host or same_org
    return cands


def port_checks(inv: Inventory, source_hosts: list[str] | None = None) -> list[PortCheck]:
    """Every check the plan needs, for sources on ``source_hosts`` (default: every host), in a stable order."""
    wanted = set(source_hosts) if source_hosts is not None else set(inv.hosts)
    checks: dict[tuple[str, str, int], PortCheck] = {}
    for need in NEEDS:
        for src in inv.nodes.values():
            if src.kind != need.source or src.host not in wanted:
                continue
            for tgt in _targets(inv, src, need):
                default = False
                if need.role == "operations":
                    port = operations_port(tgt)
                    protocol = "https" if (tgt.operations or "").startswith("https:") else "http"
                    if port is None:
                        continue
                else:
                    port = listen_port(tgt)
                    protocol = PROTOCOL_OF_KIND.get(tgt.kind, "grpc")
                    if port is None:
                        port = DEFAULT_LISTEN_PORT.get(tgt.kind)
                        default = True
                        if port is None:
                            continue
                key = (src.host, tgt.name, port)
                chk = checks.get(key)
                if chk is None:
                    chk = checks[key] = PortCheck(src.host, tgt.name, tgt.host, inv.hosts[tgt.host].address, port,
                                                  protocol, need.role, default_port=default)
                if src.name not in chk.sources:
                    chk.sources.append(src.name)
                if need.why not in chk.why:
                    chk.why.append(need.why)
    return sorted(checks.values(), key=lambda c: (c.source_host, c.target_host, c.target, c.port))
