"""Reading channel participation: which channels each orderer holds (``osnadmin channel list``), in one command.

The reading half of :mod:`opskit.orderer.participation` (which joins and leaves channels): ``fleet.health``
cross-checks heights and Raft gauges with it, so it lives with health and imports nothing from the orderer
package. ``osnadmin`` runs in the fleet's tools (cli) container with the orderer's TLS CA and the orderer org
admin's TLS client pair (the admin endpoint requires mutual TLS). ``osnadmin`` exits 0 whatever the HTTP status;
the ``Status: NNN`` line and the JSON body tell what happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opskit.errors import InventoryError, OpskitError, SelectorError
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.remote.command import script
from opskit.remote.session import BaseSession

OSNADMIN_TIMEOUT = 30.0


class ParticipationError(OpskitError):
    """An osnadmin call failed or answered with an error status (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class QuorumRefused(OpskitError):
    """Leaving would take the channel's active consenters below quorum: nothing was changed (exit 3)."""


# --------------------------------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class AdminEndpoint:
    """An orderer's channel participation endpoint as the tools container reaches it (paths in the container)."""

    node: str
    host: str
    address: str
    ca_file: str
    client_cert: str
    client_key: str

    @property
    def args(self) -> list[str]:
        return ["-o", self.address, "--ca-file", self.ca_file, "--client-cert", self.client_cert,
                "--client-key", self.client_key]


def admin_endpoint(inv: Inventory, node: Node) -> AdminEndpoint | None:
    """The admin endpoint of ``node``, or None when the inventory lacks what osnadmin needs (see :func:`require_admin`)."""
    org = inv.orgs.get(node.org) if node.org else None
    if (node.kind is not NodeKind.ORDERER or not node.admin_port or not node.tls_ca_file or org is None
            or not org.admin_tls_cert or not org.admin_tls_key):
        return None
    return AdminEndpoint(node.name, node.host, f"{node.hostname or node.container_name}:{node.admin_port}",
                         node.tls_ca_file, org.admin_tls_cert, org.admin_tls_key)


def require_admin(inv: Inventory, name: str) -> AdminEndpoint:
    """The admin endpoint of orderer ``name``; an exit-3 error naming what the inventory lacks."""
    node = inv.nodes.get(name)
    orderers = sorted(n.name for n in inv.nodes.values() if n.kind is NodeKind.ORDERER)
    if node is None or node.kind is not NodeKind.ORDERER:
        raise SelectorError(f"unknown orderer {name!r} (orderers: {', '.join(orderers) or 'none'})")
    ep = admin_endpoint(inv, node)
    if ep is None:
        org = inv.orgs.get(node.org) if node.org else None
        missing = [k for k, v in (("admin_port", node.admin_port), ("tls_ca_file", node.tls_ca_file),
                                  ("org", org)) if not v]
        if org is not None:
            missing += [f"orgs.{org.name}.{k}" for k in ("admin_tls_cert", "admin_tls_key") if not getattr(org, k)]
        raise InventoryError(f"orderer {name}: the inventory lacks {', '.join(missing)} (osnadmin needs the admin "
                             "port, the orderer's TLS CA and the org admin's TLS client pair)")
    return ep


def tools_node(inv: Inventory, cli: str | None = None) -> Node:
    """The tools (cli) container: ``cli`` or the inventory's first node of kind cli."""
    if cli:
        node = inv.nodes.get(cli)
        if node is None or node.kind is not NodeKind.CLI:
            raise SelectorError(f"{cli!r} is not a node of kind cli in the inventory")
        return node
    clis = [n for n in inv.nodes.values() if n.kind is NodeKind.CLI]
    if not clis:
        raise InventoryError(f"{inv.source or 'inventory'}: no node of kind cli: osnadmin runs in the fleet's "
                             "tools container")
    return clis[0]


# --------------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ChannelInfo:
    """One channel on one orderer, as ``osnadmin channel list --channelID`` reports it."""

    orderer: str
    channel: str
    status: str
    consensus_relation: str
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {"orderer": self.orderer, "channel": self.channel, "status": self.status,
                "consensus_relation": self.consensus_relation, "height": self.height}


@dataclass
class OrdererChannels:
    """What one orderer holds; ``error`` when its admin endpoint could not be read."""

    node: str
    host: str
    channels: dict[str, ChannelInfo] = field(default_factory=dict)
    error: str | None = None


def osnadmin_answer(text: str) -> tuple[int | None, dict[str, Any] | None]:
    """``(HTTP status, JSON body)`` from osnadmin's output (``Status: NNN`` then a JSON document)."""
    status = None
    for line in text.splitlines():
        if line.startswith("Status:"):
            try:
                status = int(line.split(":", 1)[1].strip())
            except ValueError:
                pass
            break
    start = text.find("{")
    doc = None
    if start >= 0:
        try:
            doc, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            doc = None
    return status, doc if isinstance(doc, dict) else None


def parse_channel_list(text: str) -> list[str] | None:
    """Channel names from ``osnadmin channel list`` output; None if unreadable."""
    _, doc = osnadmin_answer(text)
    if doc is None:
        return None
    names = [str(c["name"]) for c in (doc.get("channels") or []) if isinstance(c, dict) and c.get("name")]
    if doc.get("systemChannel") and isinstance(doc["systemChannel"], dict) and doc["systemChannel"].get("name"):
        names.append(str(doc["systemChannel"]["name"]))
    return names


def parse_channel_info(orderer: str, text: str) -> ChannelInfo | None:
    """``osnadmin channel list --channelID CH`` output as a :class:`ChannelInfo`; None for 404 or unreadable."""
    status, doc = osnadmin_answer(text)
    if status != 200 or doc is None or not doc.get("name"):
        return None
    return ChannelInfo(orderer, str(doc["name"]), str(doc.get("status") or "?"),
                       str(doc.get("consensusRelation") or "?"), int(doc.get("height") or 0))


def osnadmin_error(text: str) -> str:
    """What an osnadmin call said went wrong: ``HTTP NNN: <error>``, else its last line."""
    from opskit.health.fleet import cli_error

    status, doc = osnadmin_answer(text)
    if doc is not None and doc.get("error"):
        return f"HTTP {status}: {doc['error']}"
    said = cli_error(text) or (text.strip().splitlines() or ["no output"])[-1]
    return said[:300]


# --------------------------------------------------------------------------------------------------- the calls

#: "$1" container, "$2" channel ("" = every channel each orderer lists), then 6 args per orderer:
#: node, address, ca file, client cert, client key. Marked sections: @@list NODE / @@chan NODE CH, each then @@rc.
_LIST = r"""
c="$1"; only="$2"; shift 2
while [ $# -ge 5 ]; do
  node="$1"; addr="$2"; ca="$3"; cert="$4"; key="$5"; shift 5
  out=$(docker exec "$c" osnadmin channel list -o "$addr" --ca-file "$ca" --client-cert "$cert" --client-key "$key" 2>&1)
  rc=$?
  echo "@@list $node"; printf '%s\n' "$out"; echo "@@rc $rc"
  if [ -n "$only" ]; then names="$only"; else
    names=$(printf '%s\n' "$out" | grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'); fi
  [ $rc -eq 0 ] || names=""
  for ch in $names; do
    echo "@@chan $node $ch"
    docker exec "$c" osnadmin channel list --channelID "$ch" -o "$addr" --ca-file "$ca" --client-cert "$cert" \
      --client-key "$key" 2>&1
    echo "@@rc $?"
  done
done
echo "@@end"
"""


def _sections(text: str) -> list[tuple[list[str], str, int]]:
    """``(marker words, body, rc)`` of every ``@@list``/``@@chan`` section."""
    out: list[tuple[list[str], str, int]] = []
    head: list[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith(("@@list ", "@@chan ")):
            head, body = line[2:].split(), []
        elif line.startswith("@@rc ") and head is not None:
            try:
                rc = int(line[5:].strip())
            except ValueError:
                rc = -1
            out.append((head, "\n".join(body), rc))
            head = None
        elif head is not None:
            body.append(line)
    return out


def parse_listing(text: str, endpoints: list[AdminEndpoint], only: str | None = None) -> dict[str, OrdererChannels]:
    """The output of :data:`_LIST` as one :class:`OrdererChannels` per endpoint."""
    result = {e.node: OrdererChannels(e.node, e.host, error="no answer") for e in endpoints}
    for head, body, rc in _sections(text):
        kind, node = head[0], head[1] if len(head) > 1 else ""
        oc = result.get(node)
        if oc is None:
            continue
        if kind == "list":
            names = parse_channel_list(body) if rc == 0 else None
            status, _ = osnadmin_answer(body)
            oc.error = None if names is not None and status == 200 else f"osnadmin channel list: {osnadmin_error(body)}"
        elif kind == "chan" and len(head) > 2:
            info = parse_channel_info(node, body)
            if info is not None:
                oc.channels[info.channel] = info
            elif only is None or osnadmin_answer(body)[0] != 404:
                oc.error = f"osnadmin channel list --channelID {head[2]}: {osnadmin_error(body)}"
    return result




def read_participation(session: BaseSession, container: str, endpoints: list[AdminEndpoint],
                       channel: str | None = None, env: dict[str, str] | None = None) -> dict[str, OrdererChannels]:
    """Every endpoint's channels (only ``channel`` if given), in one command on the tools container's host."""
    if not endpoints:
        return {}
    specs = [x for e in endpoints for x in (e.node, e.address, e.ca_file, e.client_cert, e.client_key)]
    res = session.run(script(_LIST, container, channel or "", *specs), timeout=OSNADMIN_TIMEOUT * (1 + len(endpoints)),
                      env=env, check=False)
    got = parse_listing(res.stdout, endpoints, channel)
    if "@@end" not in res.stdout:
        why = (res.stderr.strip().splitlines() or [f"exit code {res.exit_code}"])[-1]
        for oc in got.values():
            if oc.error == "no answer":
                oc.error = f"tools container {container}: {why[:200]}"
    return got
