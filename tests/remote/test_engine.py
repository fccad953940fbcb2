"""The remote engine against real sshd hosts on loopback."""

from __future__ import annotations

import time

import pytest

from opskit.errors import CommandFailed, UnsafeValueError
from opskit.inventory import load_text
from opskit.output.report import HostStatus
from opskit.remote import Engine, EngineOptions, script
from tests.sshfleet import fleet_inventory


def test_parallel_run_reports_each_host(ssh_fleet):
    inv = fleet_inventory(ssh_fleet, ("h1", "h2", "dead", "hung"), connect_timeout=2, host_timeout=6)
    started = time.monotonic()
    with Engine(inv) as engine:
        results = engine.run(inv.hosts.values(), lambda s: s.run(["echo", "hello", s.name]).stdout.strip())
    elapsed = time.monotonic() - started
    by = {r.host: r for r in results}
    assert by["h1"].status is HostStatus.OK and by["h1"].value == "hello h1"
    assert by["h2"].status is HostStatus.OK and by["h2"].value == "hello h2"
    assert by["dead"].status is HostStatus.UNREACHABLE
    assert "refused" in by["dead"].error.lower() or "cannot connect" in by["dead"].error
    assert by["hung"].status is HostStatus.UNREACHABLE
    # Bounded: the hung host costs at most its connect deadline (plus slack), never the others' time.
    assert elapsed < 6, elapsed


def test_one_connection_per_host_reused(ssh_fleet):
    inv = fleet_inventory(ssh_fleet, ("h1",))
    with Engine(inv) as engine:
        first = engine.run(inv.hosts.values(), lambda s: (id(s), s.run(["sh", "-c", "echo $PPID"]).stdout))
        second = engine.run(inv.hosts.values(), lambda s: (id(s), s.run(["true"]).exit_code))
    assert first[0].value[0] == second[0].value[0], "the second run must reuse the host's session"


def test_host_deadline_bounds_a_hanging_command(ssh_fleet):
    # the deadline leaves room for a connection on a loaded machine; the hang (60 s) is far beyond it, so a run that
    # ends before the hang would is the deadline at work (not a timing measurement)
    inv = fleet_inventory(ssh_fleet, ("h1", "h2"), host_timeout=4)
    started = time.monotonic()
    with Engine(inv) as engine:
        results = engine.run(inv.hosts.values(),
                             lambda s: s.run(["sleep", "60"] if s.name == "h1" else ["echo", "fast"]).stdout)
    by = {r.host: r for r in results}
    assert time.monotonic() - started < 45
    assert by["h2"].status is HostStatus.OK and by["h2"].value.strip() == "fast"
    assert by["h1"].status in (HostStatus.FAILED, HostStatus.UNREACHABLE)
    assert "deadline" in by["h1"].error


def test_quoting_never_runs_a_value_as_code(ssh_fleet, tmp_path):
    inv = fleet_inventory(ssh_fleet, ("h1",))
    target = tmp_path / "pwned"
    evil = f"peer3; touch {target}"
    evil2 = f"$(touch {target})`touch {target}`"
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: [
            s.run(["echo", evil]).stdout, s.run(["echo", evil2]).stdout,
            s.run(script('printf "%s\\n" "$1"', evil)).stdout,
        ])
    assert res[0].status is HostStatus.OK, res[0].error
    assert res[0].value[0].strip() == evil
    assert res[0].value[1].strip() == evil2
    assert res[0].value[2].strip() == evil
    assert not target.exists()


def test_quoting_local_session(tmp_path):
    inv = load_text("version: 2\nhosts:\n  me: {address: 127.0.0.1, connection: local}\n")
    target = tmp_path / "pwned"
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: s.run(["echo", f"x; touch {target}"]).stdout)
    assert res[0].value.strip() == f"x; touch {target}"
    assert not target.exists()


def test_strings_are_refused_as_commands():
    inv = load_text("version: 2\nhosts:\n  me: {address: 127.0.0.1, connection: local}\n")
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: s.run("echo hi; rm -rf /"))  # type: ignore[arg-type]
    assert res[0].status is HostStatus.FAILED
    assert "argv list" in res[0].error


def test_unknown_host_key_is_refused_by_default(ssh_fleet, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = fleet_inventory(ssh_fleet, ("h1",), known_hosts=empty)
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: s.run(["true"]).exit_code)
    assert res[0].status is HostStatus.UNREACHABLE
    assert "known_hosts" in res[0].error
    # turning checking off is explicit, and then it connects
    inv = fleet_inventory(ssh_fleet, ("h1",), known_hosts=empty, strict=False)
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: s.run(["true"]).exit_code)
    assert res[0].status is HostStatus.OK


def test_failures_changed_and_fail_fast(ssh_fleet):
    inv = fleet_inventory(ssh_fleet, ("h1", "h2"))

    def work(s):
        if s.name == "h1":
            s.run(["false"])
        s.mark_changed()
        return "done"

    with Engine(inv, EngineOptions.from_inventory(inv, workers=1)) as engine:
        res = engine.run(inv.hosts.values(), work)
        assert [r.status for r in res] == [HostStatus.FAILED, HostStatus.CHANGED]
        assert "exited 1" in res[0].error
        res = engine.run(inv.hosts.values(), work, fail_fast=True)
        assert [r.status for r in res] == [HostStatus.FAILED, HostStatus.SKIPPED]


def test_streaming_prefixes_host_names(ssh_fleet, tmp_path):
    import io

    inv = fleet_inventory(ssh_fleet, ("h1", "h2"))
    buf = io.StringIO()
    with Engine(inv, EngineOptions.from_inventory(inv, stream=buf)) as engine:
        engine.run(inv.hosts.values(), lambda s: s.run(["printf", "a\\nb\\n"]).stdout)
    lines = sorted(buf.getvalue().splitlines())
    assert lines == ["[h1] a", "[h1] b", "[h2] a", "[h2] b"]


def test_check_raises_command_failed():
    inv = load_text("version: 2\nhosts:\n  me: {address: 127.0.0.1, connection: local}\n")
    with Engine(inv) as engine:
        s = engine.session(inv.hosts["me"])
        with pytest.raises(CommandFailed):
            s.run(["sh", "-c", "echo boom >&2; exit 4"])
        assert s.run(["sh", "-c", "exit 4"], check=False).exit_code == 4
        with pytest.raises(UnsafeValueError):
            s.run(["echo", "a\0b"])


def test_stdin_is_passed_quickly_over_ssh(ssh_fleet):
    inv = fleet_inventory(ssh_fleet, ("h1",))
    data = "x" * 200_000 + "\n"
    started = time.monotonic()
    with Engine(inv) as engine:
        res = engine.run(inv.hosts.values(), lambda s: s.run(["wc", "-c"], stdin=data).stdout.strip())
    assert res[0].value == str(len(data)), res[0].error
    assert time.monotonic() - started < 5


def test_map_hosts_runs_at_most_the_inventorys_workers_at_once():
    """The bounded pool that the container planner, the health gate and the migration's reads share: with
    ``workers: 2`` a third call never starts while two are running (each of the first calls waits up to 1 s for a
    third to join; it joins at once if the pool ignores ``workers``)."""
    import threading

    from opskit.remote.engine import map_hosts

    inv = load_text("version: 2\nname: w\ndefaults:\n  workers: 2\nhosts:\n"
                    + "".join(f"  vm{i}:\n    address: 127.0.0.{i}\n" for i in range(1, 7)), "w.yaml")
    lock, crowd = threading.Lock(), threading.Event()
    state = {"active": 0, "most": 0}

    def fn(host: str) -> str:
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
            if state["active"] > 2:
                crowd.set()
        crowd.wait(timeout=1.0)
        with lock:
            state["active"] -= 1
        return host.upper()

    assert map_hosts(inv, list(inv.hosts), fn) == [f"VM{i}" for i in range(1, 7)]   # input order kept
    assert state["most"] == 2 and not crowd.is_set()
