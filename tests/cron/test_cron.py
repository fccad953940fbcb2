"""cron.install/list/remove against the real `crontab` command, and the cron wrapper's lock and log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.cron.crontab import CronError, CronJob, Crontab, default_jobs, render_block
from opskit.runlock import fleet_lock
from tests.conftest import run_inv

ROOT = Path(__file__).resolve().parents[2]
USER = "opskit-crontest"


@pytest.fixture(scope="module")
def cron_user():
    """A throwaway system user, so the tests use a real crontab without touching root's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throwaway user (the tests never touch the caller's own crontab)")
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    subprocess.run(["crontab", "-u", USER, "-r"], capture_output=True)
    yield USER
    subprocess.run(["crontab", "-u", USER, "-r"], capture_output=True)
    subprocess.run(["userdel", USER], capture_output=True)


def test_install_twice_gives_one_block_and_keeps_other_lines(cron_user, tmp_path):
    tab = Crontab(cron_user)
    tab.write("MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n")
    inv_path = str(ROOT / "inventories" / "local.yaml")
    args = ("cron.install", "--user", cron_user, "--log-dir", str(tmp_path), "--schedule", "health=*/10 * * * *")
    check = run_inv(*args, "--check", "--diff", "--detailed-exitcode")
    assert check.returncode == 1, check.stdout + check.stderr          # changes would be made
    assert "would create crontab block" in check.stdout and "check mode: 1 change would be made" in check.stdout
    assert "+# BEGIN opskit inventory=" in check.stdout and "backup.sh" not in check.stdout
    assert tab.read() == "MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n"
    first = run_inv(*args, "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["summary"]["changed"] is True and [r["check"] for r in doc["results"]] == ["cron.create"]
    second = run_inv(*args, "--json")
    doc = json.loads(second.stdout)
    assert doc["summary"]["changed"] is False and doc["results"][0]["message"].startswith("no changes")
    again = run_inv(*args, "--check", "--detailed-exitcode")
    assert again.returncode == 0 and "check mode: nothing would change" in again.stdout
    text = tab.read()
    assert text.count("# BEGIN opskit") == 1 and text.count("# END opskit") == 1
    assert text.startswith("MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n")
    assert f"*/10 * * * * {sys.executable} -m opskit.cron.run --name health --inventory {inv_path}" in text
    assert "fleet.forecast" in text and "dns.check" in text
    assert "load.tx" not in text  # local.yaml has no chaincode
    listed = run_inv("cron.list", "--user", cron_user)
    assert "--name health" in listed.stdout
    removed = run_inv("cron.remove", "--user", cron_user, "--json")
    assert json.loads(removed.stdout)["results"][0]["check"] == "cron.delete"
    assert tab.read() == "MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n"
    assert json.loads(run_inv("cron.remove", "--user", cron_user, "--json").stdout)["summary"]["changed"] is False


def test_percent_is_escaped_and_values_quoted():
    block = render_block([CronJob("health", "@hourly", ["fleet.health", "--select", "label:x=50%; rm -rf /"])],
                         inventory="/tmp/inv with space.yaml", log_dir="/tmp/logs")
    line = block.splitlines()[2]
    assert "'label:x=50\\%; rm -rf /'" in line
    assert "'/tmp/inv with space.yaml'" in line


def test_bad_schedules_are_refused():
    with pytest.raises(CronError):
        CronJob("health", "every minute", ["fleet.health"])
    with pytest.raises(CronError):
        default_jobs(False, None, {"healthz": "* * * * *"})
    res = run_inv("cron.install", "--plan", "--schedule", "health")
    assert res.returncode == 3 and "JOB=CRON" in res.stderr


def test_wrapper_logs_json_and_reports_lock_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    inv = str(ROOT / "inventories" / "local.yaml")
    logs = tmp_path / "logs"
    argv = [sys.executable, "-m", "opskit.cron.run", "--name", "health", "--inventory", inv,
            "--log-dir", str(logs), "--", "fleet.health", "--json"]
    env = {**os.environ, "OPSKIT_STATE_DIR": str(tmp_path / "state")}
    ok = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    rec = json.loads((logs / "health.jsonl").read_text().splitlines()[-1])
    assert rec["exit_code"] == ok.returncode and rec["summary"]["hosts"] == 1
    with fleet_lock(inv, "fleet.health (by hand)", scope="health"):
        busy = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert busy.returncode == 3
    rec = json.loads((logs / "health.jsonl").read_text().splitlines()[-1])
    assert f"pid {os.getpid()}" in rec["error"] and "fleet.health (by hand)" in rec["error"]


def test_crontab_block_operation_plans_applies_and_refuses_a_moved_table(cron_user, tmp_path):
    """The change contract on a real crontab: check changes nothing, a run installs, a second run plans nothing,
    a table edited between plan and apply is refused, removal plans a delete with the old block as before."""
    from opskit.change import execute
    from opskit.cron.crontab import CrontabBlock

    tab = Crontab(cron_user)
    tab.write("15 3 * * * /usr/local/bin/backup.sh\n")
    block = render_block(default_jobs(False, None), inventory="/srv/fleet.yaml", log_dir=str(tmp_path))
    op = CrontabBlock(tab, "/srv/fleet.yaml", block)
    check = execute(op, check=True)
    assert [c.action for c in check.plan.changes] == ["create"] and check.pending
    assert tab.read() == "15 3 * * * /usr/local/bin/backup.sh\n"
    assert "+# BEGIN opskit inventory=/srv/fleet.yaml" in check.findings(diff=True)[0].message
    assert "backup.sh" not in str([f.to_dict() for f in check.findings(diff=True)])   # other lines never shown
    assert execute(op).changed and tab.read().count("# BEGIN opskit") == 1
    assert not execute(op).changed and not execute(op, check=True).pending
    # a plan made, then someone edits the table: apply refuses instead of writing over the edit
    newer = CrontabBlock(tab, "/srv/fleet.yaml", block.replace("*/5 * * * *", "*/7 * * * *"))
    plan = newer.plan()
    assert [c.action for c in plan.changes] == ["update"]
    tab.write(tab.read() + "0 1 * * * /bin/true\n")
    with pytest.raises(CronError, match="changed since it was read"):
        newer.apply(plan)
    assert "*/5 * * * *" in tab.read() and "/bin/true" in tab.read()
    gone = execute(CrontabBlock(tab, "/srv/fleet.yaml", None))
    assert [(c.action, c.before == block, c.after) for c in gone.plan.changes] == [("delete", True, None)]
    assert tab.read() == "15 3 * * * /usr/local/bin/backup.sh\n0 1 * * * /bin/true\n"
