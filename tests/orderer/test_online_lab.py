"""orderer.config / orderer.set-batch online, against the lab: the real `peer channel fetch|signconfigtx|update`
command lines run in the lab's tools container, whose stand-in orderers apply updates with the orderer's rules
(docs/lab-standins.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import run_inv

ROOT = Path(__file__).resolve().parents[2]


def opskit(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run_inv(*args, program="opskit", timeout=timeout, env={"COLUMNS": "200", **(env or {})})


def configs_by_orderer(lab, channel: str) -> dict:
    """channel config of every orderer, read with the library (independent of the tasks under test)."""
    from opskit.orderer.online import ChannelAdmin
    from opskit.remote import Engine

    inv = lab.inventory()
    with Engine(inv) as engine:
        admin = ChannelAdmin(inv, lambda h: engine.session(inv.hosts[h]))
        try:
            got = admin.fetch_all(channel)
        finally:
            admin.close()
    return got


def heights(lab, channel: str) -> dict[str, int]:
    from opskit_lab.standin.launch import get

    out = {}
    for n in lab.topology.orderers:
        code, body = get(lab.operations_url(n.name), "/lab/state")
        assert code == 200
        out[n.name] = json.loads(body)["heights"][channel]
    return out


@pytest.fixture
def batch_restored(lab):
    """Put mychannel's BatchTimeout back to what it was after the test (the lab is shared by the session)."""
    from opskit.orderer.config import get_batch_timeout

    before = get_batch_timeout(next(iter(configs_by_orderer(lab, "mychannel").values())).config)
    yield before
    now = get_batch_timeout(next(iter(configs_by_orderer(lab, "mychannel").values())).config)
    if now != before:
        res = opskit("orderer.set-batch", "mychannel", "--timeout", before, "-i", str(lab.inventory_path))
        assert res.returncode == 0, res.stderr


def test_config_online_matches_every_orderer(lab):
    res = opskit("orderer.config", "mychannel", "-i", str(lab.inventory_path), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    # the lab's mychannel ledgers are the real network's (fixture 03): its last config block (42, sequence 43)
    # has the batch parameters back at 2s / 10 after the fixture's test updates
    assert doc["consensus"]["type"] == "etcdraft" and doc["consensus"]["state"] == "STATE_NORMAL"
    assert doc["batch_timeout"] == "2s" and doc["batch_size"]["max_message_count"] == 10
    got = configs_by_orderer(lab, "mychannel")
    assert len(got) == 4 and all(not isinstance(f, Exception) for f in got.values()), got
    assert {f.config.sequence for f in got.values()} == {doc["sequence"]}
    text = opskit("orderer.config", "mychannel", "-i", str(lab.inventory_path))
    assert text.returncode == 0 and "etcdraft  STATE_NORMAL" in text.stdout and "config block" in text.stdout


def test_set_batch_plan_then_apply_then_nothing(lab, batch_restored):
    from opskit.orderer.config import get_batch_timeout

    inv = str(lab.inventory_path)
    seq0 = {f.config.sequence for f in configs_by_orderer(lab, "mychannel").values()}
    h0 = heights(lab, "mychannel")
    plan = opskit("orderer.set-batch", "mychannel", "--timeout", "5s", "--plan", "-i", inv, "--json")
    assert plan.returncode == 0, plan.stderr
    results = json.loads(plan.stdout)["results"]
    assert any("BatchTimeout" in r["message"] and "2s" in r["message"] and "5s" in r["message"] for r in results), results
    assert {f.config.sequence for f in configs_by_orderer(lab, "mychannel").values()} == seq0  # plan changed nothing
    assert heights(lab, "mychannel") == h0

    res = opskit("orderer.set-batch", "mychannel", "--timeout", "5s", "-i", inv, "--json")
    assert res.returncode == 0, res.stderr
    update = next(r for r in json.loads(res.stdout)["results"] if r["check"] == "batch.update")
    assert sorted(update["data"]["verified_on"]) == ["orderer1", "orderer2", "orderer3", "orderer4"]
    got = configs_by_orderer(lab, "mychannel")
    assert {get_batch_timeout(f.config) for f in got.values()} == {"5s"}
    assert {f.config.sequence for f in got.values()} == {max(seq0) + 1}
    assert heights(lab, "mychannel") == {n: h + 1 for n, h in h0.items()}  # one config block on every orderer

    again = opskit("orderer.set-batch", "mychannel", "--timeout", "5s", "-i", inv)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert {f.config.sequence for f in configs_by_orderer(lab, "mychannel").values()} == {max(seq0) + 1}


def test_set_batch_without_enough_admins_submits_nothing(lab, tmp_path):
    """MAJORITY of 4 orderer orgs needs 3 admins: with only 2 MSPs in the inventory opskit stops before submitting."""
    yaml = YAML()
    doc = yaml.load(lab.inventory_path.read_text())
    for org in ("ordererorg3", "ordererorg4"):
        del doc["orgs"][org]["admin_msp_path"]
    inv = tmp_path / "inv.yaml"
    with open(inv, "w") as fh:
        yaml.dump(doc, fh)
    seq0 = {f.config.sequence for f in configs_by_orderer(lab, "mychannel").values()}
    res = opskit("orderer.set-batch", "mychannel", "--timeout", "7s", "-i", str(inv))
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "OrdererOrg1MSP, OrdererOrg2MSP" in res.stderr and "not satisfied" in res.stderr
    assert {f.config.sequence for f in configs_by_orderer(lab, "mychannel").values()} == seq0


def test_set_batch_bad_input_changes_nothing(lab):
    inv = str(lab.inventory_path)
    res = opskit("orderer.set-batch", "nochannel", "--timeout", "5s", "-i", inv)
    assert res.returncode == 3 and "unknown channel 'nochannel'" in res.stderr
    res = opskit("orderer.set-batch", "mychannel", "--timeout", "5 parsecs", "-i", inv)
    assert res.returncode == 3 and "5 parsecs" in res.stderr
    res = opskit("orderer.set-batch", "mychannel", "--max-message-count", "ten", "-i", inv)
    assert res.returncode == 3 and "whole number" in res.stderr
