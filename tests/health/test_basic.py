"""First-cut fleet.health: on this machine (connection: local) and over real SSH."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from opskit.health.basic import disk_findings
from opskit.health.fleet import HealthOptions, fleet_health
from opskit.inventory import select
from opskit.health.facts import parse_facts
from opskit.inventory import load_text
from opskit.output.report import Severity
from tests.conftest import run_inv
from tests.sshfleet import fleet_inventory

ROOT = Path(__file__).resolve().parents[2]


def test_readme_first_command_default_inventory_json():
    res = run_inv("fleet.health", "--json", unset=["OPSKIT_INVENTORY"])
    doc = json.loads(res.stdout)
    assert res.returncode == doc["summary"]["exit_code"] and res.returncode in (0, 1, 2)
    assert doc["task"] == "fleet.health" and doc["schema"] == 1
    assert doc["inventory"].endswith("inventories/local.yaml")
    assert [h["host"] for h in doc["hosts"]] == ["localhost"]
    disks = [r for r in doc["results"] if r["check"] == "disk"]
    assert disks and disks[0]["data"]["path"] == "/"
    # the figure is this machine's real df figure
    df = subprocess.run(["df", "-P", "-k", "/"], capture_output=True, text=True).stdout.splitlines()[-1].split()
    assert abs(disks[0]["data"]["used_bytes"] - int(df[2]) * 1024) < 512 * 1024**2
    assert any(r["check"] == "docker" for r in doc["results"])
    # the table form renders too and exits with the same code
    res2 = run_inv("fleet.health", unset=["OPSKIT_INVENTORY"])
    assert "localhost" in res2.stdout and res2.returncode == res.returncode


DF_TEXT = """@@df /
/dev/vda 263235520 23454784 82934528 23% /
/dev/vda 16777216 414624 16362592 3% /
@@df /var/lib/docker
/dev/loop3 300000 270000 30000 90% /var/lib/docker
/dev/loop3 76800 100 76700 1% /var/lib/docker
@@missing /var/hyperledger
@@docker 20.10.24
@@ps
{"Names":"orderer1.ordererorg1.example.com","State":"running","Status":"Up 3 hours","Image":"hyperledger/fabric-orderer:2.5"}
{"Names":"kafka0","State":"exited","Status":"Exited (137) 2 hours ago","Image":"hyperledger/fabric-kafka"}
"""

INV = """\
version: 2
hosts:
  vm1: {address: 10.9.0.1, ledger_paths: [/var/hyperledger]}
nodes:
  orderer1: {kind: orderer, host: vm1, container: orderer1.ordererorg1.example.com}
  kafka0: {kind: kafka, host: vm1}
  zookeeper0: {kind: zookeeper, host: vm1}
"""


def test_checks_on_collected_text():
    from opskit.health.basic import docker_findings

    inv = load_text(INV)
    facts = parse_facts(DF_TEXT)
    assert [d.mount for d in facts.disks] == ["/", "/var/lib/docker"]
    disk = disk_findings(inv, inv.hosts["vm1"], facts)
    sev = {f.data["path"]: f.severity for f in disk}
    assert sev["/"] is Severity.OK
    assert sev["/var/lib/docker"] is Severity.CRITICAL  # 90% = critical threshold
    assert sev["/var/hyperledger"] is Severity.WARNING  # expected ledger path missing
    cont = {f.node: f for f in docker_findings(inv, inv.hosts["vm1"], facts) if f.node}
    assert cont["orderer1"].severity is Severity.OK
    assert cont["kafka0"].severity is Severity.CRITICAL and "exited" in cont["kafka0"].message
    assert cont["zookeeper0"].severity is Severity.CRITICAL and "missing" in cont["zookeeper0"].message


def test_health_over_ssh_with_unreachable_host(ssh_fleet, tmp_path):
    inv = fleet_inventory(ssh_fleet, ("h1", "h2", "dead"), host_timeout=6)
    report = fleet_health(inv, select(inv), options=HealthOptions(state_file=tmp_path / 'restarts.json'))
    doc = report.to_dict()
    by_host = {h["host"]: h["status"] for h in doc["hosts"]}
    assert by_host == {"h1": "ok", "h2": "ok", "dead": "unreachable"}
    unknown = [r for r in doc["results"] if r["severity"] == "unknown"]
    assert [r["host"] for r in unknown] == ["dead"]
    assert {r["host"] for r in doc["results"] if r["check"] == "disk"} == {"h1", "h2"}
    assert report.exit_code in (2, 3)
    assert doc["summary"]["recap"]["dead"]["unreachable"] == 1 and doc["summary"]["changed"] is False
    assert report.group_by_host and report.collapse_ok  # the table: problems first, one OK line per host
