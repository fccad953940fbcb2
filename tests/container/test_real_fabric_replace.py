"""container.replace on real Fabric orderers (tests/fabriclab.py): keep the ledger, gate on real health, and
judge a rollback the way the old container served (issue 14 defect 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
NODE_TLS = "/etc/hyperledger/fabric/tls"


def _inv(inventory: Path, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(inventory), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", "OPSKIT_STATE_DIR": str(state)})


def _https_inventory(lab, node: str, path: Path) -> Path:
    """The lab's inventory with ``node``'s operations endpoint on HTTPS (CA and client pair on its host)."""
    yaml = YAML()
    doc = yaml.load(lab.inventory_path.read_text())
    cert, key = lab.fabric.ops_client_pair
    entry = doc["nodes"][node]
    entry["operations"] = entry["operations"].replace("http://", "https://")
    entry["operations_ca_file"] = str(lab.fabric.crypto / "tls-ca-bundle.pem")
    entry["operations_cert_file"], entry["operations_key_file"] = str(cert), str(key)
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


def _ops_tls(enabled: bool, cert: str = f"{NODE_TLS}/server.crt") -> list[str]:
    out = ["--set", f"env.ORDERER_OPERATIONS_TLS_ENABLED={'true' if enabled else 'false'}"]
    if enabled:
        out += ["--set", f"env.ORDERER_OPERATIONS_TLS_CERTIFICATE={cert}",
                "--set", f"env.ORDERER_OPERATIONS_TLS_PRIVATEKEY={NODE_TLS}/server.key",
                "--set", "env.ORDERER_OPERATIONS_TLS_CLIENTROOTCAS=[/etc/hyperledger/fabric/tls-ca-bundle.pem]"]
    return out


def _container_id(lab, node: str) -> str:
    n = lab.node(node)
    return lab.fabric.docker(n.host, "inspect", "--format", "{{.Id}}", n.container).stdout.decode().strip()


def test_replace_keeps_the_ledger_of_a_real_orderer(fabric_lab, tmp_path):
    f = fabric_lab.fabric
    f.make_blocks(1)
    height = f.wait_level()
    before = _container_id(fabric_lab, "orderer3")
    res = _inv(fabric_lab.inventory_path, "container.replace", "orderer3", "--set", "env.FABRIC_LOGGING_SPEC=WARN",
               state=tmp_path / "state")
    assert res.returncode == 0, res.stdout + res.stderr
    assert _container_id(fabric_lab, "orderer3") != before
    f.make_blocks(1)
    assert f.wait_level() == height + 1      # the new orderer kept its ledger and follows the channel
    again = _inv(fabric_lab.inventory_path, "container.replace", "orderer3", "--set", "env.FABRIC_LOGGING_SPEC=WARN",
                 state=tmp_path / "state")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["summary"]["exit_code"] == 0
    back = _inv(fabric_lab.inventory_path, "container.replace", "orderer3", "--set", "env.FABRIC_LOGGING_SPEC=INFO",
                state=tmp_path / "state")
    assert back.returncode == 0, back.stdout + back.stderr


def test_turning_operations_tls_on_and_a_rollback_judged_as_served(fabric_lab, tmp_path):
    """Defect 9: with the inventory already saying https, a failed change rolled back to the old (HTTP) container
    and then reported "the rollback failed too" although the old container was healthy on HTTP."""
    https_inv = _https_inventory(fabric_lab, "orderer3", tmp_path / "https.yaml")
    before = _container_id(fabric_lab, "orderer3")
    # a broken TLS setting: the new orderer exits, the old one (HTTP) must come back and pass its gate
    bad = _inv(https_inv, "container.replace", "orderer3", *_ops_tls(True, cert="/nonexistent/server.crt"),
               "--gate-timeout", "40", state=tmp_path / "state")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    doc = json.loads(bad.stdout)
    text = json.dumps(doc)
    assert "rollback failed too" not in text, text
    assert "Rolled back" in text, text
    assert _container_id(fabric_lab, "orderer3") == before
    # the real change: TLS on, gated over HTTPS with the CA and client pair of the inventory
    good = _inv(https_inv, "container.replace", "orderer3", *_ops_tls(True), state=tmp_path / "state")
    assert good.returncode == 0, good.stdout + good.stderr
    # and back to HTTP with the lab's own inventory (which says http): the lab is as it was
    back = _inv(fabric_lab.inventory_path, "container.replace", "orderer3", *_ops_tls(False),
                state=tmp_path / "state")
    assert back.returncode == 0, back.stdout + back.stderr
