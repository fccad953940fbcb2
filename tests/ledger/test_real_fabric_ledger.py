"""ledger.* against real Fabric 2.5 block files (tests/fabriclab.py), read over SSH on the nodes' hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CH = "mychannel"


def _opskit(lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opskit", *args, "--channel", CH, "--json",
                           "-i", str(lab.inventory_path)], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"})


def test_stopped_real_orderer_ledger_matches_its_last_height(fabric_lab):
    f = fabric_lab.fabric
    f.make_blocks(2)
    height = f.wait_level()
    node = fabric_lab.node("orderer3")
    f.docker(node.host, "stop", "-t", "10", node.container)
    res = _opskit(fabric_lab, "ledger.height", "orderer3")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["height"] == height and doc["found_by"] == f"mounts of container {node.container}"
    assert doc["last_block"]["number"] == height - 1
    ver = _opskit(fabric_lab, "ledger.verify", "orderer3")
    assert ver.returncode == 0, ver.stdout + ver.stderr
    [v] = [r for r in json.loads(ver.stdout)["results"] if r["check"] == "ledger.verify"]
    assert v["severity"] == "ok" and v["data"]["blocks"] == height and v["data"]["first_broken"] is None
    assert not f.container_running(node)   # it really read a stopped node's files


def test_real_peer_and_orderer_ledgers_agree(fabric_lab):
    """The same chain in a peer's and an orderer's block files (different metadata, same header hashes)."""
    f = fabric_lab.fabric
    f.make_blocks(1)
    height = f.wait_level()
    res = _opskit(fabric_lab, "ledger.compare", "orderer1", "peer0.org2")
    assert res.returncode == 0, res.stdout + res.stderr
    [r] = json.loads(res.stdout)["results"]
    assert r["data"]["relation"] == "identical" and r["data"]["height_a"] == height


def test_compare_finds_the_lag_of_a_stopped_real_orderer(fabric_lab):
    f = fabric_lab.fabric
    height = f.wait_level()
    leader = f.wait_leader()
    victim = next(o for o in fabric_lab.topology.orderers if o.name != leader)
    f.docker(victim.host, "stop", "-t", "10", victim.container)
    f.make_blocks(6)
    others = [n.name for n in fabric_lab.topology.nodes if n.kind in ("orderer", "peer") and n.name != victim.name]
    assert f.wait_level(names=others) == height + 6
    res = _opskit(fabric_lab, "ledger.compare", leader, victim.name)
    assert res.returncode == 1, res.stdout + res.stderr      # 6 blocks: WARNING (lag_warning_blocks 5)
    [r] = json.loads(res.stdout)["results"]
    d = r["data"]
    assert d["relation"] == "b_prefix_of_a" and d["lag"] == 6 and d["common_prefix"] == height
    # started again, the real orderer catches up from the others (Raft replication)
    f.docker(victim.host, "start", victim.container)
    assert f.wait_level(timeout=60) == height + 6
