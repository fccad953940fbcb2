"""Selectors: pick hosts and nodes by name, pattern, kind, org or label, close to Ansible's ``--limit`` patterns.

Grammar: comma-separated terms (the comma is the only separator; ``:`` belongs to the ``kind:``-style prefixes).
``all`` (or an empty selector) is everything. A term is one of:

* ``HOST`` | ``NODE`` (e.g. ``peer1.org1``) | ``host:NAME`` | ``kind:peer`` | ``org:org1`` | ``label:key[=value]``;
* a shell wildcard (``fnmatch``: ``*``, ``?``, ``[seq]``, ``[!seq]``) in a bare name (it matches host *and* node
  names), in ``host:``, ``org:``, ``kind:`` and in a label value: ``vm*``, ``peer?.org1``, ``org:org[12]``;
* ``~REGEX``: host and node names the regular expression matches *from their start*, as Ansible does
  (``re.match``, not anchored at the end: ``~vm1`` also takes ``vm10``; write ``~vm1$`` for one). A regex cannot
  contain a comma (the separator) and takes no subscript (its brackets are the regex's, as in Ansible);
* any of the above followed by an Ansible subscript, which slices the *hosts* the term selects, in inventory
  order: ``[i]`` (negative counts from the end), ``[i:j]`` (inclusive end, as Ansible), ``[i:]``, ``[:j]``.
  ``kind:orderer[0]`` is the first host that runs an orderer, with the orderer(s) on it; ``vm*[1:2]`` the second
  and third hosts named ``vm*``. ``vm[1:2]`` is therefore a slice of what ``vm`` selects, not "vm1 and vm2":
  write ``vm[12]`` or ``vm[1-2]`` (fnmatch character classes) for those. Brackets whose content is neither an
  integer nor ``i:j`` are always a character class; an integer (``vm[12]``) is a subscript when the part before
  it matches something, else the whole term is read as a wildcard (so ``vm[12]`` means vm1/vm2 when there is no
  host or node ``vm``).

Prefix ``!`` excludes what a term selects, ``&`` intersects with it. As in Ansible the position does not matter:
first the union of the plain terms (everything if there is none: ``!vm1`` is "all but vm1"), then every ``&``
term, then every ``!`` term.

Hosts and nodes: a host term selects the host and all its nodes; a node term selects the node and its host.
Excluding a host removes the host and its nodes; excluding a node removes only that node, and its host too only
when no selected node remains on it and the host was selected only through nodes (``vm2,!orderer1`` keeps host
vm2 for its host checks; ``kind:orderer,!orderer1`` drops vm2 with orderer1). An intersection keeps the nodes both
sides select, and the hosts both select as hosts.

Errors (:class:`SelectorError`, exit 3, one line): a term that matches nothing (with a did-you-mean suggestion) --
a typo must never mean "no hosts, all OK" -- a bad regex or subscript, and ``&``/``!`` terms that leave nothing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from opskit.errors import SelectorError
from opskit.inventory.model import Host, Inventory, Node, NodeKind


@dataclass(frozen=True)
class Selection:
    hosts: list[Host]
    nodes: list[Node]


#: ``BASE[SUBSCRIPT]`` with an integer or an ``i:j`` range (either side optional, negatives allowed)
_SUBSCRIPT_RE = re.compile(r"^(?P<base>.+)\[(?P<body>-?\d+|-?\d*:-?\d*)\]\Z")
_WILDCARD_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class _Part:
    """What one term (or a combination of terms) selects.

    ``hosts`` are the hosts selected *as hosts* (they come with their nodes); the hosts of ``nodes`` are selected
    too, but only through them. Keeping the two apart is what lets excluding a node drop a host that was only there
    for that node while keeping a host that was asked for.
    """

    hosts: frozenset[str]
    nodes: frozenset[str]

    def all_hosts(self, inv: Inventory) -> set[str]:
        return set(self.hosts) | {inv.nodes[n].host for n in self.nodes}

    def __or__(self, other: _Part) -> _Part:
        return _Part(self.hosts | other.hosts, self.nodes | other.nodes)

    def __and__(self, other: _Part) -> _Part:
        return _Part(self.hosts & other.hosts, self.nodes & other.nodes)


def _is_pattern(text: str) -> bool:
    return any(c in _WILDCARD_CHARS for c in text)


def _matching(pattern: str, names: Iterable[str]) -> list[str]:
    """Names equal to ``pattern`` or matching it as a wildcard (equality first: a literal ``[`` in a label value)."""
    return [n for n in names if n == pattern or (_is_pattern(pattern) and fnmatchcase(n, pattern))]


def _suggest(word: str, names: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest names (wildcard characters aside), or nothing."""
    plain = re.sub(r"[*?\[\]!]", "", word)
    close = difflib.get_close_matches(plain, sorted(set(names)), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _hosts_part(inv: Inventory, hosts: Iterable[str], nodes: Iterable[str] = ()) -> _Part:
    """Hosts selected as hosts (with every node on them) plus extra nodes."""
    chosen = frozenset(hosts)
    return _Part(chosen, frozenset(nodes) | {n.name for n in inv.nodes.values() if n.host in chosen})


def _everything(inv: Inventory) -> _Part:
    return _hosts_part(inv, inv.hosts)


def _prefixed(inv: Inventory, term: str) -> _Part:
    """``kind:``, ``org:``, ``host:`` and ``label:`` terms."""
    key, _, value = term.partition(":")
    if key == "kind":
        kinds = ", ".join(k.value for k in NodeKind)
        matched = [k for k in NodeKind if k.value == value or (_is_pattern(value) and fnmatchcase(k.value, value))]
        if not matched:
            raise SelectorError(f"unknown node kind {value!r} in selector {term!r} (kinds: {kinds})"
                                + _suggest(value, (k.value for k in NodeKind)))
        nodes = {n.name for n in inv.nodes.values() if n.kind in matched}
        if not nodes:
            raise SelectorError(f"selector {term!r}: the inventory has no {value} nodes")
        return _Part(frozenset(), frozenset(nodes))
    if key == "org":
        orgs = _matching(value, inv.orgs)
        if not orgs:
            raise SelectorError(f"unknown org {value!r} (orgs: {', '.join(sorted(inv.orgs)) or 'none'})"
                                + _suggest(value, inv.orgs))
        nodes = {n.name for n in inv.nodes.values() if n.org in orgs}
        if not nodes:
            raise SelectorError(f"selector {term!r}: org {', '.join(orgs)} has no nodes in the inventory")
        return _Part(frozenset(), frozenset(nodes))
    if key == "host":
        hosts = _matching(value, inv.hosts)
        if not hosts:
            raise SelectorError(f"unknown host {value!r}" + _suggest(value, inv.hosts))
        return _hosts_part(inv, hosts)
    if key == "label":
        lk, eq, lv = value.partition("=")

        def has(labels: dict[str, str]) -> bool:
            return lk in labels and (not eq or bool(_matching(lv, [labels[lk]])))

        hosts = [h.name for h in inv.hosts.values() if has(h.labels)]
        part = _hosts_part(inv, hosts, (n.name for n in inv.nodes.values() if has(n.labels)))
        if not part.nodes and not part.hosts:
            raise SelectorError(f"selector {term!r} matches no host or node")
        return part
    raise SelectorError(f"unknown selector prefix {key!r} in {term!r} (use kind:, org:, host:, label:)")


def _names(inv: Inventory, term: str, matches: list[str]) -> _Part:
    """A bare name or wildcard: the hosts it matches (with their nodes) and the nodes it matches."""
    hosts = [m for m in matches if m in inv.hosts]
    nodes = [m for m in matches if m in inv.nodes]
    if not hosts and not nodes:
        raise SelectorError(f"{term!r} matches no host or node of inventory {inv.name!r}"
                            + _suggest(term, [*inv.hosts, *inv.nodes]))
    return _hosts_part(inv, hosts, nodes)


def _plain(inv: Inventory, term: str) -> _Part:
    """A term without ``!``/``&`` and without subscript."""
    if term == "all":
        return _everything(inv)
    if term.startswith("~"):
        if len(term) == 1:
            raise SelectorError(f"selector term {term!r}: the regular expression after '~' is empty")
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise SelectorError(f"selector term {term!r}: bad regular expression: {exc}") from None
        return _names(inv, term, [n for n in [*inv.hosts, *inv.nodes] if regex.match(n)])
    if ":" in term:
        return _prefixed(inv, term)
    if not _is_pattern(term):
        # an exact name: a node first, as before patterns existed (a host and a node may share a name)
        if term in inv.nodes:
            return _Part(frozenset(), frozenset({term}))
        if term in inv.hosts:
            return _hosts_part(inv, [term])
        raise SelectorError(f"{term!r} is neither a host nor a node of inventory {inv.name!r}"
                            + _suggest(term, [*inv.hosts, *inv.nodes]))
    return _names(inv, term, _matching(term, [*inv.hosts, *inv.nodes]))


def _subscript(inv: Inventory, part: _Part, body: str, term: str) -> _Part:
    """Keep the hosts ``body`` picks (Ansible: index or inclusive range over the term's hosts, inventory order)."""
    hosts = [h for h in inv.hosts if h in part.all_hosts(inv)]
    count = len(hosts)
    listed = ", ".join(hosts)
    if ":" not in body:
        index = int(body)
        if not -count <= index < count:
            raise SelectorError(f"selector term {term!r}: index {index} is out of range: the term selects {count} "
                                f"host(s) ({listed}), counted from 0")
        chosen = {hosts[index]}
    else:
        first, _, last = body.partition(":")
        start = int(first) if first else 0
        end = int(last) if last else count - 1
        start = max(start + count if start < 0 else start, 0)
        end = end + count if end < 0 else end
        chosen = set(hosts[start:end + 1]) if end >= 0 else set()
        if not chosen:
            raise SelectorError(f"selector term {term!r}: the range [{body}] (inclusive) takes none of the {count} "
                                f"host(s) the term selects ({listed}), counted from 0")
    return _Part(part.hosts & chosen, frozenset(n for n in part.nodes if inv.nodes[n].host in chosen))


def _term(inv: Inventory, term: str) -> _Part:
    """One term without its ``!``/``&``: the subscript, if any, applied to what the rest selects."""
    match = None if term.startswith("~") else _SUBSCRIPT_RE.match(term)
    if match is None:
        return _plain(inv, term)
    base, body = match["base"], match["body"]
    try:
        part = _plain(inv, base)
    except SelectorError as base_error:
        hint = f"{base_error} (in {term!r}, [{body}] is a subscript of the hosts {base!r} selects, as in Ansible"
        if ":" in body:
            raise SelectorError(hint + "; for names use a character class: vm[12])") from None
        try:  # ``vm[12]`` with nothing called ``vm``: the character class is meant
            return _plain(inv, term)
        except SelectorError:
            raise SelectorError(hint + f"; read as a wildcard {term!r} matches nothing either)") from None
    return _subscript(inv, part, body, term)


def select(inv: Inventory, selector: str | None = None) -> Selection:
    """Resolve a selector string to hosts and nodes, in inventory order (grammar: this module's docstring).

    Every term is resolved, so a typo anywhere is an error even when other terms would select something.
    """
    terms = [t.strip() for t in (selector or "").split(",") if t.strip()]
    if not inv.hosts:
        # "OK across 0 hosts" would be an answer about nothing: an empty fleet is an error, not a healthy one
        raise SelectorError(f"inventory {inv.source or inv.name} has no hosts (hosts: is empty): nothing to "
                            "check or change")
    unions: list[_Part] = []
    intersections: list[_Part] = []
    exclusions: list[_Part] = []
    for term in terms:
        op, body = (term[0], term[1:].strip()) if term[0] in "!&" else ("", term)
        if not body or body[0] in "!&":
            raise SelectorError(f"selector {selector!r}: {term!r} is not a term (write !TERM to exclude, &TERM to "
                                "intersect)")
        part = _term(inv, body)
        {"": unions, "&": intersections, "!": exclusions}[op].append(part)
    chosen = _everything(inv)
    if unions:
        chosen = unions[0]
        for part in unions[1:]:
            chosen |= part
    for part in intersections:
        chosen &= part
    for part in exclusions:
        gone = part.hosts
        chosen = _Part(chosen.hosts - gone,
                       frozenset(n for n in chosen.nodes - part.nodes if inv.nodes[n].host not in gone))
    host_names = chosen.all_hosts(inv)
    if not host_names:
        raise SelectorError(f"selector {selector!r} selects nothing: its & and ! terms leave no host or node")
    return Selection(
        [h for h in inv.hosts.values() if h.name in host_names],
        [n for n in inv.nodes.values() if n.name in chosen.nodes],
    )
