"""Selectors: pick hosts and nodes by name, kind, org or label.

Grammar (comma-separated terms are a union; ``all`` or an empty selector is everything):
``HOST`` | ``NODE`` (e.g. ``peer1.org1``) | ``kind:peer`` | ``org:org1`` | ``label:key=value`` | ``host:NAME``.
A term that matches nothing is an error: a typo must never mean "no hosts, all OK".
"""

from __future__ import annotations

from dataclasses import dataclass

from opskit.errors import SelectorError
from opskit.inventory.model import Host, Inventory, Node, NodeKind


@dataclass(frozen=True)
class Selection:
    hosts: list[Host]
    nodes: list[Node]


def _term_nodes(inv: Inventory, term: str) -> tuple[set[str], set[str]]:
    """Return (host names, node names) a single term selects."""
    if ":" in term:
        key, _, value = term.partition(":")
        if key == "kind":
            try:
                kind = NodeKind(value)
            except ValueError:
                kinds = ", ".join(k.value for k in NodeKind)
                raise SelectorError(f"unknown node kind {value!r} in selector {term!r} (kinds: {kinds})") from None
            nodes = {n.name for n in inv.nodes.values() if n.kind is kind}
            if not nodes:
                raise SelectorError(f"selector {term!r}: the inventory has no {value} nodes")
            return {inv.nodes[n].host for n in nodes}, nodes
        if key == "org":
            if value not in inv.orgs:
                raise SelectorError(f"unknown org {value!r} (orgs: {', '.join(sorted(inv.orgs)) or 'none'})")
            nodes = {n.name for n in inv.nodes.values() if n.org == value}
            return {inv.nodes[n].host for n in nodes}, nodes
        if key == "host":
            if value not in inv.hosts:
                raise SelectorError(f"unknown host {value!r}")
            return {value}, {n.name for n in inv.nodes_on(value)}
        if key == "label":
            lk, eq, lv = value.partition("=")
            hosts = {h.name for h in inv.hosts.values() if lk in h.labels and (not eq or h.labels[lk] == lv)}
            nodes = {n.name for n in inv.nodes.values() if lk in n.labels and (not eq or n.labels[lk] == lv)}
            nodes |= {n.name for n in inv.nodes.values() if n.host in hosts}
            hosts |= {inv.nodes[n].host for n in nodes}
            if not hosts:
                raise SelectorError(f"selector {term!r} matches no host or node")
            return hosts, nodes
        raise SelectorError(f"unknown selector prefix {key!r} in {term!r} (use kind:, org:, host:, label:)")
    if term in inv.nodes:
        return {inv.nodes[term].host}, {term}
    if term in inv.hosts:
        return {term}, {n.name for n in inv.nodes_on(term)}
    raise SelectorError(f"{term!r} is neither a host nor a node of inventory {inv.name!r}")


def select(inv: Inventory, selector: str | None = None) -> Selection:
    """Resolve a selector string to hosts and nodes, in inventory order."""
    terms = [t.strip() for t in (selector or "").split(",") if t.strip()]
    if not terms or terms == ["all"]:
        return Selection(list(inv.hosts.values()), list(inv.nodes.values()))
    host_names: set[str] = set()
    node_names: set[str] = set()
    for term in terms:
        h, n = _term_nodes(inv, term)
        host_names |= h
        node_names |= n
    return Selection(
        [h for h in inv.hosts.values() if h.name in host_names],
        [n for n in inv.nodes.values() if n.name in node_names],
    )
