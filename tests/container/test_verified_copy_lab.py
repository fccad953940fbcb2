"""D1: rollout.volumes copies are refused when they cannot fit and verified before anything old is removed.

The incident: 120 MB in a container layer, the host's disk at 83 %: the copy step was "ok" with part of the data
and the run removed the old container (the only full copy). Here a kafka stand-in gets incompressible data in
its layer; (1) the disk is too full for the copy up front, (2) the disk fills up while the copy unpacks.
Either way the node must end with its old container, under its name, holding all of its data.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from opskit.container.gate import GateOptions
from opskit.change.progress import Progress
from opskit.container.recreate import OLD_SUFFIX, Recreator, RecreateOptions
from opskit_lab import faults
from opskit_lab.wait import wait_for
from opskit.rollout.volumes import volume_name, volumes_change
from tests.container.helpers import docker, inspect, make_volumeless, mounts, prefix_intact, snapshot

NODE = "kafka2"
PATH = "/tmp/kafka-logs"
BIG_MB = 60


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def loaded(lab):
    """NODE without volumes and with BIG_MB of random data in its layer at PATH."""
    make_volumeless(lab, NODE)
    n = lab.node(NODE)
    docker(lab, n.host, "exec", n.container, "dd", "if=/dev/urandom", f"of={PATH}/big.bin", "bs=1M",
           f"count={BIG_MB}", timeout=120)
    snap = snapshot(lab, NODE)
    assert len(snap[f"{PATH}/big.bin"]) == BIG_MB * 1024 * 1024
    yield n, snap
    vol = lab.inventory().nodes[NODE].volumes.get(PATH) or volume_name(lab.inventory().nodes[NODE], PATH)
    lab.reset_fleet(("kafka",))  # the kafka nodes as the lab made them (volumes, no big file)
    docker(lab, n.host, "volume", "rm", "-f", vol, check=False)


def _run(lab, progress: Progress | None = None):
    inv = lab.inventory()
    r = Recreator(inv, "rollout.volumes", volumes_change(), RecreateOptions(
        backup=False, gate=GateOptions(timeout=60, settle=1.0, poll=0.3)), progress=progress)
    try:
        return r.run([inv.nodes[NODE]])
    finally:
        r.close()


def _old_container_intact(lab, n, snap) -> None:
    doc = inspect(lab, NODE)
    assert doc is not None and doc["State"]["Running"], "the node's container is not back under its name"
    names = docker(lab, n.host, "ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    assert n.container + OLD_SUFFIX not in names
    assert PATH not in mounts(lab, NODE), "the node was switched to the (partial) volume"
    assert prefix_intact(snap, snapshot(lab, NODE)) == []


def test_copy_that_cannot_fit_is_refused_before_anything_changes(lab, loaded):
    n, snap = loaded
    host = lab.host(n.host)
    st = os.statvfs(host.disk_mnt)
    total = (st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize
    # leave room for about half of the data: the old engine copied part of it and reported success
    free_wanted = (BIG_MB // 2) * 1024 * 1024
    used_now = (st.f_blocks - st.f_bfree) * st.f_frsize
    pct = 100.0 * (total - free_wanted) / total
    assert used_now < total - free_wanted
    id_before = inspect(lab, NODE)["Id"]
    with faults.fill_disk(lab, n.host, pct):
        report = _run(lab)
        f = [x for x in report.findings if x.node == NODE][0]
        assert f.data["status"] == "failed", f.message
        assert "not enough room" in f.message
        steps = [s["step"] for s in f.data["steps"]]
        assert "rename" not in steps and "stop" not in steps, steps
    assert inspect(lab, NODE)["Id"] == id_before, "the container was touched"
    _old_container_intact(lab, n, snap)


def test_disk_filling_up_during_the_copy_fails_the_copy_and_keeps_the_old_container(lab, loaded):
    n, snap = loaded
    host = lab.host(n.host)
    seen: dict[str, object] = {}

    def unpacking_tar() -> int | None:
        """The pid of the tar that unpacks the copy into the new volume (``tar -x -p ... -C <volume>/.opskit-stage.N``)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"tar") and b"-p" in argv and any(
                    b".opskit-stage." in a for a in argv):
                return int(pid)
        return None

    def saboteur() -> None:
        # while the copy unpacks, another writer fills the disk: the tar is held (SIGSTOP) while the disk fills
        try:
            pid = wait_for(unpacking_tar, timeout=120, what="the unpacking tar", interval=0.001, max_interval=0.002)
            os.kill(pid, signal.SIGSTOP)
            try:
                st = os.statvfs(host.disk_mnt)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                total = used + st.f_bavail * st.f_frsize
                seen["fault"] = faults.fill_disk(lab, n.host, 100.0 * (total - 2 * 1024 * 1024) / total)
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=300, what="the tar ended")
        except BaseException as exc:  # reported by the test body
            seen["error"] = exc
        finally:
            fault = seen.get("fault")
            if fault is not None:
                fault.undo()  # type: ignore[attr-defined]

    class Hook(Progress):
        def __call__(self, line: str) -> None:
            if line.startswith(f"{NODE}: copy:{PATH} ") and "thread" not in seen:
                t = threading.Thread(target=saboteur, daemon=True)
                seen["thread"] = t
                t.start()

    report = _run(lab, Hook(enabled=False))
    t = seen.get("thread")
    assert isinstance(t, threading.Thread)
    t.join(timeout=300)
    f = [x for x in report.findings if x.node == NODE][0]
    assert "error" not in seen, (seen.get("error"), f.message)
    assert "fault" in seen, "the disk was never filled during the copy"
    assert f.data["status"] in ("rolled-back", "failed"), f.message
    assert "copy" in f.message
    _old_container_intact(lab, n, snap)


def test_hung_dockerd_during_the_copy_ends_within_the_host_deadline(lab, loaded):
    """D15: dockerd frozen (SIGSTOP) while the copy runs: the copy step ends after about host_timeout, says it was
    the copy, and the node gets its old container back once the engine answers again."""
    from opskit.journal import Journal
    from opskit_lab import procs
    from opskit.remote.engine import EngineOptions

    n, snap = loaded
    host = lab.host(n.host)
    pid = procs.read_pid(host.pid_dockerd)
    assert pid
    inv = lab.inventory()
    eo = EngineOptions.from_inventory(inv)
    eo.host_timeout = 6.0
    seen: dict[str, object] = {}

    def freezer(journal: Journal) -> None:
        def docker_cp() -> bool:
            for q in os.listdir("/proc"):
                if q.isdigit():
                    try:
                        argv = Path(f"/proc/{q}/cmdline").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    if argv[1:2] == [b"cp"] and any(f"{NODE}-opskit-old:".encode() in a for a in argv):
                        return True
            return False

        try:
            wait_for(docker_cp, timeout=120, what="docker cp of the copy step", interval=0.001, max_interval=0.002)
            os.kill(pid, signal.SIGSTOP)  # the engine freezes in the middle of the copy
            seen["stopped"] = True

            def copy_over() -> bool:
                return any(e.step == f"{NODE}/copy:{PATH}" and e.phase in ("failed", "done", "note")
                           and "verified" not in e.data for e in journal.events())

            wait_for(copy_over, timeout=90, what="the copy step to end")
        except BaseException as exc:
            seen["error"] = exc
        finally:
            os.kill(pid, signal.SIGCONT)

    r = Recreator(inv, "rollout.volumes", volumes_change(), RecreateOptions(
        backup=False, gate=GateOptions(timeout=60, settle=1.0, poll=0.3)), engine_options=eo)

    class Hook(Progress):
        def __call__(self, line: str) -> None:
            if line.startswith(f"{NODE}: copy:{PATH} ") and "thread" not in seen:
                t = threading.Thread(target=freezer, args=(r.journal,), daemon=True)
                seen["thread"] = t
                t.start()

    r.progress = Hook(enabled=False)
    try:
        report = r.run([inv.nodes[NODE]])
    finally:
        r.close()
        os.kill(pid, signal.SIGCONT)
    t = seen["thread"]
    t.join(timeout=120)  # type: ignore[attr-defined]
    assert "error" not in seen, seen["error"]
    f = [x for x in report.findings if x.node == NODE][0]
    copy = [s for s in f.data["steps"] if s["step"] == f"copy:{PATH}"]
    assert copy and not copy[0]["ok"], f.data["steps"]
    assert copy[0]["seconds"] < eo.host_timeout + 20, copy
    assert "no progress" in copy[0]["error"], copy
    assert f"copy:{PATH}" in f.message
    assert f.data["status"] in ("rolled-back", "failed", "unreachable"), f.message
