"""A host dropping off in the middle of a rollout over several nodes (issue 6).

The fault is triggered from the Recreator's progress callback when the node's step begins (no timing):
* ``cut_link`` before the step's command: the next command cannot open a channel;
* ``cut_link`` while the command runs (``docker stop`` is held by a frozen engine until the link is down):
  only the per-host deadline (TCP liveness of the SSH connection) notices;
* ``stop_sshd`` (its sessions die with it) at the gate, with ``keep_going``.
Each run must stop (or, with keep_going, skip that host), report the host unreachable (exit 2) within the
per-host deadline, keep the journal open at the step, leave the data intact, and a re-run after the fault is
undone must finish the node; a further run changes nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from opskit.container.gate import GateOptions
from opskit.change.progress import Progress
from opskit.container.recreate import Recreator, RecreateOptions
from opskit_lab import faults, procs
from opskit_lab.wait import wait_for
from opskit.output.report import HostStatus
from opskit.rollout.logrotate import logging_change
from tests.container.helpers import inspect, prefix_intact, snapshot

HOST_TIMEOUT = 8.0  # the inventory's per-host deadline for these runs (the lab's default is 60 s)


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


class FaultAt(Progress):
    """Progress lines that apply ``action`` when ``node`` begins ``step`` (once), remembering when."""

    def __init__(self, node: str, step: str, action) -> None:  # type: ignore[no-untyped-def]
        super().__init__(enabled=False)
        self.node, self.step, self.action = node, step, action
        self.fired_at: float | None = None

    def __call__(self, line: str) -> None:
        if line == f"{self.node}: {self.step} ..." and self.fired_at is None:
            self.fired_at = time.monotonic()
            self.action()


def _cmdline_running(argv_tail: list[str]) -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"docker" and [a.decode() for a in args[1:]][-len(argv_tail):] == argv_tail:
            return True
    return False


def _cut_in_flight(lab, host: str, container: str, fired: list) -> tuple:  # type: ignore[no-untyped-def]
    """An action for FaultAt(..., "stop"): freeze the host's engine so that ``docker stop`` hangs in flight,
    cut the link once that command runs on the host, then thaw the engine (the result can no longer come back)."""
    pid = procs.read_pid(lab.host(host).pid_dockerd)
    assert pid is not None
    errors: list[BaseException] = []

    def cut_when_running() -> None:
        try:
            wait_for(lambda: _cmdline_running(["stop", "-t", "10", container]), timeout=20,
                     what=f"docker stop {container} running on {host}", interval=0.01, max_interval=0.05)
            fired.append(faults.cut_link(lab, host))
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            os.kill(pid, signal.SIGCONT)

    def action() -> None:
        os.kill(pid, signal.SIGSTOP)
        threading.Thread(target=cut_when_running, daemon=True).start()

    return action, errors, pid


def _run(inv, nodes, size, progress, **kw):  # type: ignore[no-untyped-def]
    opts = RecreateOptions(backup=False, gate=GateOptions(timeout=30, settle=1.0, poll=0.3), **kw)
    r = Recreator(inv, "rollout.logging", logging_change(size, 4), opts, progress=progress)
    try:
        return r.run([inv.nodes[n] for n in nodes]), r.journal
    finally:
        r.close()


def _statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.node: f.data["status"] for f in report.findings if f.check == "container"}


SCENARIOS = ["cut-before-stop", "cut-during-stop", "sshd-stopped-at-gate-keep-going"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_host_drops_mid_rollout_then_resume_finishes(lab, scenario):
    size = f"{21 + SCENARIOS.index(scenario)}m"  # a change for these nodes whatever ran before
    inv = lab.inventory()
    inv.defaults.host_timeout = HOST_TIMEOUT
    if scenario == "sshd-stopped-at-gate-keep-going":
        nodes, victim, step, keep_going = ["cli", "couchdb1.org1", "peer0.org2"], "couchdb1.org1", "gate", True
    else:
        nodes, victim, step, keep_going = ["kafka1", "kafka2", "kafka3"], "kafka2", "stop", False
    host = lab.node(victim).host
    data_before = snapshot(lab, victim)
    assert data_before
    fired: list = []
    thawed_pid = None
    errors: list = []
    if scenario == "cut-before-stop":
        progress = FaultAt(victim, step, lambda: fired.append(faults.cut_link(lab, host)))
    elif scenario == "cut-during-stop":
        action, errors, thawed_pid = _cut_in_flight(lab, host, lab.node(victim).container + "-opskit-old", fired)
        progress = FaultAt(victim, step, action)
    else:
        progress = FaultAt(victim, step, lambda: fired.append(faults.stop_sshd(lab, host)))
    try:
        report, journal = _run(inv, nodes, size, progress, keep_going=keep_going)
        returned = time.monotonic()
    finally:
        if thawed_pid is not None and procs.pid_alive(thawed_pid):
            os.kill(thawed_pid, signal.SIGCONT)
    assert not errors, errors
    assert progress.fired_at is not None and fired, "the fault was never applied"

    # 1. the host is reported unreachable at that step, in time; the run stopped there (or went on elsewhere)
    st = _statuses(report)
    f = next(x for x in report.findings if x.node == victim)
    assert st[victim] == "unreachable", f.message
    assert f"host {host} stopped answering at step {step}" in f.message, f.message
    assert report.exit_code == 2
    assert [(h.host, h.status) for h in report.hosts] == [(host, HostStatus.UNREACHABLE)]
    assert returned - progress.fired_at < HOST_TIMEOUT + 4, f"reported after {returned - progress.fired_at:.1f}s"
    first, last = [n for n in nodes if n != victim][0], nodes[-1]
    assert st[first] == "changed"
    assert st[last] == ("changed" if keep_going else "skipped"), st
    # 2. the journal keeps the node's step open (a re-run resumes there)
    assert journal.path.exists(), "the journal was archived although a node is half-done"
    assert f"{victim}/{step}" in journal.in_flight()
    assert any(e.step == f"{victim}/{step}" and e.phase == "note" and "unanswered" in e.data for e in journal.events())

    for fault in fired:
        fault.undo()
    # 3. the data is intact; the re-run finishes the node (and the rest), a further run changes nothing
    t0 = time.monotonic()
    again, journal = _run(inv, nodes, size, Progress(enabled=False))
    took = time.monotonic() - t0
    st2 = _statuses(again)
    assert again.exit_code == 0, [x.message for x in again.findings]
    assert f"{victim}/{step}" in again.meta["resumed_in_flight"]
    assert st2[victim] == "changed" and "resumed an interrupted change" in next(
        x for x in again.findings if x.node == victim).message
    assert st2[last] == ("unchanged" if keep_going else "changed")
    assert not journal.path.exists()  # archived: nothing left in flight
    for n in nodes:
        doc = inspect(lab, n)
        assert doc["State"]["Running"] and doc["HostConfig"]["LogConfig"]["Config"] == {"max-size": size,
                                                                                        "max-file": "4"}
    assert prefix_intact(data_before, snapshot(lab, victim)) == []
    ids = {n: inspect(lab, n)["Id"] for n in nodes}
    third, _ = _run(inv, nodes, size, Progress(enabled=False))
    assert set(_statuses(third).values()) == {"unchanged"} and third.exit_code == 0
    assert {n: inspect(lab, n)["Id"] for n in nodes} == ids
    assert took < 30
    print(f"{scenario}: reported {returned - progress.fired_at:.1f}s after the fault; re-run {took:.1f}s")
