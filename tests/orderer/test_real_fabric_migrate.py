"""orderer.migrate-raft on real Fabric 2.5.12 orderers running Kafka (a tansu broker; tests/fabriclab.py).

Each test starts from a fresh network: 3 orderer orgs on kafka/STATE_NORMAL with a system channel and mychannel,
3 peers of 2 orgs. What stays on the stand-in Kafka lab (tests/orderer/test_migrate_lab.py) and why:
the abort AFTER the type switch restores the Kafka data from the backup; tansu keeps its topics in an S3 store
(its only persistent engine in the shipped build), which a volume backup does not hold, so a real orderer would
re-read the switch from the topic after the restore.
"""

from __future__ import annotations

import json
import signal
import time

from tests.orderer.test_migrate_lab import CHANNELS
from tests.orderer.test_migrate_lab import Runner as LabRunner
from tests.orderer.test_migrate_lab import assert_migrated as lab_assert_migrated


class Runner(LabRunner):
    """The stand-in migration tests' runner (`python3 -m opskit orderer.*`, own state dir, crash hook) with more
    time for real orderers."""

    wait = 90


#: where the real-Fabric test kills the migration: a boundary of every kind of step (the stand-in test kills at
#: all the others)
REAL_BOUNDARIES = ["enter-maintenance/system-channel:done", "backup/copy:begin", "backup/start-orderers:done",
                   "switch-type/mychannel:done", "restart-raft/orderer2:begin", "verify-leaders:done"]


def assert_migrated(run: Runner) -> None:
    """Every channel etcdraft/STATE_NORMAL on the 3 real orderers with one leader, and blocks still flow."""
    lab_assert_migrated(run, orderers=3)
    f = run.lab.fabric
    before = f.wait_level()
    f.make_blocks(1)                       # the peers still receive new blocks, now ordered by Raft
    assert f.wait_level() == before + 1


def test_plan_then_migration_killed_at_step_boundaries_and_resumed(fabric_kafka_lab, tmp_path):
    """The card's `inv orderer.migrate-raft` on real orderers, end to end: the check mode changes nothing, then a
    migration killed (-9) at a boundary of every kind of step (config update, backup, type switch, Raft restart,
    leaders) and resumed each time reaches the state an uninterrupted run reaches (the stand-in lab's CLI test,
    tests/lab/test_standin_channels.py, runs one uninterrupted); a second run and a check say "nothing to do" and
    --abort is refused past the point of no return. (One test instead of an uninterrupted run plus a killed one:
    each real migration takes over a minute.)"""
    run = Runner(fabric_kafka_lab, tmp_path / "state")
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    missing = run("orderer.migrate-raft", consenters=False)
    assert missing.returncode == 3 and "--consenters" in missing.stderr, missing.stderr
    plan = run("orderer.migrate-raft", "--check", "--json")
    assert plan.returncode == 0, plan.stderr[-3000:]
    checks = [r["check"] for r in json.loads(plan.stdout)["results"]]
    assert "plan.switch-type/mychannel" in checks and not run.journal.exists()
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    boundaries = REAL_BOUNDARIES
    t0 = time.monotonic()
    for i, b in enumerate(boundaries):
        res = run("orderer.migrate-raft", *([] if i == 0 else ["--resume"]), crash=b)
        assert res.returncode == -signal.SIGKILL, (b, res.returncode, res.stderr[-2000:], res.stdout[-2000:])
        events = [json.loads(line) for line in run.journal.read_text().splitlines()]
        assert (events[-1]["step"], events[-1]["phase"]) == tuple(b.split(":")), events[-1]
    res = run("orderer.migrate-raft", "--resume", "--json")
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    print(f"migration of 3 real orderers, 2 channels, killed {len(boundaries)} times: {time.monotonic() - t0:.1f}s")
    steps = [r["check"] for r in json.loads(res.stdout)["results"] if r["check"].startswith("step.")]
    assert steps[-1] == "step.exit-maintenance/mychannel", steps
    assert_migrated(run)
    assert not run.journal.exists()
    again = run("orderer.migrate-raft")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    plan = run("orderer.migrate-raft", "--check")
    assert plan.returncode == 0 and "nothing to do" in plan.stdout, plan.stdout + plan.stderr
    refused = run("orderer.migrate-raft", "--abort")
    assert refused.returncode == 2 and "point of no return" in refused.stderr, refused.stderr


def test_abort_before_the_switch_on_real_orderers(fabric_kafka_lab, tmp_path):
    run = Runner(fabric_kafka_lab, tmp_path / "state")
    res = run("orderer.migrate-raft", crash="backup/start-orderers:done")
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert run.states() == {ch: {"kafka-maintenance"} for ch in CHANNELS}
    plain = run("orderer.migrate-raft")
    assert plain.returncode == 3 and "--resume" in plain.stderr and "--abort" in plain.stderr
    res = run("orderer.migrate-raft", "--abort", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert run.states() == {ch: {"kafka-normal"} for ch in CHANNELS}
    assert not run.journal.exists()
    f = fabric_kafka_lab.fabric
    before = f.wait_level()
    f.make_blocks(1)                     # Kafka orders normal transactions again
    assert f.wait_level() == before + 1
