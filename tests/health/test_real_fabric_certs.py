"""Certificate expiry on the real-Fabric lab (tests/fabriclab.py): cryptogen's certificates (10 years) are all OK;
certificates made to expire in 5 and 20 days, written into peer1.org1's MSP on its host (the directory its container
mounts), turn fleet.health CRITICAL / WARNING naming those files, and fleet.certs lists them first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.health.fleet import HealthOptions, fleet_health, write_textfile
from opskit.inventory import load_inventory, select
from opskit.output.report import Report, Severity
from tests.health.test_certs import make_cert

ROOT = Path(__file__).resolve().parents[2]
NODES = {"orderer1", "orderer2", "orderer3", "peer0.org1", "peer1.org1", "peer0.org2", "cli"}


def _task(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})


def _health(path: Path, tmp_path: Path, selector: str | None = None) -> Report:
    inv = load_inventory(path)
    return fleet_health(inv, select(inv, selector), options=HealthOptions(
        state_file=tmp_path / "restarts.json", record_samples=False, use_prometheus=False))


def _bad(report: Report) -> list[tuple[str, str | None, str]]:
    return [(f.severity.label(), f.node, f.message) for f in report.findings if f.severity is not Severity.OK]


@pytest.fixture
def expiring(fabric_lab):
    """Two certificates in peer1.org1's MSP on its host, 5 days (signcerts) and 20 days (cacerts) from expiry;
    removed afterwards."""
    msp = fabric_lab.fabric.org("org1").node_dir("peer1.org1.example.com") / "msp"
    five, twenty = msp / "signcerts" / "opskit-test-5d.pem", msp / "cacerts" / "opskit-test-20d.pem"
    try:
        five.write_bytes(make_cert("expires-in-5-days.org1.example.com", 5)[0])
        twenty.write_bytes(make_cert("expires-in-20-days.org1.example.com", 20)[0])
        yield five, twenty
    finally:
        five.unlink(missing_ok=True)
        twenty.unlink(missing_ok=True)


def test_cryptogen_certificates_are_ok(fabric_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    res = _task(fabric_lab.inventory_path, "fleet.certs", "--json")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    rows = json.loads(res.stdout)["results"]
    assert {r["node"] for r in rows} == NODES
    assert all(r["severity"] == "ok" and 3640 < r["data"]["days_left"] < 3651 for r in rows)
    kinds = {Path(r["data"]["container_path"]).parent.name for r in rows}
    assert {"signcerts", "cacerts", "tlscacerts", "tls"} <= kinds
    assert any(r["node"] == "cli" and "Admin@" in r["data"]["subject"] for r in rows)   # the inventory's admins
    report = _health(fabric_lab.inventory_path, tmp_path)
    assert report.exit_code == 0, _bad(report)
    assert {f.node for f in report.findings if f.check == "cert"} == NODES


def test_expiring_certificates_on_one_peer(fabric_lab, expiring, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    five, twenty = expiring
    report = _health(fabric_lab.inventory_path, tmp_path)
    assert report.exit_code == 2
    assert sorted(_bad(report)) == sorted([
        ("critical", "peer1.org1", next(f.message for f in report.findings if str(five) in f.message)),
        ("warning", "peer1.org1", next(f.message for f in report.findings if str(twenty) in f.message)),
    ]), _bad(report)
    write_textfile(report, str(tmp_path / "opskit.prom"))
    prom = (tmp_path / "opskit.prom").read_text()
    days = {m[0]: float(m[1]) for m in re.findall(r'opskit_cert_days_left\{host="[^"]+",node="([^"]+)"\} (\S+)', prom)}
    assert set(days) == NODES and 4 < days["peer1.org1"] <= 5
    assert all(3640 < d < 3651 for n, d in days.items() if n != "peer1.org1")
    crit = next(f for f in report.findings if f.severity is Severity.CRITICAL)
    assert crit.check == "cert" and crit.host == "vm5" and "expires-in-5-days" in crit.message
    assert 4 < crit.data["days_left"] < 5.01 and crit.data["path"] == str(five)
    assert crit.data["container_path"].endswith("/msp/signcerts/opskit-test-5d.pem")

    res = _task(fabric_lab.inventory_path, "fleet.certs", "--json")
    assert res.returncode == 2, res.stderr
    rows = json.loads(res.stdout)["results"]
    assert [r["data"]["path"] for r in rows[:2]] == [str(five), str(twenty)]
    assert [r["severity"] for r in rows[:2]] == ["critical", "warning"]
    assert all(r["severity"] == "ok" for r in rows[2:])
    days = [r["data"]["days_left"] for r in rows]
    assert days == sorted(days)
    table = _task(fabric_lab.inventory_path, "fleet.certs", "-s", "peer1.org1")
    assert table.returncode == 2 and "opskit-test-5d.pem" in table.stdout and "orderer1" not in table.stdout

    # thresholds come from the inventory: at 3 / 1 days both are OK
    text = fabric_lab.inventory_path.read_text().replace(
        "defaults:\n", "defaults:\n  thresholds:\n    cert_warning_days: 3\n    cert_critical_days: 1\n", 1)
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(text)
    assert _task(relaxed, "fleet.certs", "--json").returncode == 0
    assert _health(relaxed, tmp_path, "vm5").exit_code == 0
