"""Order and batch container changes so that the fleet keeps working while they happen.

Rules (each batch is taken down at once, then gated back up before the next one starts):
* orderers of a channel: never more than (n-1)/2 of its n orderers down (Raft quorum), counting the ones
  already down when the batch starts;
* an organisation never loses all its peers at once: its peers and CouchDBs together may have at most
  (peers - 1) members down (an org with a single peer is allowed its one, with a note);
* ZooKeeper and Kafka ensembles: at most (n-1)/2 (at least 1) down;
* everything else: only the batch size.
Nodes go in a fixed kind order (tools first, orderers last), by name within a kind; a batch is filled
first-fit, so a ``--batch 3`` over the whole fleet never holds two orderers of four.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opskit.errors import OpskitError
from opskit.inventory.model import Inventory, Node, NodeKind

KIND_ORDER = [NodeKind.CLI, NodeKind.OTHER, NodeKind.NODE_EXPORTER, NodeKind.GRAFANA, NodeKind.PROMETHEUS,
              NodeKind.CA, NodeKind.COUCHDB, NodeKind.PEER, NodeKind.ZOOKEEPER, NodeKind.KAFKA, NodeKind.ORDERER]


class QuorumError(OpskitError):
    """A batch would take down too many members of a group (Raft quorum, an org's peers, an ensemble)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class Group:
    """Nodes of which at most ``allowed`` may be down at the same time."""

    name: str
    members: frozenset[str]
    allowed: int
    why: str


def groups(inv: Inventory) -> list[Group]:
    out: list[Group] = []
    orderer_sets: dict[frozenset[str], list[str]] = {}
    for ch in inv.channels.values():
        if ch.orderers:
            orderer_sets.setdefault(frozenset(ch.orderers), []).append(ch.name)
    if not orderer_sets:
        all_orderers = frozenset(n.name for n in inv.nodes.values() if n.kind is NodeKind.ORDERER)
        if all_orderers:
            orderer_sets[all_orderers] = ["(all orderers)"]
    for members, chans in orderer_sets.items():
        n = len(members)
        out.append(Group(f"orderers of {', '.join(sorted(chans))}", members, (n - 1) // 2,
                         f"Raft quorum: {n} orderers need {n // 2 + 1} up"))
    for org in inv.orgs:
        peers = [x.name for x in inv.nodes.values() if x.org == org and x.kind is NodeKind.PEER]
        dbs = [x.name for x in inv.nodes.values() if x.org == org and x.kind is NodeKind.COUCHDB]
        if not peers:
            continue
        allowed = max(1, len(peers) - 1)
        why = (f"org {org} keeps at least one of its {len(peers)} peers" if len(peers) > 1
               else f"org {org} has a single peer: it is down while it is changed")
        out.append(Group(f"peers of {org}", frozenset(peers + dbs), allowed, why))
    for kind in (NodeKind.ZOOKEEPER, NodeKind.KAFKA):
        members = frozenset(x.name for x in inv.nodes.values() if x.kind is kind)
        if members:
            n = len(members)
            out.append(Group(f"{kind.value} ensemble", members, max(1, (n - 1) // 2),
                             f"{n} {kind.value} nodes: at most {max(1, (n - 1) // 2)} down"))
    return out


def order(nodes: Iterable[Node]) -> list[Node]:
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(nodes, key=lambda n: (rank.get(n.kind, 0), n.name))


def check_batch(inv: Inventory, batch: Iterable[str], down: Iterable[str] = ()) -> None:
    """Raise :class:`QuorumError` when taking ``batch`` down (with ``down`` already down) breaks a group."""
    b, d = set(batch), set(down)
    for g in groups(inv):
        out = (b | d) & g.members
        if len(out) > g.allowed and b & g.members:
            already = sorted(d & g.members - b)
            raise QuorumError(
                f"refused: taking down {', '.join(sorted(b & g.members))}"
                + (f" while {', '.join(already)} {'is' if len(already) == 1 else 'are'} already down" if already else "")
                + f" leaves {len(out)} of the {len(g.members)} {g.name} down; at most {g.allowed} may be ({g.why})")


def batches(inv: Inventory, nodes: Iterable[Node], size: int = 1) -> list[list[Node]]:
    """Batches of at most ``size`` nodes that each pass :func:`check_batch` on a healthy fleet."""
    if size < 1:
        raise OpskitError("--batch must be at least 1")
    out: list[list[Node]] = []
    for node in order(nodes):
        for b in out:
            if len(b) >= size:
                continue
            try:
                check_batch(inv, [x.name for x in b] + [node.name])
            except QuorumError:
                continue
            b.append(node)
            break
        else:
            out.append([node])
    return out
