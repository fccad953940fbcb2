"""Sync planning: what each org's zone should hold (from the inventory), the diff against the zone
(AXFR), octoDNS-style safety thresholds, and applying a plan as one guarded UPDATE per zone.

Scope: opskit manages A, AAAA and CNAME RRsets below the zone apex. The apex (SOA, NS) and the
zone's own name-server host (``ns``) are never planned. Everything else of those types in the zone
that the inventory does not produce is a *delete* (the inventory is the source of truth), unless the
plan is made with ``prune=False`` (the extra_hosts import only adds and changes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from opskit.dns import names as nm
from opskit.dns.errors import DnsConflict, DnsError, DnsServerError, DnsVerifyError, SyncRefused
from opskit.dns.zone import Rrset, ZoneClient, ZoneSnapshot, org_dns

#: octoDNS defaults: refuse when a plan deletes or changes more than 30% of a zone of >= 10 records.
MAX_DELETE_PCT = 30.0
MAX_CHANGE_PCT = 30.0
MIN_EXISTING = 10
#: Rough UPDATE message budget (bytes) before a plan is split into several messages.
MESSAGE_BUDGET = 60000


@dataclass
class Desired:
    """The records a zone should hold, and what could not be turned into a record."""

    org: str
    zone: str
    records: dict[tuple[str, str], Rrset] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def put(self, rel: str, rdtype: str, value: str, ttl: int, source: str) -> None:
        key = (rel, rdtype)
        clash = [k for k in self.records if k[0] == rel and (k[1] == "CNAME") != (rdtype == "CNAME")]
        if key in self.records and self.records[key].values != (value,):
            self.warnings.append(
                f"{nm.fqdn(rel, self.zone)}: {source} wants {rdtype} {value}, but {self.sources[key]} already gave "
                f"{', '.join(self.records[key].values)}; kept the first"
            )
            return
        if clash:
            self.warnings.append(f"{nm.fqdn(rel, self.zone)}: {source} wants {rdtype} {value} beside a CNAME "
                                 f"from {self.sources[clash[0]]}; kept the first")
            return
        self.records[key] = Rrset(rel, rdtype, ttl, (value,))
        self.sources[key] = source


def _value_for_address(address: str, zone: str) -> nm.Value:
    try:
        ip = ipaddress.ip_address(address)
        return nm.Value("A" if ip.version == 4 else "AAAA", ip.compressed)
    except ValueError:
        return nm.Value("CNAME", nm.canonical_target(address + ".", zone))


def node_fqdn(node: Any, org: Any) -> str | None:
    """The DNS name of ``node`` under its org's domain.

    ``hostname`` if set (one label = under the domain), else the container name when it ends with
    the domain (``peer0.org1.example.com``), else the node name with a trailing ``.<org>`` removed
    (``peer0.org1`` -> ``peer0.<domain>``).
    """
    domain = org.domain.rstrip(".").lower()
    if node.hostname:
        h = node.hostname.rstrip(".").lower()
        return h if "." in h else f"{h}.{domain}"
    if node.container and node.container.lower().rstrip(".").endswith("." + domain):
        return node.container.lower().rstrip(".")
    n = node.name.lower()
    if n.endswith("." + org.name.lower()):
        n = n[: -len(org.name) - 1]
    if "." in n:
        return None
    return f"{n}.{domain}"


def desired_from_inventory(inv: Any, org_name: str, ttl: int = nm.DEFAULT_TTL, hosts: bool = True) -> Desired:
    """Every node of the org under its domain -> its host's address (or the org's ``address:`` when the org
    sits behind a proxy); plus ``<host>.hosts.<zone>`` -> the host's own address for each host that runs a
    node of the org (handy for ssh and for checking where a name points)."""
    settings = org_dns(inv, org_name)
    org = inv.orgs[org_name]
    zone = settings.zone.rstrip(".").lower()
    want = Desired(org_name, zone)
    used_hosts: list[str] = []
    for node in inv.nodes.values():
        if node.org != org_name:
            continue
        host = inv.hosts[node.host]
        name = node_fqdn(node, org)
        if name is None:
            want.warnings.append(f"node {node.name}: no DNS name (set hostname: in the inventory)")
            continue
        try:
            rel = nm.record_name(name + ".", zone)
            val = _value_for_address(org.address or host.address, zone)
        except DnsError as exc:
            want.warnings.append(f"node {node.name}: {exc}")
            continue
        if val.rdtype == "CNAME" and val.text == f"{name}.":
            want.warnings.append(f"node {node.name}: org address {org.address} is the node's own name; no record")
            continue
        want.put(rel, val.rdtype, val.text, ttl, f"node {node.name}" + (" (org address)" if org.address else ""))
        if host.name not in used_hosts:
            used_hosts.append(host.name)
    if hosts:
        for hname in used_hosts:
            host = inv.hosts[hname]
            try:
                rel = nm.record_name(f"{nm.check_label(hname)}.hosts.{zone}", zone)
            except DnsError:
                want.warnings.append(f"host {hname}: not a valid DNS label, so no {hname}.hosts record")
                continue
            val = _value_for_address(host.address, zone)
            want.put(rel, val.rdtype, val.text, ttl, f"host {hname}")
    return want


@dataclass
class ZonePlan:
    """The difference between a zone and what it should hold."""

    org: str
    zone: str
    serial: int
    soa: Any
    existing: int
    adds: list[Rrset] = field(default_factory=list)
    changes: list[tuple[Rrset, Rrset]] = field(default_factory=list)
    deletes: list[Rrset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.adds or self.changes or self.deletes)

    @property
    def size(self) -> int:
        return len(self.adds) + len(self.changes) + len(self.deletes)

    def lines(self) -> list[str]:
        out = [f"+ {r.text(self.zone)}" for r in self.adds]
        out += [f"~ {nm.fqdn(a.name, self.zone)} {a.rdtype} {', '.join(a.values)} (ttl {a.ttl}) -> "
                f"{', '.join(b.values)} (ttl {b.ttl})" for a, b in self.changes]
        out += [f"- {r.text(self.zone)}" for r in self.deletes]
        return out

    def summary(self) -> str:
        return (f"{len(self.adds)} to add, {len(self.changes)} to change, {len(self.deletes)} to delete "
                f"(zone has {self.existing} managed RRsets, serial {self.serial})")

    def to_dict(self) -> dict[str, Any]:
        def rr(r: Rrset) -> dict[str, Any]:
            return {"name": nm.fqdn(r.name, self.zone), "type": r.rdtype, "ttl": r.ttl, "values": list(r.values)}
        return {
            "org": self.org, "zone": self.zone, "serial": self.serial, "existing": self.existing,
            "adds": [rr(r) for r in self.adds],
            "changes": [{"old": rr(a), "new": rr(b)} for a, b in self.changes],
            "deletes": [rr(r) for r in self.deletes],
        }

    def check_safety(self, *, force: bool = False, max_delete_pct: float = MAX_DELETE_PCT,
                     max_change_pct: float = MAX_CHANGE_PCT, min_existing: int = MIN_EXISTING) -> None:
        """Refuse (octoDNS-style) a plan that deletes or changes too large a share of the zone."""
        if force or self.existing < min_existing:
            return
        for what, n, limit in (("delete", len(self.deletes), max_delete_pct),
                               ("change", len(self.changes), max_change_pct)):
            pct = 100.0 * n / self.existing
            if pct > limit:
                raise SyncRefused(
                    f"{self.org}: the plan would {what} {n} of {self.existing} records of zone {self.zone} "
                    f"({pct:.0f}% > {limit:g}%): refusing without --force (nothing changed)"
                )


def compute_plan(snapshot: ZoneSnapshot, desired: Desired, *, prune: bool = True) -> ZonePlan:
    existing = snapshot.managed()
    protected = snapshot.protected_names()
    plan = ZonePlan(desired.org, snapshot.zone, snapshot.serial, snapshot.soa, len(existing),
                    warnings=list(desired.warnings))
    want: dict[tuple[str, str], Rrset] = {}
    for key, rr in desired.records.items():
        if key[0] in protected:
            plan.warnings.append(f"{nm.fqdn(key[0], snapshot.zone)} is the zone's apex or name server: not managed")
            continue
        want[key] = rr
    for key, rr in sorted(want.items()):
        have = existing.get(key)
        if have is None:
            if not prune:
                other = [r for k, r in existing.items() if k[0] == key[0] and ("CNAME" in (k[1], key[1]))]
                if other:
                    plan.warnings.append(f"{nm.fqdn(key[0], snapshot.zone)} is {other[0].rdtype} "
                                         f"{', '.join(other[0].values)} in the zone: not replaced by {rr.rdtype} "
                                         f"{', '.join(rr.values)}")
                    continue
            plan.adds.append(rr)
        elif have.values != rr.values or have.ttl != rr.ttl:
            plan.changes.append((have, rr))
    if prune:
        plan.deletes = [rr for key, rr in sorted(existing.items()) if key not in want]
    return plan


def _ops_size(rr: Rrset) -> int:
    """Wire bytes of ``rr`` in an UPDATE: owner (labels + pointer to the zone), 10 bytes of
    type/class/TTL/length, rdata; plus one delete RR of the same owner."""
    owner = len(rr.name) + 3
    rdata = sum({"A": 4, "AAAA": 16}.get(rr.rdtype, len(v) + 2) for v in rr.values)
    return 2 * owner + 10 * (len(rr.values) + 1) + rdata


def _split(plan: ZonePlan) -> list[tuple[list[Rrset], list[tuple[Rrset, Rrset]], list[Rrset]]]:
    """Deletes, changes and adds in message-sized groups (one group for any plan under ~2,000 records)."""
    chunks: list[tuple[list[Rrset], list[tuple[Rrset, Rrset]], list[Rrset]]] = [([], [], [])]
    used = 0

    def room(n: int) -> tuple[list[Rrset], list[tuple[Rrset, Rrset]], list[Rrset]]:
        nonlocal used
        if used + n > MESSAGE_BUDGET and any(chunks[-1]):
            chunks.append(([], [], []))
            used = 0
        used += n
        return chunks[-1]

    for rr in plan.deletes:
        room(_ops_size(rr))[0].append(rr)
    for old, new in plan.changes:
        room(_ops_size(old) + _ops_size(new))[1].append((old, new))
    for rr in plan.adds:
        room(_ops_size(rr))[2].append(rr)
    return chunks


def _applied(client: ZoneClient, deletes: Iterable[Rrset], changes: Iterable[tuple[Rrset, Rrset]],
             adds: Iterable[Rrset]) -> bool:
    """Does the zone (AXFR now) show this group of changes?"""
    have = client.axfr().rrsets
    wanted = [new for _, new in changes] + list(adds)
    keys = {(r.name, r.rdtype) for r in wanted}
    for rr in deletes:
        if (rr.name, rr.rdtype) in have and (rr.name, rr.rdtype) not in keys:
            return False
    for rr in wanted:
        got = have.get((rr.name, rr.rdtype))
        if got is None or got.values != rr.values or got.ttl != rr.ttl:
            return False
    return True


def _owner(rel: str, client: ZoneClient) -> dns.name.Name:
    return dns.name.Name(tuple(label.encode() for label in rel.split(".")) + client.origin.labels)


def _rdatas(rr: Rrset, client: ZoneClient) -> list[Any]:
    """Rdata objects for ``rr`` (A/AAAA built directly: the text parser is the slow part of a big UPDATE)."""
    if rr.rdtype == "A":
        return [A(dns.rdataclass.IN, dns.rdatatype.A, v) for v in rr.values]
    if rr.rdtype == "AAAA":
        return [AAAA(dns.rdataclass.IN, dns.rdatatype.AAAA, v) for v in rr.values]
    return [dns.rdata.from_text(dns.rdataclass.IN, rr.rdtype, v, client.origin) for v in rr.values]


@dataclass
class ApplyResult:
    org: str
    zone: str
    old_serial: int
    serial: int
    messages: int
    note: str | None = None


def apply_plan(client: ZoneClient, plan: ZonePlan) -> ApplyResult:
    """Apply ``plan`` as one UPDATE (split only past ~2,000 records), each guarded by the SOA read.

    The first message carries the SOA record of the AXFR the plan came from as a value-dependent
    prerequisite: if anyone changed the zone since, the server refuses it (NXRRSET) and nothing changes.
    """
    if plan.empty:
        return ApplyResult(plan.org, plan.zone, plan.serial, plan.serial, 0)
    soa = plan.soa
    serial = plan.serial
    notes: list[str] = []
    chunks = _split(plan)
    for i, (deletes, changes, adds) in enumerate(chunks):
        upd = client.new_update()
        upd.present(client.origin, soa)
        for rr in deletes:
            upd.delete(rr.name, rr.rdtype)
        for old, new in changes:
            upd.delete(new.name, new.rdtype)
            upd.add(_owner(new.name, client), new.ttl, *_rdatas(new, client))
        for rr in adds:
            upd.add(_owner(rr.name, client), rr.ttl, *_rdatas(rr, client))
        what = f"the sync update of zone {plan.zone}" + (f" (part {i + 1} of {len(chunks)})" if len(chunks) > 1 else "")
        rc, note = client.send_update(upd, what, lambda d=deletes, c=changes, a=adds: _applied(client, d, c, a))
        if rc in (dns.rcode.NXRRSET, dns.rcode.NXDOMAIN):
            now, _ = client.soa()
            done = f" ({i} of {len(chunks)} parts were applied)" if i else ""
            raise DnsConflict(
                f"{plan.org}: zone {plan.zone} was changed by someone else since it was read (serial {serial}, "
                f"now {now}): this sync{' part' if i else ''} changed nothing{done}; run the sync again to see a fresh plan"
            )
        if rc != dns.rcode.NOERROR:
            raise DnsServerError(f"{plan.org}: {client.where} answered {dns.rcode.to_text(rc)} to {what}; nothing changed")
        if note:
            notes.append(note)
        new_serial, soa = client.soa()
        if i + 1 < len(chunks) and new_serial != serial + 1:
            raise DnsConflict(f"{plan.org}: zone {plan.zone} changed by someone else during a multi-part sync "
                              f"(serial {serial} -> {new_serial}, expected {serial + 1}); stopped after part {i + 1}")
        serial = new_serial
    return ApplyResult(plan.org, plan.zone, plan.serial, serial, len(chunks), "; ".join(notes) or None)


def verify_applied(client: ZoneClient, desired: Desired, prune: bool = True) -> ZonePlan:
    """Read the zone again: after a sync the plan must be empty."""
    again = compute_plan(client.axfr(), desired, prune=prune)
    if not again.empty:
        raise DnsVerifyError(f"{desired.org}: after the sync zone {desired.zone} still differs: " + "; ".join(again.lines()[:5]))
    return again
