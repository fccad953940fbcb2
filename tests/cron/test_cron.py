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

ROOT = Path(__file__).resolve().parents[2]
USER = "opskit-crontest"


@pytest.fixture(scope="module")
def cron_user():
    """A throwaway system user, so the tests use a real crontab without touching root's."""
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    subprocess.run(["crontab", "-u", USER, "-r"], capture_output=True)
    yield USER
    subprocess.run(["crontab", "-u", USER, "-r"], capture_output=True)
    subprocess.run(["userdel", USER], capture_output=True)


def _inv(*args, env=None):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_install_twice_gives_one_block_and_keeps_other_lines(cron_user, tmp_path):
    tab = Crontab(cron_user)
    tab.write("MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n")
    inv_path = str(ROOT / "inventories" / "local.yaml")
    first = _inv("cron.install", "--user", cron_user, "--log-dir", str(tmp_path), "--schedule", "health=*/10 * * * *")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("installed")
    second = _inv("cron.install", "--user", cron_user, "--log-dir", str(tmp_path), "--schedule", "health=*/10 * * * *")
    assert second.stdout.startswith("unchanged")
    text = tab.read()
    assert text.count("# BEGIN opskit") == 1 and text.count("# END opskit") == 1
    assert text.startswith("MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n")
    assert f"*/10 * * * * {sys.executable} -m opskit.cron.run --name health --inventory {inv_path}" in text
    assert "fleet.forecast" in text and "dns.check" in text
    assert "load.tx" not in text  # local.yaml has no chaincode
    listed = _inv("cron.list", "--user", cron_user)
    assert "--name health" in listed.stdout
    removed = _inv("cron.remove", "--user", cron_user)
    assert removed.stdout.startswith("removed")
    assert tab.read() == "MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/backup.sh\n"
    assert _inv("cron.remove", "--user", cron_user).stdout.startswith("unchanged")


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
    res = _inv("cron.install", "--plan", "--schedule", "health")
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
