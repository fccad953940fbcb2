"""orderer.migrate-raft online against the stand-in Kafka lab (tests/kafkalab.py): a crash (kill -9) at every step
boundary followed by --resume, --abort after the type switch, and bad input. The full migration, a crash at one
boundary of every kind of step and the abort before the switch run on real Fabric orderers instead
(tests/orderer/test_real_fabric_migrate.py); these stay here because a real Kafka here cannot restore its topics
from a volume backup (abort after the switch) and because 22 resumes on real orderers would take minutes.

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

from tests.conftest import run_inv

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ["system-channel", "mychannel"]


class Runner:
    """`python3 -m opskit orderer.*` against one lab, with its own state dir (journal, locks)."""

    def __init__(self, lab, state_dir: Path, inventory: Path | None = None) -> None:
        self.lab = lab
        self.state_dir = state_dir
        self.inventory = inventory or lab.inventory_path

    #: --wait of every migrate-raft run (the real-Fabric tests give real orderers more)
    wait = 60

    def __call__(self, task: str, *args: str, crash: str | None = None, consenters: bool = True,
                 timeout: float = 600) -> subprocess.CompletedProcess:
        """``crash="STEP:PHASE"``: the process kills itself (SIGKILL) at that step boundary (tests/orderer/crash_at.py,
        through the migration's step hook)."""
        env = {**os.environ, "COLUMNS": "220", "OPSKIT_STATE_DIR": str(self.state_dir)}
        program = ["tests.orderer.crash_at", crash] if crash else ["opskit"]
        argv = [sys.executable, "-m", *program, task, "-i", str(self.inventory), *args]
        if task == "orderer.migrate-raft" and consenters:
            argv += ["--consenters", str(self.lab.consenters_file), "--backup-dir", "/var/hyperledger/opskit-backups",
                     "--wait", str(self.wait)]
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


def assert_migrated(run: Runner, orderers: int = 4) -> None:
    doc = run.status()
    states = [r for r in doc["results"] if r["check"] == "migration.state"]
    assert {r["node"] for r in states} == set(CHANNELS)
    for r in states:
        assert set(r["data"]["states"].values()) == {"etcdraft-normal"}, r
        assert len(r["data"]["states"]) == orderers and len(r["data"]["leaders"]) == 1, r
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


def test_crash_at_every_step_boundary_then_resume(run):
    """kill -9 right after each step (and at the start of some), resume each time: same end state. The boundaries
    the real-Fabric test kills at (tests/orderer/test_real_fabric_migrate.py: one of every kind) are left to it;
    together the two cover every step boundary."""
    from opskit.orderer.migrate import MigrateOptions, Migration
    from tests.orderer.test_real_fabric_migrate import REAL_BOUNDARIES

    inv = run.lab.inventory()
    names = Migration(inv, MigrateOptions()).step_names()
    boundaries = [f"{n}:done" for n in names] + ["switch-type/mychannel:begin", "restart-raft/orderer3:begin"]
    boundaries = [b for b in boundaries if b not in REAL_BOUNDARIES]
    # the order the run meets them in
    order = {n: i for i, n in enumerate(names)}
    boundaries.sort(key=lambda b: (order[b.split(":")[0]], b.endswith(":done")))
    first = True
    for b in boundaries:
        args = [] if first else ["--resume"]
        res = run("orderer.migrate-raft", *args, crash=b)
        assert res.returncode == -signal.SIGKILL, (b, res.returncode, res.stderr[-2000:], res.stdout[-2000:])
        assert f"crash_at: killing myself (-9) at {b}" in res.stderr
        first = False
        # the journal says where it stopped; the network is in a defined state that status can read
        events = [json.loads(line) for line in run.journal.read_text().splitlines()]
        step, phase = b.split(":")
        assert (events[-1]["step"], events[-1]["phase"]) == (step, phase), events[-1]
    res = run("orderer.migrate-raft", "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    assert_migrated(run)


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
    res = run_inv("orderer.migrate-raft", "-i", str(lab.inventory_path), "--consenters", str(bad), "--json",
                  program="opskit", timeout=300, env={"OPSKIT_STATE_DIR": str(run.state_dir)})
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
