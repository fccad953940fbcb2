"""ledger.* and fleet.forecast against the lab (docs/ledger.md, issue 5 "Done when"), through real SSH.

1. a STOPPED orderer's ledger read on its host gives the height its metrics showed while it ran, and verifies;
2. compare finds the exact lag of a stalled node;
3. the forecast of a disk filled at a known rate gives the right days to 90 % / 100 % (within 10 %).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from opskit.health.basic import host_paths
from opskit.health.facts import collect
from opskit.inventory import load_inventory, select
from opskit.health.forecast import DAY, SampleStore, fleet_forecast
from opskit.ledger.remote import NodeLedger, compare_targets, resolve_targets
from opskit_lab import faults
from opskit_lab.standin.launch import get
from opskit_lab.wait import wait_for
from opskit.remote.engine import Engine
from opskit.remote.session import SshSession
from tests.conftest import run_inv

ROOT = Path(__file__).resolve().parents[2]
CH = "mychannel"


def _opskit(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_inv(*args, program="opskit", timeout=timeout, env=env)


def _metric_height(lab, node: str, channel: str = CH) -> int:
    """``ledger_blockchain_height{channel}`` from the node's operations endpoint (what Prometheus scrapes)."""
    from prometheus_client.parser import text_string_to_metric_families

    code, body = get(lab.operations_url(node), "/metrics")
    assert code == 200, body[:200]
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            if s.name == "ledger_blockchain_height" and s.labels.get("channel") == channel:
                return int(s.value)
    raise AssertionError(f"{node}: no ledger_blockchain_height for {channel}")


def _state_height(lab, node: str, channel: str = CH) -> int:
    code, body = get(lab.operations_url(node), "/lab/state")
    assert code == 200
    return int(json.loads(body)["heights"][channel])


def test_stopped_orderer_ledger_over_ssh_matches_its_last_metric(lab):
    node = "orderer3"
    host = lab.node(node).host
    before = _metric_height(lab, node)
    faults.advance_chain(lab, node, 4, channel=CH)
    # the scrape re-reads the block files: wait until it shows the 4 new blocks
    metric = wait_for(lambda: (h := _metric_height(lab, node)) == before + 4 and h, timeout=10,
                      what=f"{node}'s metric to show 4 more blocks")
    assert metric > 43  # not the seed's height

    faults.stop_container(lab, node)
    container = lab.node(node).container
    wait_for(lambda: container not in lab.running_containers(host), timeout=10, what=f"{container} stopped")

    inv = load_inventory(lab.inventory_path)
    assert inv.hosts[host].connection != "local" and inv.nodes[node].ledger_path is None

    # the task, as a user runs it
    res = _opskit("ledger.height", node, "--channel", CH, "--json", "-i", str(lab.inventory_path))
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["height"] == metric and doc["channel"] == CH and doc["node"] == node and doc["host"] == host
    assert doc["mode"] == "reader" and doc["partial_tail"] is None
    # found through `docker inspect` of the stopped container's mounts (its named volume), on the host's own engine
    assert doc["found_by"] == f"mounts of container {container}"
    [vol] = [v for c, v in inv.nodes[node].volumes.items() if c.rstrip("/") == "/var/hyperledger/production/orderer"]
    assert doc["dir"] == f"/var/lib/docker/volumes/{vol}/_data/chains/{CH}"  # the host's docker data root
    assert doc["last_block"]["number"] == metric - 1

    # the library: NodeLedger over the remote engine's SSH session
    with Engine(inv) as engine:
        session = engine.session(inv.hosts[host])
        assert isinstance(session, SshSession)
        lg = NodeLedger.for_node(session, inv, inv.nodes[node], CH)
        assert lg.found_by == f"mounts of container {container}"
        h = lg.height()
        v = lg.verify()
    assert h["height"] == metric and h["currentBlockHash"] == doc["currentBlockHash"] and h["dir"] == doc["dir"]
    assert v["first_broken"] is None and v["problems"] == 0 and v["blocks"] == metric and v["height"] == metric
    assert v["partial_tail"] is None

    res = _opskit("ledger.verify", node, "--channel", CH, "--json", "-i", str(lab.inventory_path))
    assert res.returncode == 0, res.stdout + res.stderr
    rep = json.loads(res.stdout)
    [f] = [f for f in rep["results"] if f["check"] == "ledger.verify"]
    assert f["severity"] == "ok" and f["data"]["first_broken"] is None and f["data"]["blocks"] == metric
    # still stopped: the reading really was of a stopped node's files
    assert container not in lab.running_containers(host)


ORDERER_DATA = "/var/hyperledger/production/orderer"


def _chain_dir(lab, inv, node: str, channel: str = CH) -> Path:
    """The node's channel directory on its host's disk, as seen from this (root) namespace."""
    [vol] = [v for c, v in inv.nodes[node].volumes.items() if c.rstrip("/") == ORDERER_DATA]
    return lab.host_of(node).disk_docker_dir / "volumes" / vol / "_data" / "chains" / channel


def _replicate(lab, inv, src: str, dst: str, channel: str = CH) -> None:
    """Make ``dst``'s chain a byte copy of ``src``'s (``dst`` must be stalled).

    Stand-ins do not replicate: every node appends its own blocks (random tx ids), so after any test that
    advanced chains (and the fixture's levelling) two orderers share only the seed's 43 blocks. This plays
    the part of Raft replication, so the two chains really are one chain up to now.
    """
    sd, dd = _chain_dir(lab, inv, src, channel), _chain_dir(lab, inv, dst, channel)
    names = sorted(p.name for p in sd.glob("blockfile_*"))
    assert names
    for p in dd.glob("blockfile_*"):
        if p.name not in names:
            p.unlink()
    for name in names:
        tmp = dd / f".{name}.copy"
        shutil.copyfile(sd / name, tmp)
        os.replace(tmp, dd / name)  # atomic: a scrape never reads half a file


def test_compare_finds_the_lag_of_a_stalled_orderer(lab):
    n = 7  # between lag_warning_blocks (5) and lag_critical_blocks (20): WARNING, exit 1
    inv = load_inventory(lab.inventory_path)
    faults.stall_chain(lab, "orderer2")
    _replicate(lab, inv, "orderer1", "orderer2")
    h = _state_height(lab, "orderer1")
    wait_for(lambda: _state_height(lab, "orderer2") == h, timeout=10, what="orderer2 to read the replicated chain")
    with Engine(inv) as engine:
        [a] = resolve_targets("orderer1", CH, inv, engine.session)
        [b] = resolve_targets("orderer2", CH, inv, engine.session)
        assert compare_targets(a, b)["relation"] == "identical"

    # the fleet goes on, orderer2 does not
    assert faults.advance_chain(lab, "orderer2", n, channel=CH)["appended"] == 0  # stalled: ignored
    assert faults.advance_chain(lab, "orderer1", n, channel=CH)["appended"] == n
    assert (_state_height(lab, "orderer1"), _state_height(lab, "orderer2")) == (h + n, h)

    res = _opskit("ledger.compare", "orderer1", "orderer2", "--channel", CH, "--json", "-i", str(lab.inventory_path))
    assert res.returncode == 1, res.stdout + res.stderr
    rep = json.loads(res.stdout)
    [f] = rep["results"]
    d = f["data"]
    assert f["severity"] == "warning"
    assert d["relation"] == "b_prefix_of_a" and d["lag"] == n and d["first_difference"] is None
    assert (d["height_a"], d["height_b"], d["common_prefix"]) == (h + n, h, h)
    assert d["a"]["node"] == "orderer1" and d["b"]["node"] == "orderer2"
    assert d["a"]["host"] == lab.node("orderer1").host and d["b"]["host"] == lab.node("orderer2").host

    res = _opskit("ledger.compare", "orderer1", "orderer2", "--channel", CH, "-i", str(lab.inventory_path),
                  env={"COLUMNS": "250"})
    assert res.returncode == 1
    assert f"orderer2 is a strict prefix of orderer1: {n} block(s) behind" in res.stdout, res.stdout

    # the library, the other way round
    with Engine(inv) as engine:
        [a] = resolve_targets("orderer2", CH, inv, engine.session)
        [b] = resolve_targets("orderer1", CH, inv, engine.session)
        r = compare_targets(a, b)
    assert r["relation"] == "a_prefix_of_b" and r["lag"] == n and r["common_prefix"] == h


STEP_BYTES = 16 * 1024 * 1024
STEP_SECONDS = 6 * 3600.0
STEPS = 4


def test_forecast_of_a_disk_filled_at_a_known_rate(lab, tmp_path):
    """Fill vm4's disk by 16 MiB per step and take a real df sample through opskit (the health check's
    ``collect`` over SSH) after each step. Each sample is recorded with a simulated timestamp 6 hours after
    the previous one (the store's ``ts``): the forecast refuses to fit less than 6 hours of history, and a
    test cannot wait for days. So the disk grows at a known 64 MiB/day on the simulated clock; the expected
    days to 90 % and 100 % follow from that rate and the disk's size, and fleet.forecast must agree within 10 %.
    """
    host_name = "vm4"
    h = lab.host(host_name)
    files: list[Path] = []

    def undo() -> None:
        for p in files:
            p.unlink(missing_ok=True)

    lab.faults.append(faults.Fault("fill_steps", host_name, undo, lab=lab))  # the fixture removes them on failure

    inv = load_inventory(lab.inventory_path)
    host = inv.hosts[host_name]
    paths = host_paths(inv, host)
    store = SampleStore(str(tmp_path / "samples"))
    t0 = time.time() - STEPS * STEP_SECONDS  # the newest sample is "now"
    with Engine(inv) as engine:
        for i in range(STEPS + 1):
            if i:
                p = h.disk_ledger_dir / f"{faults.FILL_FILE}-step{i}"
                files.append(p)
                with open(p, "wb") as fh:
                    os.posix_fallocate(fh.fileno(), 0, STEP_BYTES)
                    os.fsync(fh.fileno())
            [r] = engine.run([host], lambda s: collect(s, paths))
            assert r.ok, r.error
            assert store.append_disks(host_name, r.value.disks, ts=t0 + i * STEP_SECONDS) >= 1
    # what df says of the lab disk right after the last step, measured here (not through opskit)
    st = os.statvfs(h.disk_mnt)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    size = used + st.f_bavail * st.f_frsize
    rate = STEP_BYTES / STEP_SECONDS * DAY
    expect90 = (0.9 * size - used) / rate
    expect100 = (size - used) / rate
    assert expect90 > 1  # a meaningful horizon (the disk is well under 90 %)

    def check(findings: list[dict]) -> None:
        lab_disk = [f for f in findings if f["host"] == host_name and "/var/hyperledger" in f["data"]["paths"]]
        assert len(lab_disk) == 1, findings
        d = lab_disk[0]["data"]
        assert d["source"] == "opskit samples" and d["samples"] == STEPS + 1
        assert d["span_days"] == pytest.approx(STEPS * STEP_SECONDS / DAY, rel=1e-6)
        assert d["size_bytes"] == pytest.approx(size, rel=0.01)
        assert d["growth_bytes_per_day"] == pytest.approx(rate, rel=0.10)
        assert d["days_to_90"] == pytest.approx(expect90, rel=0.10), (d, expect90)
        assert d["days_to_100"] == pytest.approx(expect100, rel=0.10), (d, expect100)
        # 90 % within the 90-day target but more than 7 days away is a WARNING; within 7 days CRITICAL
        assert lab_disk[0]["severity"] == ("critical" if expect90 <= 7 else "warning")

    # the library (the lab inventory's Prometheus would be the history source: use the sample store instead)
    inv.monitoring.prometheus_url = None
    report = fleet_forecast(inv, select(inv, host_name).hosts, store=store, record=False)
    check([{"host": f.host, "severity": f.severity.label(), "data": f.data} for f in report.findings])

    # the task, with an inventory copy that has no monitoring section (else the history comes from Prometheus)
    yaml = YAML()
    doc = yaml.load(Path(lab.inventory_path).read_text())
    doc.pop("monitoring", None)
    inv_copy = tmp_path / "lab-no-prometheus.yaml"
    with open(inv_copy, "w") as fh:
        yaml.dump(doc, fh)
    before = (tmp_path / "samples" / f"{host_name}.jsonl").read_text()
    res = _opskit("fleet.forecast", "--json", "-i", str(inv_copy), "--select", host_name,
                  "--samples-dir", str(tmp_path / "samples"), "--no-record")
    rep = json.loads(res.stdout)
    check(rep["results"])
    assert res.returncode == rep["summary"]["exit_code"] in (1, 2)
    assert (tmp_path / "samples" / f"{host_name}.jsonl").read_text() == before  # --no-record kept the store as is
