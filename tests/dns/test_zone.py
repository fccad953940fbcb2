"""add/update/delete/show/list against the real BIND, races, and org isolation."""

from __future__ import annotations

import itertools
import threading

import pytest

from opskit.dns.errors import DnsAuthError, DnsConflict
from opskit.dns.zone import ZoneClient

from .conftest import client, inv_cmd, json_out

_seq = itertools.count()


def unique(prefix: str = "n") -> str:
    return f"{prefix}{next(_seq)}-{threading.get_ident() % 10000}"


def test_card_command_as_written(bind, inventory, inventory_file) -> None:
    """`inv dns.add org1 peer3 10.0.0.5` (only a record in the lab's zone; nothing talks to 10.0.0.5)."""
    c = client(inventory, "org1")
    before, _ = c.soa()
    c.delete("peer3")  # the card's name may be left from a previous run of this session
    proc = inv_cmd("dns.add", "org1", "peer3", "10.0.0.5", inventory=inventory_file)
    assert proc.returncode == 0, proc.stderr
    assert "verified by query" in proc.stdout and "SOA serial" in proc.stdout
    assert "changed 1 of 1 host" in " ".join(proc.stdout.split())  # the table's summary says the zone changed
    assert c.lookup("peer3")["A"].values == ("10.0.0.5",)
    serial, _ = c.soa()
    assert serial > before and f"SOA serial {serial}" in " ".join(proc.stdout.split())
    # again: idempotent, nothing changes
    again = inv_cmd("dns.add", "org1", "peer3", "10.0.0.5", "--json", inventory=inventory_file)
    assert again.returncode == 0 and json_out(again)["results"][0]["data"]["action"] == "unchanged"
    assert json_out(again)["results"][0]["changed"] is False and json_out(again)["summary"]["changed"] is False
    assert c.soa()[0] == serial
    # a different address is refused, zone unchanged
    other = inv_cmd("dns.add", "org1", "peer3", "10.0.0.6", inventory=inventory_file)
    assert other.returncode == 2 and "already has A 10.0.0.5" in other.stderr
    assert c.lookup("peer3")["A"].values == ("10.0.0.5",) and c.soa()[0] == serial


def test_update_is_compare_and_set(inventory, inventory_file) -> None:
    c = client(inventory, "org1")
    name = unique("u")
    c.add(name, "10.1.0.1", ttl=120)
    res = c.update(name, "10.1.0.2")
    assert res.action == "updated" and res.old == ("10.1.0.1",) and res.ttl == 120 and res.verified
    assert c.lookup(name)["A"].values == ("10.1.0.2",)
    # --old that no longer matches: refused, unchanged
    proc = inv_cmd("dns.update", "org1", name, "10.1.0.3", "--old", "10.1.0.1", inventory=inventory_file)
    assert proc.returncode == 2 and "not A 10.1.0.1 as expected" in proc.stderr
    assert c.lookup(name)["A"].values == ("10.1.0.2",)
    # updating a name that does not exist
    with pytest.raises(DnsConflict, match="use dns.add"):
        c.update(unique("none"), "10.1.0.9")
    # A -> CNAME and back to AAAA
    assert c.update(name, "seed").new == ("seed.org1.example.com.",)
    assert set(c.lookup(name)) == {"CNAME"}
    assert c.update(name, "2001:db8::5").action == "updated"
    assert {t: r.values for t, r in c.lookup(name).items()} == {"AAAA": ("2001:db8::5",)}


def test_update_loses_when_value_changed_after_read(inventory) -> None:
    """The prerequisite, not the pre-read, stops a stale update: another writer slips in between."""
    name = unique("cas")
    plain = client(inventory, "org1")
    plain.add(name, "10.2.0.1")

    class SlowReader(ZoneClient):
        def lookup(self, rel, timeout=None):
            got = super().lookup(rel, timeout)
            if not getattr(self, "_interfered", False):
                self._interfered = True
                plain.update(name, "10.2.0.7")  # someone else changes it right after our read
            return got

    slow = SlowReader.for_org(inventory, "org1")
    with pytest.raises(DnsConflict, match="changed by someone else") as exc:
        slow.update(name, "10.2.0.2")
    assert "10.2.0.7" in str(exc.value)
    assert plain.lookup(name)["A"].values == ("10.2.0.7",)


def test_concurrent_adds_one_winner(inventory) -> None:
    """Eight operators add the same name with different addresses at once: one wins, seven get a clear error."""
    name = unique("race")
    n = 8
    barrier = threading.Barrier(n)

    class Racer(ZoneClient):
        def lookup(self, rel, timeout=None):
            got = super().lookup(rel, timeout)
            if not getattr(self, "_raced", False):
                self._raced = True
                barrier.wait(timeout=10)  # everyone has read "absent" before anyone sends
            return got

    results: dict[int, object] = {}

    def run(i: int) -> None:
        try:
            results[i] = Racer.for_org(inventory, "org1").add(name, f"10.3.0.{i + 1}")
        except Exception as exc:  # collected and asserted below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [i for i, r in results.items() if not isinstance(r, Exception)]
    losers = [r for r in results.values() if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == n - 1
    assert all(isinstance(e, DnsConflict) and "at the same moment" in str(e) for e in losers)
    final = client(inventory, "org1").lookup(name)["A"].values
    assert final == (f"10.3.0.{winners[0] + 1}",)


def test_delete_and_show(inventory, inventory_file) -> None:
    c = client(inventory, "org1")
    name = unique("d")
    c.add(name, "10.4.0.1")
    c.add(name, "2001:db8::4")
    shown = inv_cmd("dns.show", "org1", name, "--json", inventory=inventory_file)
    assert shown.returncode == 0
    types = {r["data"]["type"]: r["data"]["values"] for r in json_out(shown)["results"]}
    assert types == {"A": ["10.4.0.1"], "AAAA": ["2001:db8::4"]}
    res = inv_cmd("dns.delete", "org1", name, "2001:db8::4", inventory=inventory_file)
    assert res.returncode == 0, res.stderr
    assert set(c.lookup(name)) == {"A"}
    res = inv_cmd("dns.delete", "org1", name, "--json", inventory=inventory_file)
    assert res.returncode == 0 and c.lookup(name) == {}
    assert json_out(res)["summary"]["changed"] is True and json_out(res)["results"][0]["changed"] is True
    missing = inv_cmd("dns.show", "org1", name, inventory=inventory_file)
    assert missing.returncode == 1 and "has no A, AAAA or CNAME" in missing.stdout


def test_list_json_has_records_and_serial(inventory, inventory_file) -> None:
    c = client(inventory, "org2")
    name = unique("l")
    c.add(name, "10.5.0.1")
    proc = inv_cmd("dns.list", "org2", "--json", inventory=inventory_file)
    assert proc.returncode == 0
    doc = json_out(proc)
    assert doc["meta"]["serial"] == c.soa()[0]
    assert {"name": f"{name}.org2.example.com", "type": "A", "ttl": 300, "value": "10.5.0.1"} in \
        [r["data"] for r in doc["results"]]


def test_org1_key_cannot_touch_org2_zone(bind, inventory) -> None:
    from opskit.dns.keys import load_key

    org2 = client(inventory, "org2")
    before = org2.axfr()
    intruder = ZoneClient("org1", "org2.example.com", bind.address, bind.port,
                          load_key(bind.key_file("org1-key"), "org1-key"))
    with pytest.raises(DnsAuthError, match="REFUSED the update of zone org2.example.com .*'org1-key'"):
        intruder.add("intruder", "10.6.0.1")
    with pytest.raises(DnsAuthError, match="REFUSED the zone transfer"):
        intruder.axfr()
    upd = intruder.new_update()  # a blind delete of the whole zone content, too
    for name, rdtype in before.managed():
        upd.delete(name, rdtype)
    with pytest.raises(DnsAuthError):
        intruder.send_update(upd, "a blind delete")
    after = org2.axfr()
    assert after.serial == before.serial and after.rrsets == before.rrsets
