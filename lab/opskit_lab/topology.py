"""Where the lab's Fabric-shaped fleet goes: the long-term test fleet's shape placed over N hosts.

The fleet shape is fixed (the shape of our users' long-term fleet):

* 4 orderer organisations ``ordererorg1..4`` with one orderer each, 4 Kafka brokers, 3 ZooKeeper nodes;
* peer organisations ``org1..org3`` with 2 peers each, a CouchDB per peer;
* one tools/cli container; channels ``system-channel`` (orderers) and ``mychannel`` (orderers + peers).

The placement spreads "groups" (an orderer with its Kafka broker and ZooKeeper node; a peer with its CouchDB)
round-robin over the hosts: with 10 or more hosts every group has a host of its own (hosts past the tenth are
spare), with fewer hosts groups share. Containers use the host's network (as ``network_mode: host``), so two nodes
of the same kind on one host get different ports; the placement assigns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_HOSTS = 64
DEFAULT_HOSTS = 6
DOMAIN = "example.com"
SYSTEM_CHANNEL = "system-channel"
APP_CHANNEL = "mychannel"
ORDERER_ORGS = [f"ordererorg{i}" for i in range(1, 5)]
PEER_ORGS = ["org1", "org2", "org3"]
PEERS_PER_ORG = 2
N_KAFKA = 4
N_ZOOKEEPER = 3

#: The first port of each kind on a host; a second node of the same kind on that host gets the next one.
BASE_PORTS: dict[str, dict[str, int]] = {
    "orderer": {"listen": 7050, "operations": 8443},
    "peer": {"listen": 7051, "operations": 9443},
    "couchdb": {"listen": 5984},
    "kafka": {"listen": 9092},
    "zookeeper": {"listen": 2181},
    "cli": {},
}
#: The real-Fabric fleet (opskit_lab.fabric): 3 orderer orgs on etcdraft, peers of 2 orgs, no Kafka/CouchDB.
FABRIC_ORDERER_ORGS = ORDERER_ORGS[:3]
FABRIC_PEERS = [("org1", 0), ("org1", 1), ("org2", 0)]
FABRIC_BASE_PORTS: dict[str, dict[str, int]] = {
    "orderer": {"listen": 7050, "admin": 7053, "operations": 8443},
    "peer": {"listen": 7051, "chaincode": 7052, "operations": 9443},
    "kafka": {"listen": 9092},
    "cli": {},
}
#: ledger paths inside the containers (Fabric's defaults)
LEDGER_PATHS = {"orderer": "/var/hyperledger/production/orderer", "peer": "/var/hyperledger/production"}


@dataclass
class NodePlan:
    """One container of the fleet and where it runs."""

    name: str
    kind: str
    host: str
    container: str
    org: str | None = None
    channels: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)   #: role -> port ("listen", "operations")
    volume: str | None = None                           #: named docker volume holding the ledger
    ledger_path: str | None = None                      #: where that volume is mounted in the container

    @property
    def operations_port(self) -> int | None:
        return self.ports.get("operations")

    @property
    def port_list(self) -> list[int]:
        return sorted(self.ports.values())


@dataclass
class Topology:
    hosts: list[str]
    nodes: list[NodePlan]

    def nodes_on(self, host: str) -> list[NodePlan]:
        return [n for n in self.nodes if n.host == host]

    def node(self, name: str) -> NodePlan:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def role_of(self, host: str) -> str:
        kinds = {n.kind for n in self.nodes_on(host)}
        roles = sorted({"orderer" if k in ("orderer", "kafka", "zookeeper") else "peer"
                        for k in kinds if k != "cli"})
        return "+".join(roles) if roles else "spare"

    @property
    def orderers(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.kind == "orderer"]

    @property
    def peers(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.kind == "peer"]


def host_names(n: int) -> list[str]:
    return [f"vm{i}" for i in range(1, n + 1)]


def _groups() -> list[list[NodePlan]]:
    """The fleet as placement groups, orderer groups first; host is filled in by :func:`default_topology`."""
    groups: list[list[NodePlan]] = []
    for i, org in enumerate(ORDERER_ORGS):
        g = [NodePlan(name=f"orderer{i + 1}", kind="orderer", host="", org=org,
                      container=f"orderer1.{org}.{DOMAIN}", channels=[SYSTEM_CHANNEL, APP_CHANNEL],
                      volume=f"orderer{i + 1}-ledger", ledger_path=LEDGER_PATHS["orderer"])]
        if i < N_KAFKA:
            g.append(NodePlan(name=f"kafka{i}", kind="kafka", host="", container=f"kafka{i}"))
        if i < N_ZOOKEEPER:
            g.append(NodePlan(name=f"zookeeper{i}", kind="zookeeper", host="", container=f"zookeeper{i}"))
        groups.append(g)
    first = True
    for org in PEER_ORGS:
        for p in range(PEERS_PER_ORG):
            g = [NodePlan(name=f"peer{p}.{org}", kind="peer", host="", org=org,
                          container=f"peer{p}.{org}.{DOMAIN}", channels=[APP_CHANNEL],
                          volume=f"peer{p}.{org}-ledger", ledger_path=LEDGER_PATHS["peer"]),
                 NodePlan(name=f"couchdb{p}.{org}", kind="couchdb", host="", org=org, container=f"couchdb{p}.{org}")]
            if first:
                g.append(NodePlan(name="cli", kind="cli", host="", container="cli"))
                first = False
            groups.append(g)
    return groups


def _fabric_groups(kafka: bool = False) -> list[list[NodePlan]]:
    """The real-Fabric fleet as placement groups: an orderer each, a peer each (the cli with the first peer);
    with ``kafka`` a system channel and one Kafka broker (tansu) next to the first orderer."""
    groups: list[list[NodePlan]] = []
    channels = [SYSTEM_CHANNEL, APP_CHANNEL] if kafka else [APP_CHANNEL]
    for i, org in enumerate(FABRIC_ORDERER_ORGS):
        g = [NodePlan(name=f"orderer{i + 1}", kind="orderer", host="", org=org,
                      container=f"orderer1.{org}.{DOMAIN}", channels=list(channels),
                      volume=f"orderer{i + 1}-ledger", ledger_path=LEDGER_PATHS["orderer"])]
        if kafka and i == 0:
            g.append(NodePlan(name="kafka0", kind="kafka", host="", container="kafka0"))
        groups.append(g)
    for gi, (org, p) in enumerate(FABRIC_PEERS):
        g = [NodePlan(name=f"peer{p}.{org}", kind="peer", host="", org=org, container=f"peer{p}.{org}.{DOMAIN}",
                      channels=[APP_CHANNEL], volume=f"peer{p}.{org}-ledger", ledger_path=LEDGER_PATHS["peer"])]
        if gi == 0:
            g.append(NodePlan(name="cli", kind="cli", host="", container="cli"))
        groups.append(g)
    return groups


def default_topology(n_hosts: int = DEFAULT_HOSTS) -> Topology:
    """The stand-in fleet placed over ``n_hosts`` hosts named ``vm1..vmN``."""
    return _place(_groups(), n_hosts, BASE_PORTS)


def fabric_topology(n_hosts: int = DEFAULT_HOSTS, kafka: bool = False) -> Topology:
    """The real-Fabric fleet (3 orderers, 3 peers of 2 orgs, a cli; ``kafka``: a broker) over ``n_hosts`` hosts."""
    return _place(_fabric_groups(kafka), n_hosts, FABRIC_BASE_PORTS)


def _place(groups: list[list[NodePlan]], n_hosts: int, base_ports: dict[str, dict[str, int]]) -> Topology:
    if not 1 <= n_hosts <= MAX_HOSTS:
        raise ValueError(f"a lab has 1..{MAX_HOSTS} hosts, not {n_hosts}")
    hosts = host_names(n_hosts)
    nodes: list[NodePlan] = []
    used: dict[tuple[str, int], str] = {}
    for gi, group in enumerate(groups):
        host = hosts[gi % n_hosts]
        for node in group:
            node.host = host
            for role, base in base_ports[node.kind].items():
                port = base
                while (host, port) in used:
                    port += 1
                used[(host, port)] = node.name
                node.ports[role] = port
            nodes.append(node)
    return Topology(hosts=hosts, nodes=nodes)
