"""Orderer channel tasks against real Fabric 2.5 orderers (tests/fabriclab.py): issue 14 defects 7 and 10."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _inv(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "200"})


def test_set_batch_on_real_orderers(fabric_lab):
    before = _inv(fabric_lab.inventory_path, "orderer.config", "mychannel")
    assert before.returncode == 0, before.stderr
    height = fabric_lab.fabric.wait_level()
    plan = _inv(fabric_lab.inventory_path, "orderer.set-batch", "mychannel", "--timeout", "3s", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "3s" in plan.stdout
    assert fabric_lab.fabric.wait_level() == height          # the plan changed nothing
    run = _inv(fabric_lab.inventory_path, "orderer.set-batch", "mychannel", "--timeout", "3s")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verified on orderer1, orderer2, orderer3" in " ".join(run.stdout.split()).replace("│", "")\
        or "orderer3" in run.stdout
    assert fabric_lab.fabric.wait_level() == height + 1      # one config block on every node, peers included
    again = _inv(fabric_lab.inventory_path, "orderer.set-batch", "mychannel", "--timeout", "3s")
    assert again.returncode == 0 and "nothing to change" in again.stdout + again.stderr
    back = _inv(fabric_lab.inventory_path, "orderer.set-batch", "mychannel", "--timeout", "2s")
    assert back.returncode == 0, back.stdout + back.stderr


def test_orderer_tasks_under_mutual_tls(fabric_tls_lab):
    """Defect 7: orderers requiring client certificates ("failed to create deliver client")."""
    inv = fabric_tls_lab.inventory_path
    assert "admin_tls_cert" in inv.read_text()
    res = _inv(inv, "orderer.config", "mychannel")
    assert res.returncode == 0, res.stdout + res.stderr
    height = fabric_tls_lab.fabric.wait_level()
    run = _inv(inv, "orderer.set-batch", "mychannel", "--max-message-count", "20")
    assert run.returncode == 0, run.stdout + run.stderr
    assert fabric_tls_lab.fabric.wait_level() == height + 1
    back = _inv(inv, "orderer.set-batch", "mychannel", "--max-message-count", "10")
    assert back.returncode == 0, back.stdout + back.stderr
    # without the client pair the real orderer refuses, and opskit says so
    text = "\n".join(line for line in inv.read_text().splitlines() if "admin_tls_" not in line) + "\n"
    bare = fabric_tls_lab.dir / "no-client-cert.yaml"
    bare.write_text(text)
    try:
        res = _inv(bare, "orderer.config", "mychannel")
        assert res.returncode != 0
    finally:
        bare.unlink()


def test_non_admin_identity_is_refused_before_submission(fabric_lab, tmp_path):
    """Defect 10: an orderer node's own MSP (role orderer) as admin_msp_path passed the pre-check and the
    orderer refused after submission (exit 2); now exit 3 and nothing is sent."""
    height = fabric_lab.fabric.wait_level()
    text = fabric_lab.inventory_path.read_text().replace(
        "/etc/hyperledger/crypto/ordererorg2/users/Admin@ordererorg2.example.com/msp",
        "/etc/hyperledger/crypto/ordererorg2/orderers/orderer1.ordererorg2.example.com/msp")
    text = text.replace(
        "/etc/hyperledger/crypto/ordererorg3/users/Admin@ordererorg3.example.com/msp",
        "/etc/hyperledger/crypto/ordererorg3/orderers/orderer1.ordererorg3.example.com/msp")
    bad = tmp_path / "non-admin.yaml"
    bad.write_text(text)
    res = _inv(bad, "orderer.set-batch", "mychannel", "--timeout", "4s")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "admin" in (res.stdout + res.stderr).lower()
    assert fabric_lab.fabric.wait_level() == height           # nothing reached the orderers
