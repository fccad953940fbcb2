"""rollout.volumes and rollout.logging against the lab: whole fleet, idempotence, compose, kill -9 and resume."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from opskit.container.gate import GateOptions
from opskit.container.recreate import Recreator, RecreateOptions
from opskit.journal import Journal
from opskit.rollout.logrotate import logging_change
from opskit.rollout.volumes import volumes_change
from tests.container.helpers import (advance_all, data_paths, heights, inspect, make_volumeless, mounts,
                                     prefix_intact, run_opskit, snapshot, wait_journal)

VOLUMELESS = ["orderer2", "peer1.org2", "kafka1", "zookeeper1", "couchdb0.org3"]
COMPOSE = """# kafka2 as deployed by hand (opskit must keep this comment)
version: '2.4'
services:
  kafka2:
    container_name: kafka2   # the broker
    image: opskit-lab/standin:1
    network_mode: host
"""


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def opts(**kw) -> RecreateOptions:
    kw.setdefault("backup", False)
    return RecreateOptions(gate=GateOptions(timeout=60, settle=1.0, poll=0.3), **kw)


def run(inv, op, fn, **kw):
    r = Recreator(inv, op, fn, opts(**kw))
    try:
        return r.run(list(inv.nodes.values()))
    finally:
        r.close()


def statuses(report):
    return {f.node: f.data["status"] for f in report.findings if f.check == "container"}


def test_whole_fleet_volumes_then_logging_keeps_every_ledger(lab):
    for n in VOLUMELESS:
        make_volumeless(lab, n)
        assert not [p for p in data_paths(lab, n) if p in mounts(lab, n)], f"{n} still has a volume"
    advance_all(lab, 2)
    nodes = [n.name for n in lab.topology.nodes]
    ledger_nodes = [n.name for n in lab.topology.nodes if n.kind in ("orderer", "peer")]
    before = {n: snapshot(lab, n) for n in nodes if n != "cli"}
    assert all(before[n] for n in VOLUMELESS)
    h_before = {n: heights(lab, n) for n in ledger_nodes}
    kafka2_host = lab.host(lab.node("kafka2").host)
    compose_dir = kafka2_host.disk_ledger_dir / "compose"
    compose_dir.mkdir(exist_ok=True)
    (compose_dir / "kafka2.yaml").write_text(COMPOSE)
    inv = lab.inventory()
    inv.nodes["kafka2"].compose_file = "/var/hyperledger/compose/kafka2.yaml"

    vols = run(inv, "rollout.volumes", volumes_change(), batch=2)
    st = statuses(vols)
    assert not [f.message for f in vols.findings if f.data.get("status") not in ("changed", "unchanged")]
    couchdbs = [n for n in nodes if n.startswith("couchdb")]
    assert {n for n, s in st.items() if s == "changed"} == set(VOLUMELESS) | set(couchdbs) | {"kafka2"}
    for n in nodes:
        got = mounts(lab, n)
        for p in data_paths(lab, n):
            assert p in got, f"{n}: {p} not on a volume ({got})"
    assert "/opt/couchdb/etc/local.d" in mounts(lab, "couchdb1.org1")

    logs = run(inv, "rollout.logging", logging_change("50m", 5), batch=3)
    assert set(statuses(logs).values()) == {"changed"}, [f.message for f in logs.findings]
    for b in logs.meta["batches"]:
        assert sum(1 for x in b if x.startswith("orderer")) <= 1
    for n in nodes:
        doc = inspect(lab, n)
        assert doc["State"]["Running"] and doc["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": "50m", "max-file": "5"}}
    for n in ledger_nodes:
        now = heights(lab, n)
        assert all(now[ch] >= h for ch, h in h_before[n].items()), (n, h_before[n], now)
    for n, snap in before.items():
        assert prefix_intact(snap, snapshot(lab, n)) == [], f"{n} lost data"
    text = (compose_dir / "kafka2.yaml").read_text()
    assert "# kafka2 as deployed by hand" in text and "# the broker" in text
    assert "- kafka2-data:/tmp/kafka-logs" in text and "external: true" in text
    assert "max-size: 50m" in text and "max-file: '5'" in text
    assert list(compose_dir.glob("kafka2.yaml.opskit-*.bak"))

    ids = {n: inspect(lab, n)["Id"] for n in nodes}
    again_v = run(inv, "rollout.volumes", volumes_change(), batch=2)
    again_l = run(inv, "rollout.logging", logging_change("50m", 5), batch=3)
    assert set(statuses(again_v).values()) == {"unchanged"} and set(statuses(again_l).values()) == {"unchanged"}
    assert again_l.meta["summary"].startswith("nothing to change")
    assert {n: inspect(lab, n)["Id"] for n in nodes} == ids


def _cli(lab, op, node, extra):
    return [op, "--select", node, "--inventory", str(lab.inventory_path), "--settle", "1", "--gate-timeout", "60",
            "--no-backup", "--json", *extra]


@pytest.mark.parametrize("step,node", [
    ("rename", "couchdb1.org1"), ("stop", "kafka2"), ("create", "orderer3"), ("start", "zookeeper2"),
    ("gate", "peer1.org1"), ("cleanup", "cli"),
])
def test_kill_9_mid_rollout_then_rerun_completes(lab, state_dir, step, node):
    extra = ["--max-size", "20m", "--max-file", "3"]
    snap = snapshot(lab, node) if node != "cli" else {}
    h0 = heights(lab, node) if lab.node(node).operations_port else {}
    proc = run_opskit(_cli(lab, "rollout.logging", node, extra), str(state_dir))
    journal = Journal.for_operation(lab.name, "rollout.logging")
    try:
        wait_journal(journal.path, f"{node}/{step}", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert f"{node}/{step}" in journal.in_flight() or journal.path.exists()
    again = run_opskit(_cli(lab, "rollout.logging", node, extra), str(state_dir))
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, (out.decode()[-3000:], err.decode()[-2000:])
    doc = json.loads(out)
    assert doc["meta"].get("resumed_in_flight"), doc["meta"]
    c = inspect(lab, node)
    assert c["State"]["Running"] and c["HostConfig"]["LogConfig"]["Config"] == {"max-size": "20m", "max-file": "3"}
    names = subprocess.run([*lab.host(lab.node(node).host).docker, "ps", "-a", "--format", "{{.Names}}"],
                           capture_output=True, text=True).stdout
    assert "opskit-old" not in names
    assert prefix_intact(snap, snapshot(lab, node) if node != "cli" else {}) == []
    if h0:
        assert all(heights(lab, node)[ch] >= h for ch, h in h0.items())
    assert not journal.path.exists()  # finished: archived


def test_kill_9_during_volume_copy_then_rerun(lab, state_dir):
    node = "kafka3"
    make_volumeless(lab, node)
    snap = snapshot(lab, node)
    proc = run_opskit(_cli(lab, "rollout.volumes", node, []), str(state_dir))
    journal = Journal.for_operation(lab.name, "rollout.volumes")
    try:
        wait_journal(journal.path, f"{node}/copy:/tmp/kafka-logs", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    again = run_opskit(_cli(lab, "rollout.volumes", node, []), str(state_dir))
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, (out.decode()[-3000:], err.decode()[-2000:])
    assert "/tmp/kafka-logs" in mounts(lab, node)
    assert prefix_intact(snap, snapshot(lab, node)) == [] and snap
