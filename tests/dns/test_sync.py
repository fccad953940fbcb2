"""dns.sync: inventory -> zones, one guarded UPDATE per zone, idempotent, safety thresholds."""

from __future__ import annotations

import pytest

from opskit.dns.errors import DnsConflict, SyncRefused
from opskit.dns.plan import apply_plan, compute_plan, desired_from_inventory
from opskit.inventory import load_text

from .conftest import client, inv_cmd, inventory_yaml, json_out

EXPECTED = {
    "org1": {("peer0", "A"): ("10.0.0.21",), ("peer1", "A"): ("10.0.0.22",), ("couchdb0", "A"): ("10.0.0.21",),
             ("peer-vm1.hosts", "A"): ("10.0.0.21",), ("peer-vm2.hosts", "A"): ("10.0.0.22",)},
    "org2": {("peer0", "A"): ("10.0.0.23",), ("peer1", "AAAA"): ("2001:db8::26",),
             ("peer-vm3.hosts", "A"): ("10.0.0.23",), ("peer-vm6.hosts", "AAAA"): ("2001:db8::26",)},
    "org3": {},
}


def _zone(inventory, org):
    return {k: v.values for k, v in client(inventory, org).axfr().managed().items()}


def test_sync_creates_every_record_then_plans_nothing(clean_zones, inventory, inventory_file) -> None:
    serials = {o: client(inventory, o).soa()[0] for o in EXPECTED}
    plan = inv_cmd("dns.sync", "--plan", "--json", inventory=inventory_file)
    assert plan.returncode == 0, plan.stderr
    zones = json_out(plan)["meta"]["zones"]
    assert {(a["name"], a["type"]) for a in zones["org1"]["adds"]} == \
        {(f"{n}.org1.example.com", t) for n, t in EXPECTED["org1"]}
    assert [d["name"] for d in zones["org1"]["deletes"]] == ["seed.org1.example.com"]
    assert {o: client(inventory, o).soa()[0] for o in EXPECTED} == serials  # --plan changed nothing
    assert json_out(plan)["summary"]["changed"] is False
    detailed = inv_cmd("dns.sync", "--check", "--diff", "--detailed-exitcode", inventory=inventory_file)
    assert detailed.returncode == 1 and "would create peer1.org1.example.com A" in detailed.stdout
    assert "+A 10.0.0.22 (ttl" in detailed.stdout and "changes would be made" in detailed.stdout

    done = inv_cmd("dns.sync", "--json", inventory=inventory_file)
    assert done.returncode == 0, done.stdout + done.stderr
    for org, want in EXPECTED.items():
        assert _zone(inventory, org) == want
        assert client(inventory, org).soa()[0] == serials[org] + 1  # exactly one UPDATE per zone
    assert "in one UPDATE" in done.stdout and "verified by AXFR" in done.stdout
    doc = json_out(done)
    assert doc["summary"]["changed"] is True
    assert {r["host"] for r in doc["results"] if r["changed"]} == {"org1", "org2", "org3"}  # org3: the seed deleted
    # names resolve through ordinary queries too
    assert client(inventory, "org1").lookup("peer1")["A"].values == ("10.0.0.22",)

    again = inv_cmd("dns.sync", "--json", inventory=inventory_file)
    doc = json_out(again)
    assert again.returncode == 0
    assert all(not (z["adds"] or z["changes"] or z["deletes"]) for z in doc["meta"]["zones"].values())
    assert doc["summary"]["changed"] is False and not any(r["changed"] for r in doc["results"])
    assert inv_cmd("dns.sync", "--check", "--detailed-exitcode", inventory=inventory_file).returncode == 0
    assert {o: client(inventory, o).soa()[0] for o in EXPECTED} == {o: s + 1 for o, s in serials.items()}


def test_sync_changes_a_moved_host(clean_zones, bind, inventory, tmp_path) -> None:
    inv_cmd("dns.sync", "--org", "org1", inventory=_write(tmp_path, inventory_yaml(bind)))
    moved = inventory_yaml(bind).replace("address: 10.0.0.22", "address: 10.0.0.99")
    proc = inv_cmd("dns.sync", "--org", "org1", "--json", inventory=_write(tmp_path, moved, "moved.yaml"))
    assert proc.returncode == 0
    z = json_out(proc)["meta"]["zones"]["org1"]
    assert {c["new"]["name"] for c in z["changes"]} == {"peer1.org1.example.com", "peer-vm2.hosts.org1.example.com"}
    assert _zone(inventory, "org1")[("peer1", "A")] == ("10.0.0.99",)


def _write(tmp_path, text, name="inv.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sync_does_not_overwrite_a_zone_edited_since_the_read(clean_zones, inventory) -> None:
    c = client(inventory, "org1")
    plan = compute_plan(c.axfr(), desired_from_inventory(inventory, "org1"))
    assert not plan.empty
    c.add("someone-else", "10.0.1.1")  # another operator edits the zone after our read
    serial = c.soa()[0]
    with pytest.raises(DnsConflict, match=r"changed by someone else since it was read \(serial \d+, now \d+\)"):
        apply_plan(c, plan)
    assert c.soa()[0] == serial
    assert set(_zone(inventory, "org1")) == {("seed", "A"), ("someone-else", "A")}


def test_sync_refuses_mass_delete_without_force(clean_zones, bind, inventory, tmp_path) -> None:
    c = client(inventory, "org3")
    upd = c.new_update()
    for i in range(12):
        upd.add(f"legacy{i}", 300, "A", f"10.0.3.{i + 1}")
    c._exchange(upd, "test fill")
    serial = c.soa()[0]
    proc = inv_cmd("dns.sync", "--org", "org3", inventory=_write(tmp_path, inventory_yaml(bind)))
    assert proc.returncode == 2 and "refusing without --force" in proc.stdout
    assert c.soa()[0] == serial and len(_zone(inventory, "org3")) == 13
    with pytest.raises(SyncRefused, match="delete 13 of 13"):
        compute_plan(c.axfr(), desired_from_inventory(inventory, "org3")).check_safety()
    forced = inv_cmd("dns.sync", "--org", "org3", "--force", inventory=_write(tmp_path, inventory_yaml(bind)))
    assert forced.returncode == 0, forced.stdout
    assert _zone(inventory, "org3") == {} and c.soa()[0] == serial + 1


def test_desired_from_a_large_inventory(bind) -> None:
    nodes = "".join(f"""  peer{i}.org1:
    kind: peer
    host: h{i}
    org: org1
""" for i in range(300))
    hosts = "".join(f"  h{i}:\n    address: 10.1.{i // 250}.{i % 250 + 1}\n" for i in range(300))
    inv = load_text(inventory_yaml(bind, nodes=nodes, hosts=hosts), "big.yaml")
    want = desired_from_inventory(inv, "org1")
    assert len(want.records) == 600 and not want.warnings
    assert want.records[("peer7", "A")].values == ("10.1.0.8",)


def test_org_address_points_the_names_of_its_nodes_elsewhere(bind) -> None:
    from opskit.errors import OpskitError

    text = inventory_yaml(bind).replace("    msp_id: Org1MSP\n", "    msp_id: Org1MSP\n    address: lb.example.net\n")
    inv = load_text(text, "proxied.yaml")
    assert inv.orgs["org1"].address == "lb.example.net" and inv.orgs["org2"].address is None
    want = desired_from_inventory(inv, "org1")
    assert {k: v.values for k, v in want.records.items()} == {
        ("peer0", "CNAME"): ("lb.example.net.",), ("peer1", "CNAME"): ("lb.example.net.",),
        ("couchdb0", "CNAME"): ("lb.example.net.",),
        ("peer-vm1.hosts", "A"): ("10.0.0.21",), ("peer-vm2.hosts", "A"): ("10.0.0.22",)}
    assert want.sources[("peer0", "CNAME")] == "node peer0.org1 (org address)"
    assert {k: v.values for k, v in desired_from_inventory(inv, "org2").records.items()} == EXPECTED["org2"]
    v6 = load_text(text.replace("address: lb.example.net", "address: 2001:db8::443"), "v6.yaml")
    assert desired_from_inventory(v6, "org1").records[("peer1", "AAAA")].values == ("2001:db8::443",)
    with pytest.raises(OpskitError, match=r"bad\.yaml:\d+: orgs\.org1\.address: .*neither a valid IP address nor"):
        load_text(text.replace("address: lb.example.net", "address: 'lb;reboot'"), "bad.yaml")
