"""The offline orderer.* tasks, run through `inv` as an operator would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from opskit.orderer import config as C
from opskit.orderer import update as U

from tests.conftest import run_inv

from .conftest import KAFKA_GENESIS, MIG, MYCHANNEL_KAFKA, STEPS, UPD, load_json


def _inv(*args: str) -> subprocess.CompletedProcess[str]:
    return run_inv(*args, env={"COLUMNS": "200"})


def test_compute_update_task(tmp_path):
    out = tmp_path / "step2.pb"
    res = _inv("orderer.compute-update", "--original", str(MIG / "step2_to_etcdraft.original.pb"),
               "--updated", str(MIG / "step2_to_etcdraft.modified.pb"), "--channel", "system-channel",
               "--output", str(out), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["exit_code"] == 0
    got = U.load_update_file(out)
    assert got.channel_id == "system-channel"
    assert C.render_update(got.update) == load_json(MIG / "step2_to_etcdraft.update.json")
    # the review copy next to it is the decoded envelope
    review = json.loads(Path(str(out) + ".json").read_text())
    assert review["payload"]["data"]["config_update"] == load_json(MIG / "step2_to_etcdraft.update.json")
    # a bare common.Config has no channel ID: the task asks for it
    res = _inv("orderer.compute-update", "--original", str(MIG / "step1_to_maintenance.original.pb"),
               "--updated", str(MIG / "step1_to_maintenance.modified.pb"), "--output", str(tmp_path / "x.pb"))
    assert res.returncode == 3 and "give the channel (--channel)" in res.stderr
    assert not (tmp_path / "x.pb").exists()


def test_set_batch_task_writes_u03(tmp_path, mychannel_chain):
    block2 = tmp_path / "mychannel_config.pb"
    block2.write_bytes(mychannel_chain[2].config.SerializeToString())
    out = tmp_path / "u03.pb"
    res = _inv("orderer.set-batch", "mychannel", "--config-block", str(block2), "--timeout", "3s",
               "--output", str(out))
    assert res.returncode == 0, res.stderr + res.stdout
    assert C.render_update(U.load_update_file(out).update) == load_json(UPD / "u03_batchtimeout_3s/update.json")
    # --plan writes nothing and shows the change
    res = _inv("orderer.set-batch", "mychannel", "--config-block", str(block2), "--max-message-count", "20",
               "--plan", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    update = [r for r in doc["results"] if r["check"] == "update"][0]
    assert update["data"]["files"] == []
    assert update["data"]["update"] == load_json(UPD / "u05_maxmsgcount_20/update.json")
    # bad values: clear error, exit 3, no file
    res = _inv("orderer.set-batch", "mychannel", "--config-block", str(block2), "--preferred-max-bytes", "999999999",
               "--output", str(tmp_path / "bad.pb"))
    assert res.returncode == 3 and "greater than absolute_max_bytes" in res.stderr
    assert not (tmp_path / "bad.pb").exists()
    res = _inv("orderer.set-batch", "system-channel", "--config-block", str(KAFKA_GENESIS), "--timeout", "1s",
               "--output", str(tmp_path / "y.pb"))
    assert res.returncode == 0, res.stderr
    res = _inv("orderer.set-batch", "mychannel", "--config-block", str(KAFKA_GENESIS), "--timeout", "1s",
               "--output", str(tmp_path / "z.pb"))
    assert res.returncode == 3 and "is for channel 'system-channel', not 'mychannel'" in res.stderr


def test_config_task():
    res = _inv("orderer.config", "system-channel", "--config-block", str(KAFKA_GENESIS), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["consensus"]["type"] == "kafka" and doc["batch_timeout"] == "2s"
    assert doc["capabilities"] == {"channel": ["V2_0"], "orderer": ["V2_0"]}
    res = _inv("orderer.config", "system-channel", "--config-block", str(KAFKA_GENESIS))
    assert res.returncode == 0 and "kafka  STATE_NORMAL" in res.stdout
    res = _inv("orderer.config", "system-channel")
    # online without a tools container in the inventory: a clear error, nothing contacted
    assert res.returncode == 3 and "no node of kind cli" in res.stderr


def test_migrate_raft_task(tmp_path, consenters_file):
    out = tmp_path / "updates"
    res = _inv("orderer.migrate-raft", "--config-block", str(KAFKA_GENESIS), "--config-block", str(MYCHANNEL_KAFKA),
               "--consenters", str(consenters_file), "--output-dir", str(out), "--json")
    assert res.returncode == 0, res.stderr + res.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert plan["system_channel"] == "system-channel"
    assert [(s["step"], s["channel"]) for s in plan["steps"]] == [
        (1, "system-channel"), (1, "mychannel"), (2, "system-channel"), (2, "mychannel"),
        (3, "system-channel"), (3, "mychannel")]
    for step in STEPS:
        got = U.load_update_file(out / step / "00-system-channel.pb")
        assert got.channel_id == "system-channel"
        assert C.render_update(got.update) == load_json(MIG / f"{step}.update.json"), step
        assert U.load_update_file(out / step / "01-mychannel.pb").channel_id == "mychannel"

    # --plan writes nothing
    res = _inv("orderer.migrate-raft", "--config-block", str(KAFKA_GENESIS), "--consenters", str(consenters_file),
               "--plan", "--json")
    assert res.returncode == 0, res.stderr
    assert [r["check"] for r in json.loads(res.stdout)["results"]][-3:] == [f"plan.{s}" for s in STEPS]


def test_migrate_raft_refuses_bad_consenters(tmp_path, consenters_file):
    (consenters_file.parent / "orderer2-server.crt").write_text("garbage\n")
    out = tmp_path / "updates"
    res = _inv("orderer.migrate-raft", "--config-block", str(KAFKA_GENESIS), "--consenters", str(consenters_file),
               "--output-dir", str(out), "--json")
    assert res.returncode == 2, res.stderr
    bad = [r for r in json.loads(res.stdout)["results"] if r["severity"] == "critical"]
    assert len(bad) == 1 and "orderer1.ordererorg2.example.com:7050 server_tls_cert: not a PEM X.509" in bad[0]["message"]
    assert not out.exists()
    res = _inv("orderer.migrate-raft", "--config-block", str(KAFKA_GENESIS), "--consenters", str(consenters_file),
               "--resume")
    assert res.returncode == 3 and "belong to the online migration" in res.stderr


def test_migration_status_task():
    res = _inv("orderer.migration-status", "--config-block", str(KAFKA_GENESIS),
               "--config-block", str(MIG / "step2_to_etcdraft.update_in_envelope.pb"), "--json")
    # the second file is an update, not a config: clear error
    assert res.returncode == 3 and "not a config block" in res.stderr
    res = _inv("orderer.migration-status", "--config-block", str(KAFKA_GENESIS), "--json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["results"][0]["data"]["state"] == "kafka-normal"
