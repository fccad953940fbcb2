"""On the lab: D13 (the gate with a node lagging more than --max-lag), D7 (audit with a frozen dockerd),
D10 (a node container restarting, first health run), D5 (--json plan of a secret --set)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from opskit.container.docker import DockerHost
from opskit.container.gate import GateFailed, GateOptions, wait_healthy
from opskit.inventory import select
from opskit_lab import faults, procs
from opskit_lab.wait import wait_for
from opskit.output.report import Severity
from opskit.remote import Engine
from opskit.rollout.audit import audit_logs
from tests.container.helpers import advance_all, heights

pytestmark = pytest.mark.lab
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_gate_with_a_node_lagging_beyond_max_lag_fails_cleanly(lab):
    node = "peer1.org1"
    faults.stall_chain(lab, node)
    advance_all(lab, 4)
    h = heights(lab, node)
    inv = lab.inventory()
    n = inv.nodes[node]
    with Engine(inv) as engine:
        hosts: dict[str, DockerHost] = {}

        def host(name: str) -> DockerHost:
            return hosts.setdefault(name, DockerHost(inv.hosts[name], lambda x: engine.session(x)))

        with pytest.raises(GateFailed, match="blocks behind the best") as exc:
            wait_healthy(inv, n, host(n.host), host, dict(h), GateOptions(timeout=4, max_lag=1, settle=0.5, poll=0.3))
    assert "TypeError" not in repr(exc.value)


def test_audit_with_a_frozen_dockerd_is_not_ok(lab):
    host = "vm3"
    h = lab.host(host)
    pid = procs.read_pid(h.pid_dockerd)
    assert pid
    inv = lab.inventory()
    os.kill(pid, signal.SIGSTOP)
    try:
        report = audit_logs(inv, select(inv, f"host:{host}"))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert report.exit_code != 0, [f.message for f in report.findings]
    docker = [f for f in report.findings if f.check == "docker"]
    assert docker and docker[0].severity is Severity.CRITICAL, [f.message for f in report.findings]


def test_restarting_node_container_is_reported_on_the_first_health_run(lab, tmp_path):
    node = lab.node("kafka1")
    h = lab.host(node.host)
    subprocess.run([*h.docker, "update", "--restart", "always", node.container], check=True, capture_output=True)
    try:
        def state() -> dict:
            return json.loads(subprocess.run([*h.docker, "inspect", node.container], check=True,
                                             capture_output=True).stdout)[0]

        for _ in range(2):  # the process dies twice; the engine restarts it (RestartCount 2)
            before = wait_for(lambda: (lambda s: s if s["State"]["Running"] and int(s["State"]["Pid"]) > 1 else None)(
                state()), timeout=60, what=f"{node.container} running")
            pid = int(before["State"]["Pid"])
            assert pid > 1  # never kill(0) or kill(1)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda b=before: json.loads(subprocess.run([*h.docker, "inspect", node.container],
                                                                capture_output=True).stdout)[0]["RestartCount"]
                     > b["RestartCount"], timeout=30, what="docker restarted the container")
        env = {**os.environ, "OPSKIT_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": REPO}
        proc = subprocess.run([sys.executable, "-m", "opskit", "fleet.health", "--inventory", str(lab.inventory_path),
                               "--select", "kafka1", "--json", "--no-prometheus"], capture_output=True, text=True,
                              env=env, timeout=180)
        doc = json.loads(proc.stdout)
        mine = [f for f in doc["results"] if f.get("node") == "kafka1" and f["check"] == "container"]
        assert mine and str(mine[0]["severity"]).upper() in ("WARNING", "CRITICAL"), mine
        assert "restarted" in mine[0]["message"]
    finally:
        subprocess.run([*h.docker, "update", "--restart", "no", node.container], capture_output=True)


def test_json_plan_of_a_secret_set_is_masked(lab, tmp_path):
    env = {**os.environ, "OPSKIT_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": REPO}
    secret = "s3cr3t-value-for-the-test"
    proc = subprocess.run([sys.executable, "-m", "opskit", "container.replace", "couchdb0.org1", "--dry-run", "--json",
                           "--set", f"env.COUCHDB_PASSWORD={secret}", "--inventory", str(lab.inventory_path)],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert secret not in proc.stdout + proc.stderr
    assert "COUCHDB_PASSWORD" in proc.stdout


def test_ctrl_c_during_replace_stops_at_the_next_step_and_resumes(lab, tmp_path):
    """D16: SIGINT while the old container is being stopped: no later step starts; a re-run finishes the node."""
    from opskit.journal import Journal
    from tests.container.helpers import inspect, run_opskit, wait_journal

    node = "kafka3"
    state = str(tmp_path / "state")
    argv = ["container.replace", node, "--set", "env.OPSKIT_D16=1", "--no-backup", "--gate-timeout", "90",
            "--settle", "1", "--inventory", str(lab.inventory_path)]
    proc = run_opskit(argv, state)
    journal = Journal(tmp_path / "state" / "journal" / lab.inventory().name / "container.replace.jsonl")
    wait_journal(journal.path, f"{node}/stop", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (out.decode()[-1500:], err.decode()[-1500:])
    assert b"interrupted" in err
    begun = [e.step for e in journal.events() if e.phase == "begin"]
    assert f"{node}/stop" in begun
    for later in ("create", "start", "gate", "cleanup"):
        assert f"{node}/{later}" not in begun, f"{later} started after Ctrl-C: {begun}"
    assert f"{node}/interrupted" in journal.in_flight()
    again = run_opskit(argv, state)
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, (out.decode()[-1500:], err.decode()[-1500:])
    doc = inspect(lab, node)
    assert doc is not None and "OPSKIT_D16=1" in doc["Config"]["Env"]
    names = subprocess.run([*lab.host(lab.node(node).host).docker, "ps", "-a", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert node + "-opskit-old" not in names
