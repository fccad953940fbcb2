"""rollout.logging over real Fabric orderers (tests/fabriclab.py): one orderer at a time, gated on real health,
the Raft channel keeps its quorum and every ledger is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _inv(lab, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(lab.inventory_path), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", "OPSKIT_STATE_DIR": str(state)})


def _log_opts(lab, node: str) -> dict[str, str]:
    n = lab.node(node)
    out = lab.fabric.docker(n.host, "inspect", "--format", "{{json .HostConfig.LogConfig.Config}}", n.container)
    return json.loads(out.stdout)


def test_log_rotation_rollout_over_real_orderers(fabric_lab, tmp_path):
    f = fabric_lab.fabric
    height = f.wait_level()
    state = tmp_path / "state"
    plan = _inv(fabric_lab, "rollout.logging", "-s", "kind:orderer", "--max-size", "20m", "--max-file", "2",
                "--dry-run", state=state)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert all(_log_opts(fabric_lab, o.name)["max-size"] == "10m" for o in fabric_lab.topology.orderers)
    run = _inv(fabric_lab, "rollout.logging", "-s", "kind:orderer", "--max-size", "20m", "--max-file", "2",
               state=state)
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(_log_opts(fabric_lab, o.name) == {"max-size": "20m", "max-file": "2"}
               for o in fabric_lab.topology.orderers)
    f.make_blocks(1)
    assert f.wait_level() == height + 1            # ledgers kept, the channel orders again on every node
    assert f.wait_leader()
    again = _inv(fabric_lab, "rollout.logging", "-s", "kind:orderer", "--max-size", "20m", "--max-file", "2",
                 state=state)
    assert again.returncode == 0, again.stdout + again.stderr
    ids = {r.get("node"): (r.get("data") or {}) for r in json.loads(again.stdout)["results"]}
    assert ids, again.stdout
