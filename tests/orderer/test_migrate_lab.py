"""orderer.migrate-raft online against the Kafka lab (tests/kafkalab.py): a full migration, a crash (kill -9) at
every step boundary followed by --resume, --abort before and after the type switch, and bad input.

Each test gets the Kafka lab reset to kafka/STATE_NORMAL (orderers, brokers, ZooKeeper and their volumes
recreated). What the stand-in orderers imitate (config rules, maintenance filter, halting after the type
switch, Raft only with its settings) and what not (real Kafka/Raft) is in docs/lab-standins.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ["system-channel", "mychannel"]


class Runner:
    """`python3 -m opskit orderer.*` against one lab, with its own state dir (journal, locks)."""

    def __init__(self, lab, state_dir: Path, inventory: Path | None = None) -> None:
        self.lab = lab
        self.state_dir = state_dir
        self.inventory = inventory or lab.inventory_path

    def __call__(self, task: str, *args: str, crash: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "220", "OPSKIT_STATE_DIR": str(self.state_dir)}
        env.pop("OPSKIT_TEST_CRASH_AT", None)
        if crash:
            env["OPSKIT_TEST_CRASH_AT"] = crash
        argv = [sys.executable, "-m", "opskit", task, "-i", str(self.inventory), *args]
        if task == "orderer.migrate-raft":
            argv += ["--consenters", str(self.lab.consenters_file), "--backup-dir", "/var/hyperledger/opskit-backups",
                     "--wait", "60"]
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict:
        res = self("orderer.migration-status", "--json")
        assert res.returncode in (0, 1, 2), res.stderr
        return json.loads(res.stdout)

    def states(self) -> dict[str, set[str]]:
        doc = self.status()
        return {r["node"]: set(r["data"]["states"].values()) for r in doc["results"] if r["check"] == "migration.state"}

    @property
    def journal(self) -> Path:
        return self.state_dir / "journal" / self.lab.name / "orderer.migrate-raft.jsonl"


@pytest.fixture
def run(kafka_lab, tmp_path) -> Runner:
    return Runner(kafka_lab, tmp_path / "state")


def assert_migrated(run: Runner) -> None:
    doc = run.status()
    states = [r for r in doc["results"] if r["check"] == "migration.state"]
    assert {r["node"] for r in states} == set(CHANNELS)
    for r in states:
        assert set(r["data"]["states"].values()) == {"etcdraft-normal"}, r
        assert len(r["data"]["states"]) == 4 and len(r["data"]["leaders"]) == 1, r
        assert r["severity"] == "ok", r
    assert doc["summary"]["exit_code"] == 0, doc


def orderer_env(lab, node: str) -> dict[str, str]:
    n = lab.node(node)
    proc = subprocess.run([*lab.host(n.host).docker, "inspect", "--format", "{{json .Config.Env}}", n.container],
                          capture_output=True, text=True, check=True)
    return dict(item.split("=", 1) for item in json.loads(proc.stdout))


def test_plan_reads_everything_and_changes_nothing(run):
    res = run("orderer.migrate-raft", "--plan", "--json")
    assert res.returncode == 0, res.stderr + res.stdout
    results = json.loads(res.stdout)["results"]
    checks = [r["check"] for r in results]
    # every step, in the official order, system channel first
    order = [c for c in checks if c.startswith("plan.") and c != "plan.change"]
    assert order[:3] == ["plan.enter-maintenance/system-channel", "plan.enter-maintenance/mychannel",
                         "plan.backup/stop-orderers"]
    assert order[-2:] == ["plan.exit-maintenance/system-channel", "plan.exit-maintenance/mychannel"]
    assert "plan.verify-leaders" in order and "plan.restart-raft/orderer4" in order
    step1 = next(r for r in results if r["check"] == "plan.enter-maintenance/mychannel")
    assert any("STATE_NORMAL" in c and "STATE_MAINTENANCE" in c for c in step1["data"]["changes"]), step1
    step2 = next(r for r in results if r["check"] == "plan.switch-type/system-channel")
    assert step2["data"]["update"]["write_set"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["type"] \
        == "etcdraft"
    assert any(r["check"] == "backup.room" and r["severity"] == "ok" for r in results)
    assert any(r["check"] == "node.version" for r in results)
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    assert not run.journal.exists()


def test_full_migration_then_idempotent_then_abort_refused(run):
    res = run("orderer.migrate-raft", "--json")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    steps = [r["check"] for r in json.loads(res.stdout)["results"] if r["check"].startswith("step.")]
    assert steps[0] == "step.enter-maintenance/system-channel" and steps[-1] == "step.exit-maintenance/mychannel"
    assert_migrated(run)
    for i in range(1, 5):
        env = orderer_env(run.lab, f"orderer{i}")
        assert env.get("ORDERER_CONSENSUS_WALDIR"), env
    assert not run.journal.exists()  # archived when finished
    again = run("orderer.migrate-raft")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    refused = run("orderer.migrate-raft", "--abort")
    assert refused.returncode == 2 and "point of no return" in refused.stderr, refused.stderr
    assert_migrated(run)


def test_crash_at_every_step_boundary_then_resume(run):
    """kill -9 right after each step (and at the start of some), resume each time: same end state."""
    from opskit.orderer.migrate import MigrateOptions, Migration

    inv = run.lab.inventory()
    names = Migration(inv, MigrateOptions()).step_names()
    boundaries = [f"{n}:done" for n in names] + ["switch-type/mychannel:begin", "backup/copy:begin",
                                                  "restart-raft/orderer2:begin"]
    # the order the run meets them in
    order = {n: i for i, n in enumerate(names)}
    boundaries.sort(key=lambda b: (order[b.split(":")[0]], b.endswith(":done")))
    first = True
    for b in boundaries:
        args = [] if first else ["--resume"]
        res = run("orderer.migrate-raft", *args, crash=b)
        assert res.returncode == -signal.SIGKILL, (b, res.returncode, res.stderr[-2000:], res.stdout[-2000:])
        assert f"killing myself (-9) at {b}" in res.stderr
        first = False
        # the journal says where it stopped; the network is in a defined state that status can read
        events = [json.loads(line) for line in run.journal.read_text().splitlines()]
        step, phase = b.split(":")
        assert (events[-1]["step"], events[-1]["phase"]) == (step, phase), events[-1]
    res = run("orderer.migrate-raft", "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    assert_migrated(run)


def test_abort_before_type_switch_exits_maintenance(run):
    res = run("orderer.migrate-raft", crash="backup/start-orderers:done")
    assert res.returncode == -signal.SIGKILL
    assert run.states() == {ch: {"kafka-maintenance"} for ch in CHANNELS}
    plain = run("orderer.migrate-raft")
    assert plain.returncode == 3 and "--resume" in plain.stderr and "--abort" in plain.stderr
    res = run("orderer.migrate-raft", "--abort", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    assert not run.journal.exists()


def test_abort_after_type_switch_restores_backups(run):
    res = run("orderer.migrate-raft", crash="restart-raft/orderer2:done")
    assert res.returncode == -signal.SIGKILL
    assert run.states() == {ch: {"etcdraft-maintenance"} for ch in CHANNELS}
    assert orderer_env(run.lab, "orderer1").get("ORDERER_CONSENSUS_WALDIR")
    res = run("orderer.migrate-raft", "--abort", "--json")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    checks = [r["check"] for r in json.loads(res.stdout)["results"]]
    assert "step.abort/restore" in checks
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    for i in range(1, 5):
        assert "ORDERER_CONSENSUS_WALDIR" not in orderer_env(run.lab, f"orderer{i}")
    assert not run.journal.exists()
    # a fresh plan from there sees a Kafka network again
    res = run("orderer.migrate-raft", "--plan", "--json")
    assert res.returncode == 0, res.stderr[-3000:]


def test_bad_input_changes_nothing(run, tmp_path):
    lab = run.lab
    # a channel left out
    res = run("orderer.migrate-raft", "--channels", "mychannel")
    assert res.returncode == 3 and "leaves out system-channel" in res.stderr
    # wrong consenter certs: orderer2's server cert swapped for orderer1's -> SAN mismatch
    yaml = YAML()
    doc = yaml.load(Path(lab.consenters_file).read_text())
    base = Path(lab.consenters_file).parent
    doc["consenters"][1]["server_tls_cert"] = str(base / doc["consenters"][0]["server_tls_cert"])
    for c in doc["consenters"]:
        for key in ("client_tls_cert", "server_tls_cert"):
            c[key] = str(base / c[key]) if not os.path.isabs(str(c[key])) else c[key]
    bad = tmp_path / "consenters.yaml"
    with open(bad, "w") as fh:
        yaml.dump(doc, fh)
    argv = [sys.executable, "-m", "opskit", "orderer.migrate-raft", "-i", str(lab.inventory_path),
            "--consenters", str(bad), "--json"]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OPSKIT_STATE_DIR": str(run.state_dir)})
    assert res.returncode == 2, res.stderr
    crit = [r for r in json.loads(res.stdout)["results"] if r["severity"] == "critical"]
    assert any("orderer1.ordererorg2.example.com" in r["message"] for r in crit), crit
    assert not run.journal.exists()
    # an orderer down at precheck
    n = lab.node("orderer3")
    subprocess.run([*lab.host(n.host).docker, "stop", "-t", "2", n.container], check=True, capture_output=True)
    try:
        res = run("orderer.migrate-raft", "--json")
        assert res.returncode == 2, res.stderr
        crit = [r for r in json.loads(res.stdout)["results"] if r["severity"] == "critical"]
        assert any(r["check"] == "orderer.reachable" and "orderer3" in r["message"] for r in crit), crit
    finally:
        subprocess.run([*lab.host(n.host).docker, "start", n.container], check=True, capture_output=True)
    assert not run.journal.exists()
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}


def test_update_refused_by_orderer_stops_cleanly(run, tmp_path):
    """Only two orderer-org admin MSPs: the first update cannot be authorised; the run stops with the journal
    consistent, and --abort closes it."""
    yaml = YAML()
    doc = yaml.load(Path(run.lab.inventory_path).read_text())
    for org in ("ordererorg3", "ordererorg4"):
        del doc["orgs"][org]["admin_msp_path"]
    inv = tmp_path / "inv.yaml"
    with open(inv, "w") as fh:
        yaml.dump(doc, fh)
    r2 = Runner(run.lab, run.state_dir, inv)
    res = r2("orderer.migrate-raft", "--json")
    assert res.returncode == 2, res.stderr
    crit = [r for r in json.loads(res.stdout)["results"] if r["severity"] == "critical"]
    assert any("enter-maintenance/system-channel" in r["message"] and "not satisfied" in r["message"] for r in crit), crit
    events = [json.loads(line) for line in r2.journal.read_text().splitlines()]
    assert (events[-1]["step"], events[-1]["phase"]) == ("enter-maintenance/system-channel", "failed")
    assert r2.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    res = run("orderer.migrate-raft", "--abort")
    assert res.returncode == 0, res.stderr
    assert not run.journal.exists()
