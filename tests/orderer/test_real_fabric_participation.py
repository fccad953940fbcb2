"""Channel participation on real Fabric 2.5.12 orderers (tests/fabriclab.py): orderer.channels, orderer.leave with its
quorum guard, orderer.join with a fetched config block or a block file, and what fleet.health says in between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from opskit.health.fleet import HealthOptions, fleet_health
from opskit.inventory import load_inventory, select
from opskit.output.report import Severity

ROOT = Path(__file__).resolve().parents[2]


def _inv(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "250"})


def _json(res: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {res.returncode}): {res.stdout}\n{res.stderr}") from None


def _joined(lab, name: str) -> list[str]:
    return [c["name"] for c in lab.fabric.channel_list(name).get("channels") or []]


def _rows(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["node"], r["data"]["channel"]): r for r in doc["results"] if r["check"] == "channel"}


def test_leave_quorum_guard_and_join_with_a_fetched_block(fabric_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    f = fabric_lab.fabric
    inv_path = fabric_lab.inventory_path
    leader = f.wait_leader()
    # the victim is never the first orderer: the lab's make_blocks sends through the first running orderer container
    second, victim = [o.name for o in fabric_lab.topology.orderers if o.name != leader]
    victim_host = fabric_lab.node(victim).host
    f.make_blocks(1)
    height = f.wait_level()

    before = _inv(inv_path, "orderer.channels", "--json")
    assert before.returncode == 0, before.stdout + before.stderr
    rows = _rows(_json(before))
    assert set(rows) == {(o.name, "mychannel") for o in fabric_lab.topology.orderers}
    assert {r["data"]["height"] for r in rows.values()} == {height}
    assert all(r["data"]["status"] == "active" and r["data"]["consensus_relation"] == "consenter"
               for r in rows.values())

    plan = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", victim, "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "would leave mychannel" in plan.stdout and "2 of 3 consenters" in plan.stdout
    assert "check mode: 1 change would be made" in plan.stdout
    assert "mychannel" in _joined(fabric_lab, victim)                      # the plan changed nothing

    left = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", victim, "--json")
    assert left.returncode == 0, left.stdout + left.stderr
    assert _json(left)["results"][0]["changed"] is True
    assert "mychannel" not in _joined(fabric_lab, victim)
    listed = _inv(inv_path, "orderer.channels", "--json")
    doc = _json(listed)
    assert (victim, "mychannel") not in _rows(doc) and len(_rows(doc)) == 2
    assert any(r["check"] == "channel.missing" and r["node"] == victim for r in doc["results"])
    assert listed.returncode == 1
    table = _inv(inv_path, "orderer.channels")
    assert victim in table.stdout and "no channels" in table.stdout and table.returncode == 1

    # health after the leave names the node and the channel
    report = fleet_health(load_inventory(inv_path), select(load_inventory(inv_path)),
                          options=HealthOptions(state_file=tmp_path / "r.json", record_samples=False,
                                                use_prometheus=False, certs=False))
    part = [x for x in report.findings if x.check == "participation" and x.severity is Severity.CRITICAL]
    assert [(x.node, x.data["channel"]) for x in part] == [(victim, "mychannel")]

    again = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", victim)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr

    # the quorum guard: a second orderer may not leave a 3-consenter channel
    refused = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", second)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "quorum is 2" in refused.stderr and "1 of 3" in refused.stderr and "nothing changed" in refused.stderr
    assert "mychannel" in _joined(fabric_lab, second)
    assert "mychannel" in _joined(fabric_lab, leader)

    # the others go on while the victim is out
    f.make_blocks(2)
    others = f.wait_level(names=[leader, second])
    assert others == height + 2

    plan = _inv(inv_path, "orderer.join", "mychannel", "--orderer", victim, "--check")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "would join mychannel" in plan.stdout and "fetched from" in plan.stdout
    assert "check mode: 1 change would be made" in plan.stdout
    assert "mychannel" not in _joined(fabric_lab, victim)

    joined = _inv(inv_path, "orderer.join", "mychannel", "--orderer", victim, "--json")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    result = _json(joined)["results"][0]
    data = result["data"]
    assert result["check"] == "participation.join" and result["changed"] is True
    assert data["height"] == data["others_height"] == others
    print(f"join (fetched config block {data['block']}) to caught up: {data['seconds']}s")
    assert f.heights([victim])[victim]["mychannel"] == others
    assert _joined(fabric_lab, victim) == ["mychannel"]

    after = _inv(inv_path, "orderer.channels", "-s", victim_host, "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    assert _rows(_json(after))[(victim, "mychannel")]["data"]["height"] == others

    same = _inv(inv_path, "orderer.join", "mychannel", "--orderer", victim)
    assert same.returncode == 0 and "nothing to do" in same.stdout, same.stdout + same.stderr


def test_join_with_a_later_config_block(fabric_lab, tmp_path):
    """The latest config block is not the genesis block: the joining orderer is given block N > 0 and onboards the
    blocks before it from the others (Fabric's replication), then follows the chain."""
    f = fabric_lab.fabric
    inv_path = fabric_lab.inventory_path
    leader = f.wait_leader()
    victim = [o.name for o in fabric_lab.topology.orderers if o.name != leader][-1]   # not the first (make_blocks)
    res = _inv(inv_path, "orderer.set-batch", "mychannel", "--preferred-max-bytes", "1048576")
    assert res.returncode == 0, res.stdout + res.stderr
    config_block = f.wait_level() - 1
    try:
        res = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", victim)
        assert res.returncode == 0, res.stdout + res.stderr
        f.make_blocks(2)
        others = f.wait_level(names=[o.name for o in fabric_lab.topology.orderers if o.name != victim])
        joined = _inv(inv_path, "orderer.join", "mychannel", "--orderer", victim, "--json")
        assert joined.returncode == 0, joined.stdout + joined.stderr
        data = _json(joined)["results"][0]["data"]
        assert data["block"] == config_block > 0
        assert data["height"] == data["others_height"] == others == config_block + 3
        print(f"join (config block {config_block}, {others} blocks) to caught up: {data['seconds']}s")
        f.make_blocks(1)
        assert f.wait_level() == others + 1      # the joined orderer follows new blocks too
    finally:
        f.repair()
        back = _inv(inv_path, "orderer.set-batch", "mychannel", "--preferred-max-bytes", "524288")
        assert back.returncode == 0, back.stdout + back.stderr


def test_join_with_the_genesis_block_file(fabric_lab, tmp_path):
    f = fabric_lab.fabric
    inv_path = fabric_lab.inventory_path
    leader = f.wait_leader()
    victim = [o.name for o in fabric_lab.topology.orderers if o.name != leader][-1]   # not the first (make_blocks)
    res = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", victim)
    assert res.returncode == 0, res.stdout + res.stderr
    f.make_blocks(1)
    others = f.wait_level(names=[o.name for o in fabric_lab.topology.orderers if o.name != victim])
    joined = _inv(inv_path, "orderer.join", "mychannel", "--orderer", victim, "--block", str(f.genesis), "--json")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    data = _json(joined)["results"][0]["data"]
    assert data["block"] == 0 and data["height"] == data["others_height"] == others
    print(f"join (genesis block file) to caught up: {data['seconds']}s")
    assert f.wait_level() == others       # every node, peers included, at the same height again


def test_channels_and_certs_under_mutual_tls(fabric_tls_lab):
    """Orderers and peers requiring client certificates, HTTPS operations: the participation listing works the
    same, and fleet.certs also reads the operations client pair the inventory names (a host path)."""
    inv_path = fabric_tls_lab.inventory_path
    res = _inv(inv_path, "orderer.channels", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    height = fabric_tls_lab.fabric.wait_level()
    assert {k: r["data"]["height"] for k, r in _rows(_json(res)).items()} == {
        (o.name, "mychannel"): height for o in fabric_tls_lab.topology.orderers}
    certs = _inv(inv_path, "fleet.certs", "--json")
    assert certs.returncode == 0, certs.stdout[-2000:] + certs.stderr
    rows = _json(certs)["results"]
    cert_file, _ = fabric_tls_lab.fabric.ops_client_pair
    assert any(r["data"]["path"] == str(cert_file) and r["data"]["container_path"] == "" for r in rows)
    # under mutual TLS the peers' CORE_PEER_TLS_CLIENTCERT_FILE is read as well
    assert any(r["node"] == "peer0.org1" and r["data"]["container_path"].endswith("/tls/server.crt") for r in rows)


def test_a_stopped_orderer_is_unreadable_and_does_not_count_for_quorum(fabric_lab):
    """orderer.channels says which orderer it could not read (exit 3); with one orderer down, leave on another is
    refused: the stopped one is not an active consenter."""
    f = fabric_lab.fabric
    inv_path = fabric_lab.inventory_path
    down, other = fabric_lab.topology.orderers[2], fabric_lab.topology.orderers[1]
    f.docker(down.host, "stop", "-t", "2", down.container)
    res = _inv(inv_path, "orderer.channels", "--json")
    assert res.returncode == 3, res.stdout + res.stderr
    doc = _json(res)
    unread = [r for r in doc["results"] if r["severity"] == "unknown"]
    assert [r["node"] for r in unread] == [down.name] and "connection refused" in unread[0]["message"]
    assert {k[0] for k in _rows(doc)} == {o.name for o in fabric_lab.topology.orderers if o.name != down.name}
    refused = _inv(inv_path, "orderer.leave", "mychannel", "--orderer", other.name)
    assert refused.returncode == 3 and "1 of 3" in refused.stderr, refused.stdout + refused.stderr
    assert "mychannel" in _joined(fabric_lab, other.name)


def test_health_after_the_leader_left(fabric_lab, tmp_path, monkeypatch):
    """A leader that left the channel keeps saying is_leader 1 in /metrics: health said "2 orderers claim
    leadership" once the others elected a new one. Its Raft gauges are now dropped like its height."""
    from opskit_lab.wait import wait_for

    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    f = fabric_lab.fabric
    leader = f.wait_leader()
    res = _inv(fabric_lab.inventory_path, "orderer.leave", "mychannel", "--orderer", leader)
    assert res.returncode == 0, res.stdout + res.stderr
    new = wait_for(lambda: next((n for n in f.leaders() if n != leader), None), timeout=60,
                   what="a new leader among the orderers that stayed")
    print(f"stale is_leader gauge of {leader} after it left: {leader in f.leaders()}")   # usually True: the trap
    inv = load_inventory(fabric_lab.inventory_path)
    report = fleet_health(inv, select(inv), options=HealthOptions(
        state_file=tmp_path / "r.json", record_samples=False, use_prometheus=False, certs=False))
    lead = [x for x in report.findings if x.check == "raft.leader"]
    assert [(x.severity, x.data["leaders"]) for x in lead] == [(Severity.OK, [new])], [x.message for x in lead]
    part = [x for x in report.findings if x.check == "participation" and x.severity is Severity.CRITICAL]
    assert [(x.node, x.data["channel"]) for x in part] == [(leader, "mychannel")]
    cluster = [x for x in report.findings if x.check == "raft.cluster"]
    # Fabric's active-nodes gauge of a new leader lags its election (0, then the count once stable): whatever it
    # says, it is never the leaver's stale view and never "quorum lost" with 2 of 3 consenters up
    assert not [x for x in cluster if x.severity is Severity.CRITICAL or x.node == leader], [x.message for x in cluster]
    # the leader that left outside the selection: read for the Raft view only, its participation too
    only = select(inv, fabric_lab.node(new).host)
    report = fleet_health(inv, only, options=HealthOptions(
        state_file=tmp_path / "r.json", record_samples=False, use_prometheus=False, certs=False))
    lead = [x for x in report.findings if x.check == "raft.leader"]
    assert [(x.severity, x.data["leaders"]) for x in lead] == [(Severity.OK, [new])], [x.message for x in lead]
    assert not [x for x in report.findings if x.check == "participation" and x.node == leader]
