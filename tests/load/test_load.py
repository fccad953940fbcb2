"""load.tx against the lab: round-robin over every orderer through the cli container, faults, budget, lock, cron."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.inventory import load_inventory
from opskit_lab.wait import wait_for
from opskit.load.tx import BudgetOptions, LoadOptions, plan_load, run_load
from opskit.runlock import lock_path
from tests.conftest import inv_argv

from .conftest import ORDERERS, orderer_state, tx_mode

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def _ordered(lab) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {o: orderer_state(lab, o)["tx"]["ordered"] for o in ORDERERS}


def _by_node(report, check: str) -> dict:  # type: ignore[no-untyped-def]
    return {f.node: f for f in report.findings if f.check == check}


def test_load_spreads_evenly_over_every_orderer_and_continues_across_runs(lab, lab_inv: Path) -> None:
    inv = load_inventory(str(lab_inv))
    plan = plan_load(inv)
    assert [o.name for o in plan.orderers] == ORDERERS
    assert plan.cli_container == "cli" and plan.cli_host == lab.node("cli").host
    # -o is the orderer's host address and listen port, as the inventory says
    assert plan.orderers[1].endpoint == f"{lab.host_of('orderer2').address}:{lab.node('orderer2').ports['listen']}"
    before = _ordered(lab)

    report = run_load(inv, plan, LoadOptions(rate_per_min=600, count=8, confirm_timeout=5))
    assert report.exit_code == 0, [f.message for f in report.findings]
    per = report.meta["per_orderer"]
    assert {o: per[o]["attempted"] for o in ORDERERS} == {o: 2 for o in ORDERERS}
    assert report.meta["totals"] == {"attempted": 8, "ok": 8, "failed": 0, "unchanged": 0, "query_failed": 0}
    # the orderers' own counters agree: every orderer really ordered two transactions
    after = _ordered(lab)
    assert {o: after[o] - before[o] for o in ORDERERS} == {o: 2 for o in ORDERERS}
    # every transaction moved the value by one (invoke K K-b 1)
    txs = report.meta["transactions"]
    assert [int(t["before"] or 0) - int(t["after"]) for t in txs] == [1] * 8
    assert _by_node(report, "load.spread")[None].data["spread"] == 0

    # cron sends few transactions per run: the round-robin goes on where the last run stopped
    r1 = run_load(inv, plan, LoadOptions(rate_per_min=600, count=3, confirm_timeout=5))
    r2 = run_load(inv, plan, LoadOptions(rate_per_min=600, count=1, confirm_timeout=5))
    assert [t["orderer"] for t in r1.meta["transactions"] + r2.meta["transactions"]] == ORDERERS
    assert r2.meta["state"]["next_orderer"] == "orderer1"


def test_load_catches_an_orderer_that_accepts_without_changing_the_value(lab, lab_inv: Path) -> None:
    inv = load_inventory(str(lab_inv))
    tx_mode(lab, "orderer2", "drop")     # says SUCCESS, never orders
    tx_mode(lab, "orderer3", "refuse")   # SERVICE_UNAVAILABLE
    report = run_load(inv, plan_load(inv), LoadOptions(rate_per_min=600, count=8, confirm_timeout=1))
    assert report.exit_code == 2
    found = _by_node(report, "load.orderer")
    assert found["orderer1"].severity.label() == "ok" and found["orderer4"].severity.label() == "ok"
    o2, o3 = found["orderer2"], found["orderer3"]
    assert o2.severity.label() == "critical"
    assert (o2.data["ok"], o2.data["failed"], o2.data["unchanged"]) == (0, 0, 2)
    assert "2 invoke ok but query unchanged" in o2.message
    assert o3.severity.label() == "critical"
    assert (o3.data["ok"], o3.data["failed"], o3.data["unchanged"]) == (0, 2, 0)
    assert "got unexpected status: SERVICE_UNAVAILABLE" in o3.message
    assert report.meta["totals"] == {"attempted": 8, "ok": 4, "failed": 2, "unchanged": 2, "query_failed": 0}
    states = {o: orderer_state(lab, o)["tx"] for o in ("orderer2", "orderer3")}
    assert states["orderer2"]["dropped"] >= 2 and states["orderer3"]["refused"] >= 2


def test_daily_budget_caps_the_transactions(lab, lab_inv: Path) -> None:
    inv = load_inventory(str(lab_inv))
    plan = plan_load(inv)
    r1 = run_load(inv, plan, LoadOptions(rate_per_min=600, count=5, confirm_timeout=5,
                                         budget=BudgetOptions(tx_per_day=3)))
    assert r1.meta["totals"]["attempted"] == 3
    assert "daily budget spent with this run: 3 of 3 tx today" in _by_node(r1, "load.budget")[None].message
    r2 = run_load(inv, plan, LoadOptions(rate_per_min=600, count=5, budget=BudgetOptions(tx_per_day=3)))
    assert r2.meta["totals"]["attempted"] == 0 and r2.meta["planned"] == 0
    assert "daily budget spent: 3 of 3 tx today (UTC); no transaction until" in _by_node(r2, "load.budget")[None].message

    # from the disks: the headroom under 90% on the tightest ledger disk of the channel, over 90 days
    def allowance() -> float:
        out = []
        for h in {lab.node(n).host for n in inv.channels["mychannel"].orderers + inv.channels["mychannel"].peers}:
            st = os.statvfs(lab.host(h).disk_mnt)
            used, avail = (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize
            out.append(max(0.0, 0.9 * (used + avail) - used) / 90 / 4000)
        return min(out)

    low = allowance()
    r3 = run_load(inv, plan, LoadOptions(rate_per_min=600, count=1, confirm_timeout=5,
                                         budget=BudgetOptions(days=90, block_bytes=4000)))
    high = allowance()
    cap = r3.meta["budget"]["tx_per_day_cap"]
    assert math.floor(min(low, high) * 0.99) <= cap <= math.ceil(max(low, high) * 1.01)
    assert r3.meta["budget"]["source"] == "disk" and set(r3.meta["budget"]["hosts"]) == set(lab.hosts)
    assert r3.meta["totals"]["attempted"] == 1


def test_two_concurrent_runs_one_lock_holder_and_the_cron_wrapper(lab, lab_inv: Path, state_dir: Path,
                                                                  tmp_path: Path) -> None:
    env = {**os.environ, "OPSKIT_STATE_DIR": str(state_dir), "COLUMNS": "200"}
    first = subprocess.Popen(inv_argv("load.tx", "-i", str(lab_inv), "--rate", "60/min", "--duration", "4s", "--json"),
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = lock_path(str(lab_inv), "load")
        wait_for(lambda: path.exists() and json.loads(path.read_text() or "{}").get("pid") == first.pid,
                 timeout=20, what="the first run to hold the load lock")
        second = subprocess.run(inv_argv("load.tx", "-i", str(lab_inv), "--count", "1"), cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 3
        assert f"(load) is locked by pid {first.pid} (load.tx)" in second.stderr
        assert "wait for it to finish" in second.stderr
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    doc = json.loads(out)
    assert doc["summary"]["exit_code"] == 0
    totals = doc["meta"]["totals"]                    # 60/min for 4 s: at most the slots at 0, 1, 2, 3 s
    assert 1 <= totals["attempted"] == totals["ok"] <= 4

    # cron takes the job's lock (scope "load") and runs load.tx, which runs under its parent's lock
    log_dir = tmp_path / "cron"
    res = subprocess.run([sys.executable, "-m", "opskit.cron.run", "--name", "load", "--inventory", str(lab_inv),
                          "--log-dir", str(log_dir), "--lock-scope", "load", "--",
                          "load.tx", "--rate", "600/min", "--count", "2", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    record = json.loads((log_dir / "load.jsonl").read_text().splitlines()[-1])
    assert record["exit_code"] == 0 and record["summary"]["exit_code"] == 0, record


def test_each_orderer_gets_its_own_tls_ca():
    """Issue 14 defect 8: one --cafile for every orderer failed TLS for orderers of other orgs."""
    from opskit.inventory.model import Inventory
    from opskit.load.tx import plan_load

    inv = Inventory.model_validate({
        "hosts": {"vm1": {"address": "192.0.2.1"}, "vm2": {"address": "192.0.2.2"}},
        "orgs": {"o1": {"domain": "o1.example.com", "msp_id": "O1MSP", "kind": "orderer"},
                 "o2": {"domain": "o2.example.com", "msp_id": "O2MSP", "kind": "orderer"}},
        "nodes": {"orderer1": {"kind": "orderer", "host": "vm1", "org": "o1", "listen_port": 7050,
                               "tls_ca_file": "/crypto/o1/tlsca.pem"},
                  "orderer2": {"kind": "orderer", "host": "vm2", "org": "o2", "listen_port": 7050,
                               "tls_ca_file": "/crypto/o2/tlsca.pem"},
                  "cli": {"kind": "cli", "host": "vm1"}},
        "channels": {"mychannel": {"orderers": ["orderer1", "orderer2"]}},
        "chaincode": {"name": "cc", "channel": "mychannel", "invoke_args": ["inc"], "query_args": ["get"]},
    })
    plan = plan_load(inv)
    assert [o.tls_args for o in plan.orderers] == [["--tls", "--cafile", "/crypto/o1/tlsca.pem"],
                                                   ["--tls", "--cafile", "/crypto/o2/tlsca.pem"]]
