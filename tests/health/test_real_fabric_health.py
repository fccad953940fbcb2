"""fleet.health against real Hyperledger Fabric 2.5 (tests/fabriclab.py): the defects that only real nodes showed.

Issue 14's defects 1-5 each have a test here that fails without their fix.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from opskit.health.chains import RaftView, raft_findings
from opskit.health.fleet import HealthOptions, fleet_health
from opskit.inventory import load_inventory, select
from opskit_lab.wait import wait_for
from opskit.output.report import Report, Severity


def _run(inv, tmp_path, selector=None, **kw) -> Report:
    opts = HealthOptions(state_file=tmp_path / "restarts.json", record_samples=False, use_prometheus=False, **kw)
    return fleet_health(inv, select(inv, selector), options=opts)


def _bad(report: Report) -> list[str]:
    return [f"{f.check} {f.node}: {f.message}" for f in report.findings if f.severity is not Severity.OK]


@pytest.fixture
def inv(fabric_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return load_inventory(fabric_lab.inventory_path)


def test_real_network_is_healthy(fabric_lab, inv, tmp_path):
    fabric_lab.fabric.make_blocks(1)
    fabric_lab.fabric.wait_level()
    report = _run(inv, tmp_path)
    assert report.exit_code == 0, _bad(report)
    heights = {f.node: f.data["height"] for f in report.findings if f.check == "height"}
    assert set(heights) == {"orderer1", "orderer2", "orderer3", "peer0.org1", "peer1.org1", "peer0.org2"}
    real = fabric_lab.fabric.heights()
    assert heights == {n: h["mychannel"] for n, h in real.items()}
    assert len(set(heights.values())) == 1 and min(heights.values()) >= 2
    leader = [f for f in report.findings if f.check == "raft.leader"]
    assert len(leader) == 1 and leader[0].data["leaders"] == fabric_lab.fabric.leaders()


def test_the_lab_is_green_through_the_cli(fabric_lab, tmp_path):
    """A lab as `inv lab.up --fabric` builds it: fleet.health, fleet.probe and dns.check all exit 0 (issue 16)."""
    from tests.conftest import run_inv

    fabric_lab.fabric.wait_level()
    env = {"OPSKIT_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    for task in ("fleet.health", "fleet.probe", "dns.check"):
        res = run_inv(task, "-i", str(fabric_lab.inventory_path), "--json", env=env, timeout=300)
        bad = [r["message"] for r in json.loads(res.stdout)["results"] if r["severity"] != "ok"] if res.stdout else []
        assert res.returncode == 0, (task, bad, res.stderr[-2000:])


def test_leader_on_an_unselected_host(fabric_lab, inv, tmp_path):
    """Defect 1: `-s` without the leader's host said "no orderer reports being the leader"."""
    leader = fabric_lab.fabric.wait_leader()
    others = [o for o in fabric_lab.topology.orderers if o.name != leader]
    report = _run(inv, tmp_path, ",".join(o.host for o in others))
    found = [f for f in report.findings if f.check == "raft.leader"]
    assert [f.severity for f in found] == [Severity.OK], _bad(report)
    assert found[0].data["leaders"] == [leader]
    assert report.exit_code == 0, _bad(report)


def test_cluster_size_is_the_leaders_view():
    """Defect 2: a follower that has just restarted reports 0 active consenters; the leader's view counts."""
    views = [RaftView("orderer1", "mychannel", True, 3, 3), RaftView("orderer2", "mychannel", False, 3, 0),
             RaftView("orderer3", "mychannel", False, 3, 3)]
    assert [f.check for f in raft_findings(views) if f.severity is not Severity.OK] == []
    down = [RaftView("orderer1", "mychannel", True, 3, 1), RaftView("orderer2", "mychannel", False, 3, 3)]
    crit = [f for f in raft_findings(down) if f.check == "raft.cluster"]
    assert crit and crit[0].severity is Severity.CRITICAL and crit[0].node == "orderer1"


def test_restarted_follower_does_not_turn_cluster_critical(fabric_lab, inv, tmp_path):
    """Defect 2 on real orderers: restart a follower and check health while it rejoins."""
    f = fabric_lab.fabric
    leader = f.wait_leader()
    follower = next(o for o in fabric_lab.topology.orderers if o.name != leader)
    f.docker(follower.host, "restart", "-t", "5", follower.container)
    seen_partial = []

    def follower_answers() -> bool:
        report = _run(inv, tmp_path)
        clusters = [x for x in report.findings if x.check == "raft.cluster" and x.severity is Severity.CRITICAL]
        assert not clusters, [x.message for x in clusters]
        try:
            from opskit.health.fabric_metrics import parse_metrics

            m = parse_metrics(f.metrics(follower.name))
        except Exception:
            return False
        if m.active_nodes.get("mychannel", 3) < 3:
            seen_partial.append(m.active_nodes["mychannel"])
        return m.heights.get("mychannel") is not None and not f.problems()

    wait_for(follower_answers, timeout=60, what=f"{follower.name} back after a restart")


def test_getinfo_for_peers_of_every_org(fabric_lab, inv, tmp_path):
    """Defect 3: peers of orgs other than the cli's failed with "no 'Blockchain info:' line"."""
    report = _run(inv, tmp_path, getinfo=True)
    got = {f.node: f for f in report.findings if f.check == "getinfo"}
    assert set(got) == {"peer0.org1", "peer1.org1", "peer0.org2"}
    assert all(f.severity is Severity.OK for f in got.values()), _bad(report)
    real = fabric_lab.fabric.heights()
    assert {n: f.data["height"] for n, f in got.items()} == {n: real[n]["mychannel"] for n in got}


def test_getinfo_reports_what_the_peer_said(fabric_lab, tmp_path, monkeypatch):
    """Defect 3: with the wrong admin MSP for org2 the peer's own refusal is reported, not thrown away."""
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    doc = fabric_lab.inventory_path.read_text().replace(
        "/etc/hyperledger/crypto/org2/users/Admin@org2.example.com/msp",
        "/etc/hyperledger/crypto/org1/users/Admin@org1.example.com/msp")
    path = tmp_path / "inv.yaml"
    path.write_text(doc)
    report = _run(load_inventory(path), tmp_path, "peer0.org2", getinfo=True)
    bad = [f for f in report.findings if f.check == "getinfo"]
    assert len(bad) == 1 and bad[0].severity is Severity.UNKNOWN
    assert "Error:" in bad[0].message or "creator" in bad[0].message, bad[0].message


def test_removed_channel_is_reported(fabric_lab, inv, tmp_path):
    """Defect 4: after `osnadmin channel remove` the stale height gauge said "at the best height"."""
    f = fabric_lab.fabric
    leader = f.wait_leader()
    victim = next(o for o in fabric_lab.topology.orderers if o.name != leader)
    f.osnadmin(victim.name, "channel", "remove", "--channelID", "mychannel")
    assert "mychannel" in f.heights([victim.name])[victim.name]   # Fabric keeps the gauge: the trap
    report = _run(inv, tmp_path)
    part = [x for x in report.findings if x.check == "participation" and x.node == victim.name]
    assert len(part) == 1 and part[0].severity is Severity.CRITICAL and "mychannel" in part[0].message
    assert not [x for x in report.findings if x.check == "height" and x.node == victim.name]
    assert report.exit_code == 2
    res = subprocess.run(["python3", "-m", "invoke", "fleet.health", "-i", str(fabric_lab.inventory_path),
                          "-s", victim.host, "--json"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    doc = json.loads(res.stdout)
    assert any(x["check"] == "participation" and x["node"] == victim.name and x["severity"] == "critical"
               for x in doc["results"])


def test_wedged_node_is_reported_within_the_deadline(fabric_lab, inv, tmp_path):
    """Issue 18 D9 on a real node: a frozen peer (``docker pause``: its ports accept and never answer) gives
    CRITICAL findings (paused; operations endpoint timed out), and the run still ends (OK host outcomes, the rest
    of the fleet read) instead of hanging or saying nothing."""
    f = fabric_lab.fabric
    topo = fabric_lab.topology
    peer = topo.peers[0]
    other = next(o for o in topo.orderers if o.host != peer.host)
    f.docker(peer.host, "pause", peer.container)
    try:
        report = _run(inv, tmp_path, selector=f"host:{peer.host},host:{other.host}")
    finally:
        f.docker(peer.host, "unpause", peer.container)
    mine = {x.check: x for x in report.findings if x.node == peer.name}
    assert mine["container"].severity is Severity.CRITICAL and "paused" in mine["container"].message
    ops = mine["operations"]   # its operations endpoint accepts and never answers: said, within curl's deadline
    assert ops.severity is Severity.CRITICAL and "timed out" in ops.message, ops.message
    assert [h.status.value for h in report.hosts] == ["ok", "ok"], [h.to_dict() for h in report.hosts]
    others = {x.node for x in report.findings if x.check == "healthz" and x.severity is Severity.OK}
    assert other.name in others and peer.name not in others   # the rest of the fleet was still read


def test_https_operations_endpoints(fabric_tls_lab, tmp_path, monkeypatch):
    """Defect 5: operations on HTTPS with the CA in the inventory are read; without it curl's real error shows."""
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    inv = load_inventory(fabric_tls_lab.inventory_path)
    assert all(n.operations.startswith("https://") for n in inv.nodes.values() if n.operations)
    report = _run(inv, tmp_path, getinfo=True)
    assert report.exit_code == 0, _bad(report)
    assert len([f for f in report.findings if f.check == "height"]) == 6
    assert len([f for f in report.findings if f.check == "getinfo" and f.severity is Severity.OK]) == 3
    doc = fabric_tls_lab.inventory_path.read_text()
    path = tmp_path / "noca.yaml"
    path.write_text("\n".join(line for line in doc.splitlines() if "operations_ca_file" not in line) + "\n")
    report = _run(load_inventory(path), tmp_path, "orderer1")
    ops = [f for f in report.findings if f.check == "operations"]
    assert ops and ops[0].severity is Severity.CRITICAL
    assert "curl: (60)" in ops[0].message and "web page" not in ops[0].message, ops[0].message
