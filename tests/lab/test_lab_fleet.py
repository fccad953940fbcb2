"""The Fabric-shaped fleet and the lab services: stand-ins, chains, BIND, Prometheus, moto, the inventory."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.health.fabric_metrics import parse_metrics
from opskit.inventory import load_inventory
from opskit_lab import faults
from opskit_lab.standin.launch import get
from opskit.ledger.remote import NodeLedger
from opskit.remote import Engine

pytestmark = pytest.mark.lab
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fabric-2.5"


def _fixture_header_hashes(seed: str) -> list[str]:
    facts = json.loads((FIXTURES / "03_raft_network/ledgers/expected_facts_ledgers.json").read_text())
    return facts["03_ledgers"][f"03_raft_network/ledgers/{seed}/mychannel/blockfile_000000"]["header_hashes_hex"]


def test_inventory_points_at_the_lab(lab) -> None:
    inv = load_inventory(str(lab.inventory_path))
    net = lab.network
    import ipaddress

    for host in inv.hosts.values():
        assert ipaddress.ip_address(host.address) in net
    for node in inv.nodes.values():
        if node.operations:
            assert node.operations == f"http://{inv.hosts[node.host].address}:{lab.node(node.name).operations_port}"
    assert inv.monitoring.prometheus_url == f"http://{lab.gateway}:9090"
    assert inv.aws.endpoint_url and inv.aws.endpoint_url.startswith("http://127.0.0.1:")
    for org in ("org1", "org2", "org3"):
        dns = inv.orgs[org].dns
        assert dns and dns.server == lab.gateway and dns.zone == f"{org}.example.com"
        assert Path(dns.tsig_key_file).is_file()
    assert set(inv.channels["mychannel"].peers) == {n.name for n in lab.topology.peers}
    assert inv.defaults.known_hosts and Path(inv.defaults.known_hosts).read_text().count("ssh-ed25519") == len(inv.hosts)


def test_every_standin_metrics_parse_and_height_equals_its_ledger(lab) -> None:
    inv = load_inventory(str(lab.inventory_path))
    ledger_nodes = [n for n in inv.nodes.values() if n.operations]
    assert len(ledger_nodes) == 10  # 4 orderers + 6 peers
    metrics = {}
    for node in ledger_nodes:
        code, text = get(node.operations, "/metrics")
        assert code == 200
        metrics[node.name] = parse_metrics(text)
        assert metrics[node.name].version == "2.5.12"
        assert set(metrics[node.name].heights) == set(inv.channels_of(node)), node.name

    def heights(session):
        out = {}
        for node in inv.nodes_on(session.name):
            for channel in (inv.channels_of(node) if node.operations else []):
                out[(node.name, channel)] = NodeLedger.for_node(session, inv, node, channel).height()["height"]
        return out

    with Engine(inv) as engine:
        results = engine.run([inv.hosts[h] for h in {n.host for n in ledger_nodes}], heights)
    assert all(r.ok for r in results), [(r.host, r.error) for r in results if not r.ok]
    read = {k: v for r in results for k, v in r.value.items()}
    assert len(read) == sum(len(m.heights) for m in metrics.values())
    for (node, channel), height in read.items():
        assert metrics[node].heights[channel] == height, (node, channel)
    assert read[("peer0.org1", "mychannel")] >= 43  # seeded from the real fixture ledger


def test_chain_advanced_by_the_harness_verifies_with_the_real_first_blocks(lab) -> None:
    inv = load_inventory(str(lab.inventory_path))
    node = inv.nodes["peer1.org2"]
    before = parse_metrics(get(node.operations, "/metrics")[1]).heights["mychannel"]
    faults.advance_chain(lab, "peer1.org2", blocks=5)
    after = parse_metrics(get(node.operations, "/metrics")[1]).heights["mychannel"]
    assert after == before + 5

    def check(session):
        ledger = NodeLedger.for_node(session, inv, node, "mychannel")
        return ledger.verify(), ledger.headers(list(range(43)))

    with Engine(inv) as engine:
        (result,) = engine.run([inv.hosts[node.host]], check)
    assert result.ok, result.error
    verified, headers = result.value
    assert verified["ok"] and verified["problems"] == 0 and verified["height"] == after
    real = _fixture_header_hashes("peer0.org1_h43")
    assert [base64.b64decode(headers[i]).hex() for i in range(43)] == real


def test_bind_takes_org1_key_on_org1_zone_and_refuses_it_on_org2(lab) -> None:
    import dns.message
    import dns.query
    import dns.rcode
    import dns.update

    from opskit.dns.keys import load_key

    inv = load_inventory(str(lab.inventory_path))
    org1, org2 = inv.orgs["org1"].dns, inv.orgs["org2"].dns
    key = load_key(Path(org1.tsig_key_file), org1.tsig_key_name).dns_key()

    def update(zone: str) -> int:
        upd = dns.update.UpdateMessage(zone, keyring=key)
        upd.replace("labtest", 60, "A", "10.77.0.200")
        return dns.query.tcp(upd, org1.server, port=org1.port, timeout=5).rcode()

    assert update(org1.zone) == dns.rcode.NOERROR
    assert update(org2.zone) == dns.rcode.REFUSED
    answer = dns.query.udp(dns.message.make_query(f"labtest.{org1.zone}", "A"), org1.server, port=org1.port, timeout=5)
    assert [rd.address for rrset in answer.answer for rd in rrset] == ["10.77.0.200"]
    # the zones also hold the fleet: peer0 of org1 resolves to its lab host
    answer = dns.query.udp(dns.message.make_query(f"peer0.{org1.zone}", "A"), org1.server, port=org1.port, timeout=5)
    assert [rd.address for rrset in answer.answer for rd in rrset] == [lab.host_of("peer0.org1").address]


def test_prometheus_reports_every_target_up(lab) -> None:
    inv = load_inventory(str(lab.inventory_path))
    expected = {f"{h.address}:9100" for h in inv.hosts.values()}
    expected |= {n.operations.removeprefix("http://") for n in inv.nodes.values() if n.operations}
    import urllib.request

    with urllib.request.urlopen(f"{inv.monitoring.prometheus_url}/api/v1/targets?state=active", timeout=5) as resp:
        targets = json.loads(resp.read())["data"]["activeTargets"]
    health = {t["labels"]["instance"]: t["health"] for t in targets}
    assert set(health) == expected
    assert lab.prometheus.wait_targets_up(timeout=30)
    with urllib.request.urlopen(f"{inv.monitoring.prometheus_url}/api/v1/query?query=up", timeout=5) as resp:
        ups = json.loads(resp.read())["data"]["result"]
    assert {r["metric"]["instance"] for r in ups if r["value"][1] == "1"} == expected


def test_aws_endpoint_is_the_lab_moto_server(lab) -> None:
    import boto3

    inv = load_inventory(str(lab.inventory_path))
    s3 = boto3.client("s3", endpoint_url=inv.aws.endpoint_url, region_name=inv.aws.region,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="opskit-lab-test", CreateBucketConfiguration={"LocationConstraint": inv.aws.region})
    assert "opskit-lab-test" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.delete_bucket(Bucket="opskit-lab-test")


def test_inv_lab_status_reports_the_lab_up(lab) -> None:
    proc = subprocess.run([sys.executable, "-m", "invoke", "lab.status", "--name", lab.name, "--json"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    hosts = {f["host"] for f in doc["results"] if f["check"] == "lab.host" and f["severity"] == "ok"}
    assert hosts == set(lab.hosts)
