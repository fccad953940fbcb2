"""DNS against the lab: extra_hosts read from containers on the lab's engines over SSH, and per-org address
overrides synced into the lab's BIND. Every zone touched is put back as it was (the lab's hosts resolve with it)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from collections.abc import Iterator

from opskit.dns.plan import Desired, apply_plan, compute_plan
from opskit.dns.zone import ZoneClient

from .conftest import inv_cmd, json_out

LAB_ZONES = ("org1", "org2", "org3", "ordererorg1")


def _addr(lab, offset: int) -> str:
    """An unused address of the lab's own subnet (only ever a DNS value: nothing connects to it)."""
    return str(ipaddress.ip_network(lab.network).network_address + offset)


def _zone(inv, org: str) -> dict:
    return {k: v.values for k, v in ZoneClient.for_org(inv, org).axfr().managed().items()}


@contextlib.contextmanager
def zones_restored(inv, orgs=LAB_ZONES) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Put the lab's zones back to what they hold now (one guarded UPDATE each), whatever the test did."""
    before = {o: ZoneClient.for_org(inv, o).axfr() for o in orgs}
    try:
        yield
    finally:
        for org, snap in before.items():
            c = ZoneClient.for_org(inv, org)
            plan = compute_plan(c.axfr(), Desired(org, snap.zone, records=dict(snap.managed())))
            if not plan.empty:
                apply_plan(c, plan)
            assert _zone(inv, org) == {k: v.values for k, v in snap.managed().items()}


def _write_inventory(lab, tmp_path, doc: dict) -> str:
    p = tmp_path / "lab-inventory.yaml"
    p.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    return str(p)


@contextlib.contextmanager
def throwaway_container(lab, host: str, name: str, add_hosts: list[str]) -> Iterator[None]:
    """A running container on a lab host's engine with ``--add-host`` entries (a fleet container's extra_hosts)."""
    from opskit_lab.standin.launch import StandinSpec, run_argv

    spec = StandinSpec(name=name, kind="cli", container=name)
    argv = run_argv(spec)
    at = argv.index(spec.image)
    for entry in add_hosts:
        argv[at:at] = ["--add-host", entry]
        at += 2
    docker = lab.host(host).docker
    subprocess.run([*docker, *argv], check=True, capture_output=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run([*docker, "rm", "-f", name], capture_output=True, timeout=60)


def test_import_extra_hosts_from_the_lab_containers_and_check_drift(lab, tmp_path):
    inv = lab.inventory()
    vm1, vm5 = lab.hosts["vm1"].address, lab.hosts[lab.node("peer0.org1").host].address
    assert lab.node("orderer1").host == "vm1"
    peer5, stale, outside = _addr(lab, 105), _addr(lab, 107), _addr(lab, 106)
    doc = lab.inventory_document()
    doc["nodes"]["xh-a"] = {"kind": "other", "host": "vm1", "container": "xh-a"}
    doc["nodes"]["xh-b"] = {"kind": "other", "host": "vm2", "container": "xh-b"}
    path = _write_inventory(lab, tmp_path, doc)
    with zones_restored(inv), \
            throwaway_container(lab, "vm1", "xh-a", [f"peer0.org1.example.com:{vm5}",
                                                     f"peer5.org3.example.com:{peer5}",
                                                     f"registry.example.net:{outside}"]), \
            throwaway_container(lab, "vm2", "xh-b", [f"orderer1.ordererorg1.example.com:{stale}",
                                                     f"peer5.org3.example.com:{peer5}",
                                                     "v6.org2.example.com:2001:db8::5"]):
        assert _zone(inv, "org1")[("peer0", "A")] == (vm5,) and _zone(inv, "ordererorg1")[("orderer1", "A")] == (vm1,)
        serials = {o: ZoneClient.for_org(inv, o).soa()[0] for o in LAB_ZONES}

        # the plan, from the running containers on vm1 and vm2 (docker inspect over SSH)
        plan = inv_cmd("dns.import-extra-hosts", "xh-a,xh-b", "--source", "containers", "--plan", "--json",
                       inventory=path)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        d = json_out(plan)
        assert sorted((h["host"], h["status"]) for h in d["hosts"]) == [("vm1", "ok"), ("vm2", "ok")]
        assert d["meta"]["entries"] == 6
        zones = d["meta"]["zones"]
        assert [(a["name"], a["type"], a["values"]) for a in zones["org3"]["adds"]] == [
            ("peer5.org3.example.com", "A", [peer5])]
        assert [(a["name"], a["type"], a["values"]) for a in zones["org2"]["adds"]] == [
            ("v6.org2.example.com", "AAAA", ["2001:db8::5"])]
        assert [(c["old"]["values"], c["new"]["values"]) for c in zones["ordererorg1"]["changes"]] == [([vm1], [stale])]
        assert not zones["org1"]["adds"] and not zones["org1"]["changes"]  # peer0.org1: container and DNS agree
        assert any("registry.example.net" in r["message"] and "outside every org zone" in r["message"]
                   for r in d["results"])
        assert {o: ZoneClient.for_org(inv, o).soa()[0] for o in LAB_ZONES} == serials  # --plan changed nothing

        # drift: xh-b's extra_hosts disagree with DNS and with the inventory about orderer1
        check = inv_cmd("dns.check", "xh-a,xh-b", "--source", "containers", "--json", inventory=path)
        assert check.returncode == 1, check.stdout + check.stderr
        warn = [r["message"] for r in json_out(check)["results"] if r["severity"] == "warning"]
        assert any(f"extra_hosts (vm2: container xh-b) says orderer1.ordererorg1.example.com A {stale}, "
                   f"DNS answers {vm1}" in m for m in warn), warn
        assert any("orderer1.ordererorg1.example.com" in m and f"the inventory says {vm1}" in m for m in warn), warn
        assert any(f"peer5.org3.example.com A {peer5}, DNS has nothing" in m for m in warn), warn
        assert not any("peer0.org1.example.com" in m for m in warn), warn

        # apply what vm1's container says (org3 gets peer5 in one UPDATE); a second import has nothing to do
        done = inv_cmd("dns.import-extra-hosts", "xh-a", "--source", "containers", "--json", inventory=path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ZoneClient.for_org(inv, "org3").lookup("peer5")["A"].values == (peer5,)
        assert ZoneClient.for_org(inv, "org3").soa()[0] == serials["org3"] + 1
        assert ZoneClient.for_org(inv, "ordererorg1").soa()[0] == serials["ordererorg1"]
        again = json_out(inv_cmd("dns.import-extra-hosts", "xh-a", "--source", "containers", "--json",
                                 inventory=path))
        assert all(not z["adds"] and not z["changes"] for z in again["meta"]["zones"].values())
        after = [r["message"] for r in json_out(inv_cmd("dns.check", "xh-a,xh-b", "--source", "containers",
                                                        "--json", inventory=path))["results"]]
        assert not any("peer5.org3.example.com" in m and "DNS has nothing" in m for m in after)
    assert ("peer5", "A") not in _zone(inv, "org3")  # the lab's zone is as it was


def test_org_address_override_is_synced_to_the_lab_bind(lab, tmp_path):
    inv = lab.inventory()
    proxy = _addr(lab, 110)
    org2_nodes = [n for n in lab.topology.nodes if n.org == "org2"]
    names = sorted(n.container.removesuffix(".org2.example.com").removesuffix(".org2") for n in org2_nodes)
    assert names == ["couchdb0", "couchdb1", "peer0", "peer1"]
    hosts = sorted({n.host for n in org2_nodes})
    doc = lab.inventory_document()
    doc["orgs"]["org2"]["address"] = proxy
    path = _write_inventory(lab, tmp_path, doc)
    with zones_restored(inv, ("org2",)):
        c = ZoneClient.for_org(inv, "org2")
        serial = c.soa()[0]
        plan = inv_cmd("dns.sync", "--org", "org2", "--plan", "--json", inventory=path)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        z = json_out(plan)["meta"]["zones"]["org2"]
        assert sorted((ch["new"]["name"], ch["new"]["values"][0]) for ch in z["changes"]) == [
            (f"{n}.org2.example.com", proxy) for n in names]
        # the hosts' own names keep the hosts' addresses (ssh and "where does it run"): the lab serves them already
        assert not z["adds"]
        for h in hosts:
            assert c.lookup(f"{h}.hosts")["A"].values == (lab.hosts[h].address,)
        assert not z["deletes"] and c.soa()[0] == serial

        done = inv_cmd("dns.sync", "--org", "org2", "--json", inventory=path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verified by AXFR" in done.stdout
        for n in names:
            assert c.lookup(n)["A"].values == (proxy,)
        assert c.soa()[0] == serial + 1  # one UPDATE
        again = inv_cmd("dns.sync", "--org", "org2", "--json", inventory=path)
        z2 = json_out(again)["meta"]["zones"]["org2"]
        assert again.returncode == 0 and not (z2["adds"] or z2["changes"] or z2["deletes"])
        assert c.soa()[0] == serial + 1
        # other orgs' names still point at their hosts
        assert _zone(inv, "org1")[("peer0", "A")] == (lab.hosts[lab.node("peer0.org1").host].address,)
    assert _zone(inv, "org2")[("peer0", "A")] == (lab.hosts[lab.node("peer0.org2").host].address,)
