"""One organisation's zone on its own DNS server: signed RFC 2136 updates over TCP, reads by AXFR.

Every change is a compare-and-set: the UPDATE carries prerequisites built from what
opskit read just before (RFC 2136 section 2.4), so two operators cannot overwrite each
other silently, and every change is verified by querying the server afterwards.

A non-zero rcode raises nothing in dnspython; here every outcome is mapped to an
:mod:`opskit.dns.errors` class with a message that names the org, zone, server and key
name, never the secret.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr

from opskit.dns import names as nm
from opskit.dns.errors import (
    DnsAuthError,
    DnsConflict,
    DnsInputError,
    DnsServerError,
    DnsTimeoutUnverified,
    DnsVerifyError,
)
from opskit.dns.keys import TsigKey, load_key, resolve_key_path
from opskit.change.progress import ProgressFn
from opskit.wait import Poller

#: dnspython builds UPDATE messages up to this wire size; beyond it a plan is split (see plan.py).
MAX_MESSAGE = 60000


@dataclass(frozen=True)
class Rrset:
    """An RRset by relative owner name (``peer0``), type, TTL and sorted canonical values."""

    name: str
    rdtype: str
    ttl: int
    values: tuple[str, ...]

    def text(self, zone: str | None = None) -> str:
        owner = nm.fqdn(self.name, zone) if zone and self.name != "@" else self.name
        return f"{owner} {self.rdtype} {', '.join(self.values)} (ttl {self.ttl})"


@dataclass
class ZoneSnapshot:
    """A zone as read by AXFR."""

    zone: str
    serial: int
    soa: Any  # dns.rdtypes.ANY.SOA.SOA, the prerequisite that guards a sync
    rrsets: dict[tuple[str, str], Rrset] = field(default_factory=dict)

    def managed(self) -> dict[tuple[str, str], Rrset]:
        """The records opskit manages: A, AAAA and CNAME below the apex, except the zone's own NS hosts."""
        ns_hosts = set()
        for (name, rdtype), rr in self.rrsets.items():
            if rdtype == "NS":
                for v in rr.values:
                    rel = _relative(v, self.zone)
                    if rel is not None:
                        ns_hosts.add(rel)
        return {
            key: rr for key, rr in self.rrsets.items()
            if key[1] in nm.ADDRESS_TYPES and key[0] != "@" and key[0] not in ns_hosts
        }

    def protected_names(self) -> set[str]:
        """Names sync must never touch: the apex and the NS hosts inside the zone."""
        out = {"@"}
        for (_, rdtype), rr in self.rrsets.items():
            if rdtype == "NS":
                out |= {r for r in (_relative(v, self.zone) for v in rr.values) if r is not None}
        return out


@dataclass
class ChangeResult:
    """What one add/update/delete did, verified by a query afterwards."""

    action: str  # added | updated | deleted | unchanged | absent
    org: str
    zone: str
    name: str  # fully qualified, no trailing dot
    rdtype: str
    old: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    ttl: int | None = None
    serial: int | None = None
    verified: bool = False
    note: str | None = None

    @property
    def changed(self) -> bool:
        return self.action in ("added", "updated", "deleted")

    def message(self) -> str:
        what = {
            "added": f"added {self.name} {self.rdtype} {', '.join(self.new)} (ttl {self.ttl})",
            "updated": f"updated {self.name} {self.rdtype}: {', '.join(self.old) or '-'} -> {', '.join(self.new)} (ttl {self.ttl})",
            "deleted": f"deleted {self.name} {self.rdtype} {', '.join(self.old)}",
            "unchanged": f"{self.name} {self.rdtype} {', '.join(self.new)} is already there: nothing to change",
            "absent": f"{self.name} has no such record: nothing to delete",
        }[self.action]
        tail = []
        if self.verified:
            tail.append("verified by query")
        if self.serial is not None:
            tail.append(f"SOA serial {self.serial}")
        text = what + (f"; {', '.join(tail)}" if tail else "")
        if self.note:
            text += f" ({self.note})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "org": self.org, "zone": self.zone, "name": self.name, "type": self.rdtype,
            "old": list(self.old), "new": list(self.new), "ttl": self.ttl, "serial": self.serial,
            "verified": self.verified, "note": self.note,
        }


@dataclass
class RecordPlan:
    """One planned record change: what was read (``before``), what the name will hold (``expect``) and the guarded
    UPDATE that gets it there (``None``: nothing to change). ``result`` is the answer to report."""

    rel: str
    result: ChangeResult
    before: dict[str, tuple[str, ...]]
    expect: dict[str, tuple[str, ...]]
    update: dns.update.UpdateMessage | None = None
    what: str = ""


class _NoAnswer(Exception):
    """Internal: the server did not answer within the timeout."""


def _relative(value: str, zone: str) -> str | None:
    v = value.rstrip(".").lower()
    z = zone.rstrip(".").lower()
    if v == z:
        return "@"
    if v.endswith("." + z):
        return v[: -len(z) - 1]
    return None


def _canonical(rd: Any) -> str:
    return rd.to_text().lower() if rd.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS) else rd.to_text()


class ZoneClient:
    """Reads and edits one org's zone with that org's TSIG key.

    ``timeout`` bounds every exchange; after an UPDATE gets no answer, opskit polls the
    server by query for up to ``verify_grace`` seconds to tell whether the change landed.
    ``progress(line)`` (optional, :mod:`opskit.change.progress`) hears about slow steps (an UPDATE that timed out).
    """

    def __init__(self, org: str, zone: str, server: str, port: int, key: TsigKey, *,
                 timeout: float = 5.0, verify_grace: float | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.org = org
        self.zone = zone.rstrip(".").lower()
        self.origin = nm.zone_name(self.zone)
        self.server_name = server
        self.port = int(port)
        self._key = key
        self.timeout = float(timeout)
        self.verify_grace = float(verify_grace) if verify_grace is not None else max(2.0, self.timeout)
        self.progress = progress
        self._address: str | None = None

    def __repr__(self) -> str:
        return f"<ZoneClient org={self.org} zone={self.zone} server={self.server_name}:{self.port} key={self._key.name}>"

    @property
    def key_name(self) -> str:
        return self._key.name

    @property
    def where(self) -> str:
        return f"{self.server_name}:{self.port}"

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def for_org(cls, inventory: Any, org: str, **kwargs: Any) -> "ZoneClient":
        """The client of ``org`` from the inventory's ``orgs.<org>.dns`` settings."""
        settings = org_dns(inventory, org)
        base = os.path.dirname(inventory.source) if getattr(inventory, "source", None) else None
        key = load_key(resolve_key_path(settings.tsig_key_file, base), settings.tsig_key_name, settings.tsig_algorithm)
        return cls(org, settings.zone, settings.server, settings.port, key, **kwargs)

    # -- transport -------------------------------------------------------------------------
    def _addr(self) -> str:
        if self._address is None:
            try:
                infos = socket.getaddrinfo(self.server_name, self.port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise DnsServerError(f"{self.org}: cannot resolve DNS server name {self.server_name!r}: {exc.strerror}") from None
            self._address = str(infos[0][4][0])
        return self._address

    def _exchange(self, msg: dns.message.Message, what: str, timeout: float | None = None) -> dns.message.Message:
        """Send ``msg`` over TCP; map transport and TSIG failures to opskit errors."""
        t = self.timeout if timeout is None else timeout
        try:
            return dns.query.tcp(msg, self._addr(), timeout=t, port=self.port)
        except dns.tsig.PeerBadSignature:
            raise DnsAuthError(
                f"{self.org}: {self.where} rejected the signature of TSIG key {self._key.name!r} (BADSIG) on {what}: "
                f"the secret in the key file does not match the server's"
            ) from None
        except dns.tsig.PeerBadKey:
            raise DnsAuthError(
                f"{self.org}: {self.where} does not know TSIG key {self._key.name!r} with algorithm "
                f"{self._key.algorithm} (BADKEY) on {what}"
            ) from None
        except dns.tsig.PeerBadTime:
            raise DnsAuthError(f"{self.org}: {self.where} rejected the request time (BADTIME): check the clocks") from None
        except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadAlgorithm, dns.message.UnknownTSIGKey):
            raise DnsAuthError(f"{self.org}: the answer of {self.where} to {what} is not signed with key {self._key.name!r}") from None
        except ConnectionRefusedError:
            raise DnsServerError(f"{self.org}: DNS server {self.where} refused the connection (is it running?)") from None
        except (dns.exception.Timeout, socket.timeout, TimeoutError):
            raise _NoAnswer() from None
        except EOFError:
            raise DnsServerError(f"{self.org}: DNS server {self.where} closed the connection during {what}") from None
        except OSError as exc:
            raise DnsServerError(f"{self.org}: DNS server {self.where} cannot be reached: {exc.strerror or exc}") from None
        except dns.exception.DNSException as exc:
            raise DnsServerError(f"{self.org}: bad answer from {self.where} to {what}: {type(exc).__name__}") from None

    def _ask(self, msg: dns.message.Message, what: str, timeout: float | None = None) -> dns.message.Message:
        try:
            return self._exchange(msg, what, timeout)
        except _NoAnswer:
            t = self.timeout if timeout is None else timeout
            raise DnsServerError(f"{self.org}: DNS server {self.where} did not answer {what} within {t:g}s") from None

    def _query(self, qname: dns.name.Name, rdtype: str, timeout: float | None = None) -> dns.message.Message:
        q = dns.message.make_query(qname, rdtype)
        q.use_tsig(self._key.dns_key())
        r = self._ask(q, f"the {rdtype} query for {qname.to_text(omit_final_dot=True)}", timeout)
        rc = r.rcode()
        if rc == dns.rcode.REFUSED:
            raise DnsAuthError(f"{self.org}: {self.where} REFUSED a query in zone {self.zone} with key {self._key.name!r}")
        if rc == dns.rcode.NOTAUTH:
            raise DnsServerError(f"{self.org}: {self.where} is not authoritative for zone {self.zone} (NOTAUTH)")
        if rc not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsServerError(f"{self.org}: {self.where} answered {dns.rcode.to_text(rc)} for zone {self.zone}")
        return r

    # -- reads -----------------------------------------------------------------------------
    def soa(self, timeout: float | None = None) -> tuple[int, Any]:
        """The zone's SOA serial and rdata, from the server itself."""
        r = self._query(self.origin, "SOA", timeout)
        for rrset in r.answer:
            if rrset.name == self.origin and rrset.rdtype == dns.rdatatype.SOA:
                rd = next(iter(rrset))
                return int(rd.serial), rd
        raise DnsServerError(f"{self.org}: {self.where} has no SOA for zone {self.zone}: is the zone served there?")

    def lookup(self, rel: str, timeout: float | None = None) -> dict[str, Rrset]:
        """The A, AAAA and CNAME RRsets at ``rel`` (relative name), by type."""
        qname = dns.name.from_text(rel, self.origin)
        out: dict[str, Rrset] = {}
        for rdtype in ("CNAME", "A", "AAAA"):
            if rdtype != "CNAME" and "CNAME" in out:
                break
            r = self._query(qname, rdtype, timeout)
            for rrset in r.answer:
                if rrset.name == qname and dns.rdatatype.to_text(rrset.rdtype) == rdtype:
                    out[rdtype] = Rrset(rel, rdtype, int(rrset.ttl), tuple(sorted(_canonical(rd) for rd in rrset)))
            if rdtype == "CNAME" and r.rcode() == dns.rcode.NXDOMAIN:
                break
        return out

    def name_server_names(self, rel: str) -> tuple[set[str], bool]:
        """(the apex and the zone's NS host names inside it, whether ``rel`` is itself a delegation point)."""
        protected = {"@"}
        r = self._query(self.origin, "NS")
        for rrset in r.answer:
            if rrset.name == self.origin and rrset.rdtype == dns.rdatatype.NS:
                protected |= {x for x in (_relative(rd.to_text(), self.zone) for rd in rrset) if x is not None}
        delegated = False
        if rel != "@":
            qname = dns.name.from_text(rel, self.origin)
            q = self._query(qname, "NS")
            delegated = any(rr.name == qname and rr.rdtype == dns.rdatatype.NS for rr in q.answer + q.authority)
        return protected, delegated

    def _refuse_name_servers(self, rel: str, full: str, action: str) -> None:
        """Name-server names are the zone's own plumbing: changing them moves the zone (or a delegation)."""
        protected, delegated = self.name_server_names(rel)
        if rel in protected or delegated:
            what = ("the zone apex" if rel == "@" else "a delegation point (it has NS records)" if delegated and
                    rel not in protected else f"a name server of zone {self.zone} (NS target; its address is glue)")
            raise DnsInputError(f"{self.org}: {full} is {what}: refusing to {action} it with opskit, since that "
                                "would change where the zone is served from. Nothing was changed; change name "
                                "servers deliberately, by hand, with the zone's owner")

    def axfr(self) -> ZoneSnapshot:
        """The whole zone by AXFR over TCP, signed with the org's key (messages parsed straight into RRsets)."""
        try:
            return self._axfr()
        except dns.xfr.TransferError as exc:
            if exc.rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
                raise DnsAuthError(
                    f"{self.org}: {self.where} REFUSED the zone transfer of {self.zone} to key {self._key.name!r}: "
                    "this key may not read this zone"
                ) from None
            raise DnsServerError(f"{self.org}: zone transfer of {self.zone} from {self.where} failed: "
                                 f"{dns.rcode.to_text(exc.rcode)}") from None
        except dns.tsig.PeerBadSignature:
            raise DnsAuthError(
                f"{self.org}: {self.where} rejected the signature of TSIG key {self._key.name!r} (BADSIG) on the "
                "zone transfer: the secret in the key file does not match the server's"
            ) from None
        except dns.tsig.PeerBadKey:
            raise DnsAuthError(f"{self.org}: {self.where} does not know TSIG key {self._key.name!r} (BADKEY)") from None
        except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.message.UnknownTSIGKey):
            raise DnsAuthError(f"{self.org}: the zone transfer from {self.where} is not signed with key "
                               f"{self._key.name!r}") from None
        except ConnectionRefusedError:
            raise DnsServerError(f"{self.org}: DNS server {self.where} refused the connection (is it running?)") from None
        except (dns.exception.Timeout, socket.timeout, TimeoutError):
            raise DnsServerError(f"{self.org}: DNS server {self.where} did not finish the zone transfer of "
                                 f"{self.zone} within {self.timeout:g}s per message") from None
        except (EOFError, ConnectionResetError):
            raise DnsServerError(f"{self.org}: DNS server {self.where} closed the connection during the zone "
                                 f"transfer of {self.zone}") from None
        except OSError as exc:
            raise DnsServerError(f"{self.org}: DNS server {self.where} cannot be reached: {exc.strerror or exc}") from None
        except dns.exception.DNSException as exc:
            raise DnsServerError(f"{self.org}: bad zone transfer of {self.zone} from {self.where}: {type(exc).__name__}") from None

    def _axfr(self) -> ZoneSnapshot:
        q = dns.message.make_query(self.origin, "AXFR")
        q.use_tsig(self._key.dns_key())
        wire = q.to_wire()
        values: dict[tuple[str, str], tuple[int, set[str]]] = {}
        soa_rd = None
        soas = 0
        deadline = time.monotonic() + max(self.timeout * 6, 30.0)
        with socket.create_connection((self._addr(), self.port), timeout=self.timeout) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            tsig_ctx = None
            first = True
            while soas < 2:
                if time.monotonic() > deadline:
                    raise dns.exception.Timeout()
                (length,) = struct.unpack("!H", _recv_exact(sock, 2))
                r = dns.message.from_wire(_recv_exact(sock, length), keyring=q.keyring, request_mac=q.mac, xfr=True,
                                          tsig_ctx=tsig_ctx, multi=True)
                tsig_ctx = r.tsig_ctx
                if r.rcode() != dns.rcode.NOERROR:
                    raise dns.xfr.TransferError(r.rcode())
                if first and (not r.answer or r.answer[0].rdtype != dns.rdatatype.SOA):
                    raise dns.exception.FormError("the zone transfer does not start with the SOA")
                first = False
                for rrset in r.answer:
                    rdtype = dns.rdatatype.to_text(rrset.rdtype)
                    if rrset.rdtype == dns.rdatatype.SOA and rrset.name == self.origin:
                        soas += 1
                        if soas == 1:
                            soa_rd = next(iter(rrset))
                        else:
                            break
                    name = rrset.name
                    rel = "@" if name == self.origin else name.relativize(self.origin).to_text().lower()
                    ttl, vals = values.setdefault((rel, rdtype), (int(rrset.ttl), set()))
                    vals.update(_canonical(rd) for rd in rrset)
        if soa_rd is None:
            raise DnsServerError(f"{self.org}: the zone transfer of {self.zone} has no SOA")
        rrsets = {k: Rrset(k[0], k[1], ttl, tuple(sorted(v))) for k, (ttl, v) in values.items()}
        return ZoneSnapshot(self.zone, int(soa_rd.serial), soa_rd, rrsets)

    # -- updates ---------------------------------------------------------------------------
    def new_update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(self.origin, keyring=self._key.dns_key())

    def send_update(self, upd: dns.update.UpdateMessage, what: str,
                    landed: Callable[[], bool] | None = None) -> tuple[int, str | None]:
        """Send one UPDATE; return (rcode, note). Raise on auth/transport errors.

        On no answer: poll ``landed()`` by query for ``verify_grace`` seconds and either
        return (NOERROR, note) when the change is there, or raise saying what is known.
        """
        try:
            r = self._exchange(upd, what)
        except _NoAnswer:
            return self._after_timeout(what, landed)
        rc = r.rcode()
        if rc == dns.rcode.REFUSED:
            raise DnsAuthError(
                f"{self.org}: {self.where} REFUSED the update of zone {self.zone} signed with key {self._key.name!r} "
                f"({what}): the server's "
                "update policy does not allow it (this key may not change this zone, or not this name or record "
                "type). Nothing changed"
            )
        if rc == dns.rcode.NOTAUTH:
            raise DnsServerError(f"{self.org}: {self.where} is not authoritative for zone {self.zone} (NOTAUTH); nothing changed")
        if rc in (dns.rcode.SERVFAIL, dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.NOTZONE):
            raise DnsServerError(f"{self.org}: {self.where} answered {dns.rcode.to_text(rc)} to {what}; nothing changed")
        return rc, None

    def _after_timeout(self, what: str, landed: Callable[[], bool] | None) -> tuple[int, str | None]:
        msg = (f"{self.org}: DNS server {self.where} did not answer {what} within {self.timeout:g}s")
        if self.progress:
            self.progress(msg + "; checking by query whether the change landed")
        if landed is None:
            raise DnsTimeoutUnverified(msg + "; the change may or may not have been applied")
        answered = False

        def look() -> bool | None:
            nonlocal answered
            try:
                if landed():
                    return True
                answered = True
            except (DnsServerError, _NoAnswer):
                pass
            return None

        try:
            Poller(self.verify_grace, 0.2).run(look, lambda _w: _NoAnswer())
            return dns.rcode.NOERROR, (f"the server did not answer the update within {self.timeout:g}s, "
                                       "but the change is on the server (checked by query)")
        except _NoAnswer:
            pass
        if answered:
            raise DnsServerError(
                msg + f"; a query afterwards shows the change is NOT on the server (checked for {self.verify_grace:g}s). "
                "It may still be applied if the server is only slow: check with dns.show before retrying"
            )
        raise DnsTimeoutUnverified(
            msg + f" and did not answer queries for {self.verify_grace:g}s either: opskit cannot tell whether "
            "the change was applied. Check with dns.show once the server answers"
        )

    def _landed(self, rel: str, expect: dict[str, tuple[str, ...]]) -> Callable[[], bool]:
        """A check: do the address RRsets at ``rel`` now equal ``expect`` (type -> values)?"""
        def check() -> bool:
            got = self.lookup(rel, timeout=min(self.timeout, 1.0))
            return {t: r.values for t, r in got.items()} == expect
        return check

    def _verify(self, rel: str, expect: dict[str, tuple[str, ...]]) -> int:
        got = self.lookup(rel)
        have = {t: r.values for t, r in got.items()}
        if have != expect:
            raise DnsVerifyError(
                f"{self.org}: the server accepted the change, but a query of {nm.fqdn(rel, self.zone)} shows "
                f"{_fmt(have)} instead of {_fmt(expect)}"
            )
        serial, _ = self.soa()
        return serial

    def _parse(self, name: str, value: str | None = None, rdtype: str | None = None) -> tuple[str, nm.Value | None]:
        rel = nm.record_name(name, self.zone)
        val = nm.parse_value(value, self.zone, rdtype) if value is not None else None
        return rel, val

    # -- record changes: planned (real reads, no change), then sent as one guarded UPDATE ------------------------
    # add/update/delete below are plan + send; opskit.dns.record wraps the same two halves as a change operation
    # (opskit.change), so --check and a real run go through the same planning code.

    def plan_add(self, name: str, value: str, ttl: int | str | None = None,
                 rdtype: str | None = None) -> RecordPlan:
        """Read NAME and decide: add, nothing to do, or refuse (NAME has another address: no race, no overwrite)."""
        rel, val = self._parse(name, value, rdtype)
        assert val is not None
        t = nm.check_ttl(ttl)
        full = nm.fqdn(rel, self.zone)
        current = self.lookup(rel)
        self._refuse_name_servers(rel, full, "add records to")
        res = ChangeResult("added", self.org, self.zone, full, val.rdtype, new=(val.text,), ttl=t)
        have = {k: v.values for k, v in current.items()}
        if val.rdtype in current and current[val.rdtype].values == (val.text,):
            res.action, res.ttl = "unchanged", current[val.rdtype].ttl
            return RecordPlan(rel, res, have, have)
        self._refuse_existing(full, val, current)
        upd = self.new_update()
        if val.rdtype == "CNAME":
            upd.absent(rel)
        else:
            upd.absent(rel, val.rdtype)
            upd.absent(rel, "CNAME")
        upd.add(rel, t, val.rdtype, val.text)
        expect = dict(have)
        expect[val.rdtype] = (val.text,)
        return RecordPlan(rel, res, have, expect, upd, f"the update adding {full}")

    def plan_update(self, name: str, value: str, ttl: int | str | None = None, expect_old: str | None = None,
                    rdtype: str | None = None) -> RecordPlan:
        """Read NAME and decide the compare-and-set on its old value (read now, or ``expect_old``).

        A name that already holds ``value`` (same TTL) is "unchanged" whatever ``expect_old`` says: a second run
        of the same update is a no-op, not a conflict.
        """
        rel, val = self._parse(name, value, rdtype)
        assert val is not None
        t = nm.check_ttl(ttl) if ttl is not None else None
        full = nm.fqdn(rel, self.zone)
        current = self.lookup(rel)
        self._refuse_name_servers(rel, full, "update")
        have = {k: v.values for k, v in current.items()}
        if val.rdtype == "CNAME" or "CNAME" in current:
            old_types = list(current)
        else:
            old_types = [val.rdtype] if val.rdtype in current else []
        if not old_types:
            raise DnsConflict(f"{self.org}: {full} has no {val.rdtype} record to update (use dns.add); nothing changed")
        old_vals = tuple(v for ty in old_types for v in current[ty].values)
        new_ttl = t if t is not None else current[old_types[0]].ttl
        res = ChangeResult("updated", self.org, self.zone, full, val.rdtype, old=old_vals, new=(val.text,), ttl=new_ttl)
        if old_types == [val.rdtype] and current[val.rdtype].values == (val.text,) and current[val.rdtype].ttl == new_ttl:
            res.action = "unchanged"
            return RecordPlan(rel, res, have, have)
        if expect_old is not None:
            want = nm.parse_value(expect_old, self.zone)
            got = current.get(want.rdtype)
            if got is None or got.values != (want.text,):
                raise DnsConflict(f"{self.org}: {full} is {_fmt(have)}, not {want.rdtype} {want.text} as expected; "
                                  "nothing changed")
        upd = self.new_update()
        for ty in old_types:
            rds = [dns.rdata.from_text(dns.rdataclass.IN, ty, v, self.origin) for v in current[ty].values]
            upd.present(rel, *rds)
        for ty in old_types:
            upd.delete(rel, ty)
        upd.add(rel, new_ttl, val.rdtype, val.text)
        expect = {k: v for k, v in have.items() if k not in old_types}
        expect[val.rdtype] = (val.text,)
        return RecordPlan(rel, res, have, expect, upd, f"the update of {full}")

    def plan_delete(self, name: str, value: str | None = None) -> RecordPlan:
        """Read NAME and decide the guarded delete of its A/AAAA/CNAME records (or only ``value``).

        A value NAME does not hold is "absent" (nothing to delete), so a second run of a delete is a no-op.
        """
        rel, val = self._parse(name, value)
        full = nm.fqdn(rel, self.zone)
        current = self.lookup(rel)
        self._refuse_name_servers(rel, full, "delete")
        have = {k: v.values for k, v in current.items()}
        if val is not None:
            got = current.get(val.rdtype)
            if got is None or val.text not in got.values:
                res = ChangeResult("absent", self.org, self.zone, full, val.rdtype, old=(val.text,))
                if current:
                    res.note = f"{full} has {_fmt(have)}"
                return RecordPlan(rel, res, have, have)
            types = [val.rdtype]
            removed: tuple[str, ...] = (val.text,)
        else:
            if not current:
                return RecordPlan(rel, ChangeResult("absent", self.org, self.zone, full, "A"), have, have)
            types = list(current)
            removed = tuple(v for ty in types for v in current[ty].values)
        res = ChangeResult("deleted", self.org, self.zone, full, "/".join(types), old=removed)
        upd = self.new_update()
        for ty in types:
            rds = [dns.rdata.from_text(dns.rdataclass.IN, ty, v, self.origin) for v in current[ty].values]
            upd.present(rel, *rds)
        expect = dict(have)
        if val is not None:
            upd.delete(rel, dns.rdata.from_text(dns.rdataclass.IN, val.rdtype, val.text, self.origin))
            left = tuple(v for v in current[val.rdtype].values if v != val.text)
            if left:
                expect[val.rdtype] = left
            else:
                expect.pop(val.rdtype)
        else:
            for ty in types:
                upd.delete(rel, ty)
                expect.pop(ty)
        return RecordPlan(rel, res, have, expect, upd, f"the delete of {full}")

    def apply_record(self, plan: RecordPlan) -> ChangeResult:
        """Send ``plan``'s UPDATE (its prerequisites are what the plan read) and verify it by query.

        A plan with nothing to send only reads the SOA serial. Someone else's change between plan and send fails
        the prerequisites: reported as a conflict naming what the name holds now, never overwritten.
        """
        res = plan.result
        if plan.update is None:
            res.serial, _ = self.soa()
            return res
        rc, note = self.send_update(plan.update, plan.what, self._landed(plan.rel, plan.expect))
        if rc in (dns.rcode.YXRRSET, dns.rcode.YXDOMAIN, dns.rcode.NXRRSET, dns.rcode.NXDOMAIN):
            now = {k: v.values for k, v in self.lookup(plan.rel).items()}
            if now == plan.expect:
                res.action = "unchanged"
                res.note = "another change made the same change at the same time"
                res.serial, _ = self.soa()
                return res
            if res.action == "added":
                raise DnsConflict(f"{self.org}: {res.name} was created by another change at the same moment and now "
                                  f"has {_fmt(now)}: this add did not change anything")
            raise DnsConflict(
                f"{self.org}: {res.name} was changed by someone else since opskit read it (it was "
                f"{_fmt(plan.before)}, now {_fmt(now)}): {plan.what} did not change anything"
            )
        if rc != dns.rcode.NOERROR:
            raise DnsServerError(f"{self.org}: {self.where} answered {dns.rcode.to_text(rc)} to {plan.what}; "
                                 "nothing changed")
        res.note = note
        res.serial = self._verify(plan.rel, plan.expect)
        res.verified = True
        return res

    def add(self, name: str, value: str, ttl: int | str | None = None, rdtype: str | None = None) -> ChangeResult:
        """Create NAME -> value; refuse if NAME already has a different address (race-safe prerequisite)."""
        return self.apply_record(self.plan_add(name, value, ttl, rdtype))

    def update(self, name: str, value: str, ttl: int | str | None = None, expect_old: str | None = None,
               rdtype: str | None = None) -> ChangeResult:
        """Change NAME to ``value``: compare-and-set on the old value (read now, or ``expect_old``)."""
        return self.apply_record(self.plan_update(name, value, ttl, expect_old, rdtype))

    def delete(self, name: str, value: str | None = None) -> ChangeResult:
        """Delete NAME's A/AAAA/CNAME records (or only ``value``), guarded by what was read."""
        return self.apply_record(self.plan_delete(name, value))

    def _refuse_existing(self, full: str, val: nm.Value, current: dict[str, Rrset]) -> None:
        if val.rdtype in current:
            raise DnsConflict(
                f"{self.org}: {full} already has {val.rdtype} {', '.join(current[val.rdtype].values)}: "
                f"refusing to add {val.text} (use dns.update to change it); nothing changed"
            )
        if "CNAME" in current:
            raise DnsConflict(f"{self.org}: {full} is a CNAME to {current['CNAME'].values[0]}: refusing to add "
                              f"{val.rdtype} {val.text}; nothing changed")
        if val.rdtype == "CNAME" and current:
            raise DnsConflict(f"{self.org}: {full} already has {_fmt({k: v.values for k, v in current.items()})}: "
                              "a CNAME cannot sit beside other records; nothing changed")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def _fmt(rrs: dict[str, tuple[str, ...]]) -> str:
    if not rrs:
        return "no record"
    return "; ".join(f"{t} {', '.join(v)}" for t, v in sorted(rrs.items()))


def org_dns(inventory: Any, org: str) -> Any:
    """The ``dns`` settings of ``org``, or a clear error."""
    orgs = getattr(inventory, "orgs", {})
    with_dns = sorted(n for n, o in orgs.items() if o.dns is not None)
    if org not in orgs:
        raise DnsInputError(f"unknown org {org!r} (orgs with DNS settings: {', '.join(with_dns) or 'none'})")
    settings = orgs[org].dns
    if settings is None:
        raise DnsInputError(f"org {org!r} has no dns: settings in the inventory "
                            f"(orgs with DNS settings: {', '.join(with_dns) or 'none'})")
    return settings


def dns_orgs(inventory: Any, only: str | None = None) -> list[str]:
    """Names of the orgs that have DNS settings (or just ``only``, validated)."""
    if only:
        org_dns(inventory, only)
        return [only]
    return [n for n, o in inventory.orgs.items() if o.dns is not None]

