"""Run locks between real processes, and journals surviving a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from opskit.errors import LockHeld
from opskit.journal import Journal
from opskit.runlock import fleet_lock

HOLD = textwrap.dedent("""
    import sys, time
    from opskit.runlock import fleet_lock
    with fleet_lock(sys.argv[1], "rollout.logging"):
        print("held", flush=True)
        sys.stdin.read()
""")


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def _holder(state, inv):
    p = subprocess.Popen([sys.executable, "-c", HOLD, inv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env={**os.environ})
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_run_is_told_who_holds_the_lock(state):
    inv = str(state / "fleet.yaml")
    p = _holder(state, inv)
    try:
        with pytest.raises(LockHeld) as exc:
            with fleet_lock(inv, "rollout.volumes"):
                pass
        msg = str(exc.value)
        assert f"pid {p.pid}" in msg and "rollout.logging" in msg and "since" in msg
        assert exc.value.exit_code == 3
        # another scope of the same inventory is independent
        with fleet_lock(inv, "dns.add", scope="dns:org1"):
            pass
    finally:
        p.stdin.close()
        p.wait(10)
    with fleet_lock(inv, "rollout.volumes") as lock:
        assert lock.took_over is None  # released cleanly, nothing to take over


def test_stale_lock_of_a_killed_run_is_taken_over_and_reported(state):
    inv = str(state / "fleet.yaml")
    p = _holder(state, inv)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    with fleet_lock(inv, "rollout.volumes") as lock:
        assert lock.took_over is not None and lock.took_over.pid == p.pid
        assert lock.took_over.task == "rollout.logging"


def test_journal_resume_after_kill(state):
    code = textwrap.dedent("""
        import os, sys
        from pathlib import Path
        from opskit.journal import Journal
        j = Journal(Path(sys.argv[1]))
        j.begin("peer0.org1"); j.done("peer0.org1", image="x")
        j.begin("peer1.org1")
        print("mid", flush=True)
        sys.stdin.read()
    """)
    path = state / "j.jsonl"
    p = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "mid"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    j = Journal(path)
    assert j.done_steps() == {"peer0.org1"}
    assert j.in_flight() == ["peer1.org1"]
    with open(path, "a") as fh:
        fh.write('{"torn": ')  # a crash mid-write
    assert j.in_flight() == ["peer1.org1"]


def test_run_step_records_how_each_step_ended(tmp_path):
    """The one step runner: done with the step's result and seconds; an error is failed; a Ctrl-C or a host that
    stopped answering leaves the step begun (the re-run must look), with a note saying which; boundaries are called
    after the journal holds the entry."""
    from opskit.errors import HostUnreachable

    j = Journal(tmp_path / "op.jsonl")
    seen: list[tuple[str, str, set[str]]] = []

    def boundary(step: str, phase: str) -> None:
        seen.append((step, phase, {e.step + ":" + e.phase for e in j.events()}))

    value, seconds = j.run_step("a", lambda: {"copied": 3}, data={"node": "n1"}, result=dict, boundary=boundary)
    assert value == {"copied": 3} and seconds >= 0
    assert seen == [("a", "begin", {"a:begin"}), ("a", "done", {"a:begin", "a:done"})]
    assert j.state()["a"].data == {"copied": 3, "seconds": seconds}

    def fails() -> None:
        raise ValueError("disk full")

    def unanswered() -> None:
        raise HostUnreachable("vm2: no answer within 10s")

    def interrupted() -> None:
        raise KeyboardInterrupt

    for step, fn, exc in (("b", fails, ValueError), ("c", unanswered, HostUnreachable), ("d", interrupted,
                                                                                        KeyboardInterrupt)):
        with pytest.raises(exc):
            j.run_step(step, fn)
    assert j.state()["b"].phase == "failed" and j.state()["b"].data["error"] == "disk full"
    assert j.in_flight() == ["c", "d"]
    notes = {e.step: e.data for e in j.events() if e.phase == "note"}
    assert notes == {"c": {"unanswered": "vm2: no answer within 10s"}, "d": {"interrupted": True}}
    assert j.done_steps() == {"a"}
