"""Issue 16: every task that can change a fleet has ``--check``, and ``--check`` changes nothing.

One parametrised test runs each changing task with ``--check`` (and arguments that WOULD change something where
the lab allows it) against the real-Fabric lab (tests/fabriclab.py) and compares a fingerprint of everything a
task could touch before and after: container ids, start times and log settings on every host, every org zone's
SOA serial, every node's channel heights (a config update is a block), each orderer's channel list, the crontab.
A second test checks that ``--check`` after real runs reports nothing left to do.

``CHANGING`` must name every task whose help offers ``--check``, or say where its check mode is tested instead:
a new changing task without a check test fails ``test_every_task_with_check_is_covered``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_inv

#: task -> its arguments for a check run on the real-Fabric lab ({inv} is the inventory path)
CHANGING: dict[str, list[str]] = {
    "container.replace": ["peer1.org1", "--set", "env.OPSKIT_CHECK=1"],
    "rollout.logging": ["-s", "kind:orderer", "--max-size", "20m", "--max-file", "2"],
    "rollout.volumes": ["-s", "kind:peer"],
    "dns.add": ["org1", "chk1", "10.0.0.9"],
    "dns.update": ["org1", "peer0", "10.0.0.9"],
    "dns.delete": ["org1", "peer0"],
    "dns.sync": [],
    "dns.import-extra-hosts": [],
    "orderer.set-batch": ["mychannel", "--timeout", "3s"],
    "orderer.join": ["mychannel", "--orderer", "orderer1"],
    "orderer.leave": ["mychannel", "--orderer", "orderer2"],
    "cron.install": [],
    "cron.remove": [],
    "container.truncate-log": ["peer1.org1"],
}
#: tasks with --check whose check mode is tested elsewhere (they need a Kafka lab or AWS resources)
ELSEWHERE = {
    "orderer.migrate-raft": "tests/orderer/test_real_fabric_migrate.py (Kafka lab; --check reads all, changes nothing)",
    "aws.ecr-ensure": "tests/aws/test_cli.py", "aws.ecs-deploy": "tests/aws/test_cli.py",
    "aws.ecs-rollback": "tests/aws/test_cli.py", "aws.ecs-status": "read-only (check is a no-op)",
    "aws.msk-brokers": "read-only (check is a no-op)", "aws.msk-config": "tests/aws/test_cli.py",
    "aws.msk-create": "tests/aws/test_cli.py", "aws.msk-update-config": "tests/aws/test_cli.py",
}


#: tasks that offer --check only so that every aws.* task takes the same flags: they change nothing
READ_ONLY = {"aws.ecs-status", "aws.msk-brokers"}


def _tasks_with(option: str) -> set[str]:
    from opskit.tasks import ns

    out = set()
    for name in ns.task_names:
        task = ns[name]
        if any(a.names[0].replace("-", "_") == option for a in task.get_arguments()):
            out.add(name)
    return out


def test_every_task_with_check_is_covered():
    have = _tasks_with("check")
    assert have - set(CHANGING) - set(ELSEWHERE) == set(), "a task with --check but no check test"
    assert set(CHANGING) - have == set(), "CHANGING names a task without --check"


def test_every_changing_task_has_diff_and_detailed_exitcode():
    changing = _tasks_with("check") - READ_ONLY
    assert changing - _tasks_with("diff") == set(), "a changing task without --diff"
    assert changing - _tasks_with("detailed_exitcode") == set(), "a changing task without --detailed-exitcode"


def _fingerprint(lab) -> dict[str, object]:
    from opskit.dns.zone import ZoneClient, dns_orgs
    from opskit.inventory import load_inventory

    f = lab.fabric
    out: dict[str, object] = {}
    for host in lab.topology.hosts:
        ids = f.docker(host, "ps", "-aq", "--no-trunc").stdout.decode().split()
        if ids:
            # docker lists a container's mounts in no stable order: compare them as a sorted list
            fmt = "{{.Name}} {{.Id}} {{.State.StartedAt}} {{json .HostConfig.LogConfig}}\t{{json .Mounts}}"
            rows = []
            for line in f.docker(host, "inspect", "--format", fmt, *ids).stdout.decode().splitlines():
                head, _, mounts = line.partition("\t")
                rows.append((head, sorted(f"{m.get('Destination')}<-{m.get('Name') or m.get('Source')}"
                                          for m in json.loads(mounts or "[]"))))
            out[f"containers@{host}"] = sorted(rows)
    inv = load_inventory(str(lab.inventory_path))
    out["serials"] = {org: ZoneClient.for_org(inv, org).soa()[0] for org in dns_orgs(inv)}
    out["heights"] = f.heights()
    out["channels"] = {o.name: sorted(c["name"] for c in f.channel_list(o.name).get("channels") or [])
                       for o in lab.topology.orderers}
    tab = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    out["crontab"] = tab.stdout
    return out


@pytest.mark.parametrize("task", sorted(CHANGING))
def test_check_changes_nothing(fabric_lab, task, tmp_path):
    fabric_lab.fabric.wait_level()
    before = _fingerprint(fabric_lab)
    env = {"OPSKIT_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    res = run_inv(task, *CHANGING[task], "--check", "--diff", "--detailed-exitcode", "--json", "-i",
                  str(fabric_lab.inventory_path), env=env, timeout=300)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["changed"] is False and not any(r.get("changed") for r in doc["results"]), doc
    assert _fingerprint(fabric_lab) == before
    # the summary says whether anything would change; --detailed-exitcode turns that into exit 1 / 0
    assert doc["meta"]["check"] is True, doc["meta"]
    if doc["meta"]["pending"]:
        assert res.returncode == 1, doc
        # --diff: a planned change shows what it is now and what it would be
        diffs = [r for r in doc["results"] if "before" in r["data"] or "after" in r["data"]]
        assert diffs and any("\n+" in r["message"] for r in diffs), doc["results"]
    else:
        assert res.returncode == 0 or doc["summary"]["exit_code"] == 1, doc


def test_check_after_real_runs_reports_nothing_to_do(fabric_lab, tmp_path):
    """A real run of each task on the change contract, then its --check: nothing would change (exit 0 with
    --detailed-exitcode, summary.changed false and no "would"). rollout.logging and set-batch: their own tests
    (tests/rollout/test_real_fabric_rollout.py, tests/orderer/test_real_fabric_orderer.py) run them twice."""
    inv = str(fabric_lab.inventory_path)
    env = {"OPSKIT_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    runs = [
        (["dns.add", "org1", "chk2", "10.0.0.10"], True),
        (["dns.update", "org1", "chk2", "10.0.0.11"], True),
        (["dns.delete", "org1", "chk2"], True),
    ]
    if os.geteuid() == 0 and Path("/usr/bin/crontab").exists():
        runs.append((["cron.install", "--user", "opskit-checktest"], True))
        subprocess.run(["useradd", "--system", "--no-create-home", "opskit-checktest"], capture_output=True)
    try:
        for argv, detailed in runs:
            real = run_inv(*argv, "-i", inv, "--json", env=env, timeout=600)
            assert real.returncode == 0, (argv, real.stdout[-2000:], real.stderr[-2000:])
            check = run_inv(*argv, "-i", inv, "--check", "--json", *(["--detailed-exitcode"] * detailed), env=env,
                            timeout=300)
            assert check.returncode == 0, (argv, check.stdout[-2000:], check.stderr[-2000:])
            doc = json.loads(check.stdout)
            assert doc["summary"]["changed"] is False, (argv, doc)
            assert not [r["message"] for r in doc["results"] if r["message"].startswith("would ")], (argv, doc)
    finally:
        subprocess.run(["crontab", "-u", "opskit-checktest", "-r"], capture_output=True)
        subprocess.run(["userdel", "opskit-checktest"], capture_output=True)

