"""import-extra-hosts and check read real compose files on a `connection: local` host."""

from __future__ import annotations

import json

from .conftest import client, inv_cmd, inventory_yaml, json_out

COMPOSE_PEER = """\
version: "2.4"
services:
  peer0.org1.example.com:
    image: hyperledger/fabric-peer:2.5
    extra_hosts:
      - "orderer1.org3.example.com:10.0.0.31"
      - "peer0.org2.example.com=10.0.0.23"
      - "couchdb9.org1.example.com:10.0.0.29"
      - "v6.org1.example.com:[2001:db8::9]"
      - "gateway:host-gateway"
      - "registry.example.net:192.0.2.10"
  cli:
    image: hyperledger/fabric-tools:2.5
    extra_hosts:
      peer0.org1.example.com: 10.0.0.21
      orderer1.org3.example.com: 10.0.0.31
"""
COMPOSE_ORDERER = """\
services:
  orderer1.org3.example.com:
    image: hyperledger/fabric-orderer:2.5
    extra_hosts:
      - "peer1.org1.example.com:10.0.0.77"
"""


def _fleet(bind, tmp_path):
    (tmp_path / "peer.yaml").write_text(COMPOSE_PEER)
    (tmp_path / "orderer.yaml").write_text(COMPOSE_ORDERER)
    nodes = f"""  peer0.org1:
    kind: peer
    host: localhost
    org: org1
    container: peer0.org1.example.com
    compose_file: {tmp_path / 'peer.yaml'}
  peer1.org1:
    kind: peer
    host: peer-vm2
    org: org1
    container: peer1.org1.example.com
  orderer1.org3:
    kind: orderer
    host: localhost
    org: org3
    container: orderer1.org3.example.com
    compose_file: {tmp_path / 'orderer.yaml'}
"""
    p = tmp_path / "inv.yaml"
    p.write_text(inventory_yaml(bind, nodes=nodes))
    return p


def _zone(inventory, org):
    return {k: v.values for k, v in client(inventory, org).axfr().managed().items()}


def test_import_plans_then_applies_compose_extra_hosts(clean_zones, bind, inventory, tmp_path) -> None:
    inv = _fleet(bind, tmp_path)
    before = {o: client(inventory, o).soa()[0] for o in ("org1", "org2", "org3")}
    plan = inv_cmd("dns.import-extra-hosts", "--plan", "--json", inventory=inv)
    assert plan.returncode == 1, plan.stdout + plan.stderr  # warnings: host-gateway skipped
    doc = json_out(plan)
    zones = doc["meta"]["zones"]
    assert {a["name"] for a in zones["org1"]["adds"]} == {
        "couchdb9.org1.example.com", "v6.org1.example.com", "peer0.org1.example.com", "peer1.org1.example.com"}
    assert [a["values"] for a in zones["org3"]["adds"]] == [["10.0.0.31"]]
    messages = " ".join(r["message"] for r in doc["results"])
    assert "host-gateway" in messages and "registry.example.net" in messages
    assert {o: client(inventory, o).soa()[0] for o in before} == before  # --plan changed nothing

    done = inv_cmd("dns.import-extra-hosts", "localhost", "--json", inventory=inv)
    assert done.returncode == 1 and "in one UPDATE" in done.stdout
    assert _zone(inventory, "org1") == {("seed", "A"): ("10.9.1.1",), ("couchdb9", "A"): ("10.0.0.29",),
                                         ("v6", "AAAA"): ("2001:db8::9",), ("peer0", "A"): ("10.0.0.21",),
                                         ("peer1", "A"): ("10.0.0.77",)}
    assert _zone(inventory, "org2")[("peer0", "A")] == ("10.0.0.23",)
    assert _zone(inventory, "org3") == {("seed", "A"): ("10.9.3.1",), ("orderer1", "A"): ("10.0.0.31",)}
    again = json_out(inv_cmd("dns.import-extra-hosts", "--json", inventory=inv))
    assert all(not z["adds"] and not z["changes"] for z in again["meta"]["zones"].values())


def test_check_reports_drift_between_extra_hosts_dns_and_inventory(clean_zones, bind, inventory, tmp_path) -> None:
    inv = _fleet(bind, tmp_path)
    inv_cmd("dns.sync", inventory=inv)
    proc = inv_cmd("dns.check", "--json", inventory=inv)
    assert proc.returncode == 1
    found = [r["message"] for r in json_out(proc)["results"] if r["severity"] == "warning"]
    # orderer.yaml says peer1 is 10.0.0.77; DNS (synced from the inventory) and the inventory say 10.0.0.22
    assert any("extra_hosts" in m and "peer1.org1.example.com A 10.0.0.77, DNS answers 10.0.0.22" in m for m in found)
    assert any("the inventory says 10.0.0.22" in m and "10.0.0.77" in m for m in found)
    # couchdb9 is only in extra_hosts: missing from DNS
    assert any("couchdb9.org1.example.com A 10.0.0.29, DNS has nothing" in m for m in found)
    # fix: DNS gets couchdb9, the inventory moves peer1 to 10.0.0.77 and is synced: those warnings go away
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(inv.read_text().replace("host: peer-vm2", "host: peer-vm9").replace(
        "  peer-vm6:", "  peer-vm9:\n    address: 10.0.0.77\n  peer-vm6:"))
    assert inv_cmd("dns.sync", "--org", "org1", inventory=fixed).returncode == 0
    client(inventory, "org1").add("couchdb9", "10.0.0.29")
    after = [r["message"] for r in json_out(inv_cmd("dns.check", "--json", inventory=fixed))["results"]
             if r["severity"] == "warning"]
    assert not any("peer1.org1" in m or "couchdb9" in m for m in after), after
    assert any("orderer1.org3.example.com" in m for m in after)  # the remaining, real drift is still reported


def test_unreadable_compose_file_is_reported(bind, tmp_path) -> None:
    inv = _fleet(bind, tmp_path)
    (tmp_path / "orderer.yaml").unlink()
    proc = inv_cmd("dns.import-extra-hosts", "orderer1.org3", "--plan", "--json", inventory=inv)
    # JSON: the table wraps a long message (the temporary path) at any character, wherever the test runs
    messages = " ".join(r["message"] for r in json.loads(proc.stdout)["results"] if r["severity"] == "critical")
    assert proc.returncode == 2 and "orderer.yaml" in messages and "No such file" in messages, proc.stdout
