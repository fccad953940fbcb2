"""fleet.health against the lab: each problem is made to happen and reported exactly, with its severity."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from opskit.health.fleet import HealthOptions, fleet_health
from opskit.inventory import load_inventory, select
from opskit_lab import faults
from opskit_lab.standin.launch import control
from opskit_lab.wait import wait_for
from opskit.output.report import Report, Severity
from tests.conftest import run_inv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inv(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return load_inventory(lab.inventory_path)


def _run(inv, tmp_path, **kw) -> Report:
    opts = HealthOptions(state_file=tmp_path / "restarts.json", record_samples=False, **kw)
    return fleet_health(inv, select(inv), options=opts)


def _problems(report: Report) -> set[tuple[str, str | None, str | None, str]]:
    """Non-OK findings, less the lab's known baseline: its container logs are not rotated (by design)."""
    out = set()
    for f in report.findings:
        if f.severity is Severity.OK:
            continue
        if f.check == "logs" and f.severity is Severity.WARNING and not f.data.get("rotated"):
            continue
        out.add((f.check, f.host, f.node, f.severity.label()))
    return out


def test_clean_lab(inv, tmp_path):
    report = _run(inv, tmp_path)
    assert _problems(report) == set(), [f.message for f in report.findings if f.severity is not Severity.OK]
    heights = {f.node: f.data["height"] for f in report.findings if f.check == "height" and f.data["channel"] == "mychannel"}
    assert len(heights) == 10 and len(set(heights.values())) == 1  # 4 orderers + 6 peers, level
    assert {f.data["source"] for f in report.findings if f.check == "height"} == {"operations"}
    leaders = [f for f in report.findings if f.check == "raft.leader"]
    assert leaders and all(f.severity is Severity.OK for f in leaders)
    cover = [f for f in report.findings if f.check == "monitoring"]
    assert len(cover) == len(inv.hosts) + 10 and all(f.severity is Severity.OK for f in cover)
    logs = [f for f in report.findings if f.check == "logs"]
    assert len(logs) >= len(inv.nodes)
    # the lab starts without log rotation (rollout tests may have added it): unrotated is flagged, rotated is OK
    assert all((f.severity is Severity.WARNING) == (not f.data["rotated"]) for f in logs)
    assert report.exit_code == (1 if any(not f.data["rotated"] for f in logs) else 0)


@pytest.mark.parametrize("percent, severity, code", [(85, "warning", 1), (95, "critical", 2)])
def test_disk_fill(lab, inv, tmp_path, percent, severity, code):
    faults.fill_disk(lab, "vm3", percent)
    report = _run(inv, tmp_path)
    assert _problems(report) == {("disk", "vm3", None, severity)}
    f = next(f for f in report.findings if f.check == "disk" and f.host == "vm3" and f.severity.label() == severity)
    assert f.data["path"] == "/var/lib/docker" and f.data["used_pct"] >= percent - 1
    assert report.exit_code == code


def test_stopped_container_is_critical_and_its_ledger_gives_the_height(lab, inv, tmp_path):
    faults.advance_chain(lab, "orderer1", 3)
    faults.advance_chain(lab, "orderer2", 3)
    faults.advance_chain(lab, "orderer4", 3)
    faults.stop_container(lab, "orderer3")
    report = _run(inv, tmp_path)
    probs = _problems(report)
    assert ("container", "vm3", "orderer3", "critical") in probs
    assert ("operations", "vm3", "orderer3", "critical") in probs
    assert ("height", "vm3", "orderer3", "warning") not in probs  # 3 behind: below the warning threshold
    h = next(f for f in report.findings if f.check == "height" and f.node == "orderer3" and f.data["channel"] == "mychannel")
    assert h.data["source"] == "ledger" and h.data["lag"] == 3
    # orderer3 was the only thing wrong (Prometheus sees its target down too, and its peers lag 3 blocks: OK)
    assert {p[2] for p in probs} == {"orderer3"}
    assert report.exit_code == 2


def test_stall_with_samples(lab, inv, tmp_path):
    faults.stall_chain(lab, "orderer2")
    moving = [n.name for n in lab.topology.nodes if n.kind in ("orderer", "peer") and n.name != "orderer2"]
    for n in moving:  # the rest of the fleet keeps committing blocks
        control(lab.operations_url(n), "auto", interval=0.2)
    try:
        report = _run(inv, tmp_path, samples=2, interval=1.5, use_prometheus=False)
    finally:
        for n in moving:
            control(lab.operations_url(n), "auto", interval=0)
    stalls = [f for f in report.findings if f.check == "stall"]
    assert {(f.node, f.data["channel"]) for f in stalls} == {("orderer2", "mychannel"), ("orderer2", "system-channel")}
    assert all(f.severity is Severity.CRITICAL for f in stalls)


def test_stopped_exporter_is_a_coverage_gap(lab, inv, tmp_path):
    faults.stop_node_exporter(lab, "vm2")
    wait_for(lambda: _down_via_api(lab), timeout=20, what="Prometheus to see vm2's node_exporter down")
    report = _run(inv, tmp_path)
    assert _problems(report) == {("monitoring", "vm2", None, "warning")}
    f = next(f for f in report.findings if f.check == "monitoring" and f.severity is Severity.WARNING)
    assert f.data["kind"] == "node_exporter" and f.data["state"] == "down"


def _down_via_api(lab) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"{lab.prometheus.url}/api/v1/targets?state=active", timeout=5) as resp:
        targets = json.loads(resp.read())["data"]["activeTargets"]
    addr = f"{lab.host('vm2').address}:9100"
    return any(t["labels"].get("instance") == addr and t["health"] == "down" for t in targets)


def test_growing_unrotated_log(lab, inv, tmp_path):
    inv.defaults.thresholds.log_warning_bytes = 2 * 1024 * 1024
    control(lab.operations_url("peer1.org2"), "log", bytes=3 * 1024 * 1024)
    report = _run(inv, tmp_path)
    logs = [f for f in report.findings if f.check == "logs" and f.severity is Severity.CRITICAL]
    assert [(f.host, f.node) for f in logs] == [("vm2", "peer1.org2")]
    assert logs[0].data["log_bytes"] >= 3 * 1024 * 1024 and "no rotation" in logs[0].message
    assert _problems(report) == {("logs", "vm2", "peer1.org2", "critical")}


def test_cut_host_is_unknown_within_the_deadline(lab, inv, tmp_path):
    faults.cut_link(lab, "vm6")
    inv.defaults.connect_timeout = 2
    inv.defaults.host_timeout = 5
    started = time.monotonic()
    report = _run(inv, tmp_path, use_prometheus=False)
    assert time.monotonic() - started < 15
    by = {h.host: h.status.value for h in report.hosts}
    assert by["vm6"] == "unreachable" and all(v == "ok" for k, v in by.items() if k != "vm6")
    probs = _problems(report)
    assert ("reachable", "vm6", None, "unknown") in probs
    assert {p[1] for p in probs} == {"vm6"}
    assert report.exit_code == 3


def test_garbage_metrics_two_leaders_and_failed_healthz(lab, inv, tmp_path):
    control(lab.operations_url("peer0.org3"), "garbage")
    control(lab.operations_url("orderer4"), "leader", value=1)
    control(lab.operations_url("peer0.org1"), "healthz", fail="docker:cannot connect to the engine")
    try:
        report = _run(inv, tmp_path, use_prometheus=False)
    finally:
        control(lab.operations_url("peer0.org3"), "garbage", value=0)
        control(lab.operations_url("orderer4"), "leader", value=0)
        control(lab.operations_url("peer0.org1"), "healthz")
    probs = _problems(report)
    assert ("metrics", "vm3", "peer0.org3", "unknown") in probs
    assert ("healthz", "vm5", "peer0.org1", "critical") in probs
    hz = next(f for f in report.findings if f.check == "healthz" and f.node == "peer0.org1")
    assert hz.data["failed_checks"] == [{"component": "docker", "reason": "cannot connect to the engine"}]
    two = [f for f in report.findings if f.check == "raft.leader" and f.severity is Severity.CRITICAL]
    assert two and "orderer4" in two[0].data["leaders"] and len(two[0].data["leaders"]) == 2


def test_cli_json_and_textfile(lab, inv, tmp_path):
    out = tmp_path / "textfile" / "opskit.prom"
    res = run_inv("fleet.health", "-i", str(lab.inventory_path), "--json", "--textfile", str(out), program="opskit",
                  timeout=120, env={"OPSKIT_STATE_DIR": str(tmp_path / "st")})
    doc = json.loads(res.stdout)
    assert res.returncode == doc["summary"]["exit_code"] in (0, 1)
    assert len(doc["hosts"]) == 6
    text = out.read_text()
    assert 'opskit_block_height{node="orderer1",channel="mychannel",source="operations"}' in text
    from prometheus_client.parser import text_string_to_metric_families

    assert {f.name for f in text_string_to_metric_families(text)} >= {"opskit_health_severity", "opskit_block_height"}


def test_getinfo_source_from_the_tools_container(lab, inv, tmp_path):
    faults.advance_chain(lab, "peer0.org2", 2)
    report = _run(inv, tmp_path, getinfo=True, use_prometheus=False)
    info = {f.node: f.data["height"] for f in report.findings if f.check == "getinfo" and f.severity is Severity.OK}
    assert len(info) == 6  # every peer answered through `docker exec cli peer channel getinfo`
    ops = {f.node: f.data["height"] for f in report.findings if f.check == "height" and f.node in info
           and f.data["channel"] == "mychannel"}
    assert info == ops  # the two sources agree
    assert info["peer0.org2"] == info["peer0.org1"] + 2
