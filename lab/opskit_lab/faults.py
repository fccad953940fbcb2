"""Faults on demand, for tests: each function breaks one thing of a running lab and returns a :class:`Fault`.

    with faults.stop_sshd(lab, "vm2"):      # undone when the block ends
        ...
    f = faults.fill_disk(lab, "vm3", 92)   # or keep it and undo later
    f.undo()
    faults.undo_all(lab)                   # what a test fixture calls after every test

Every fault is recorded on ``lab.faults`` until undone, so a test that fails half-way never leaves the
next test a broken lab. Undo waits until the thing works again (a condition with a deadline).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opskit.errors import OpskitError
from opskit_lab import netns, procs
from opskit_lab.hosts import SSH_PORT
from opskit_lab.wait import port_open, wait_for

if TYPE_CHECKING:
    from opskit_lab.lab import Lab

FILL_FILE = ".opskit-lab-fill"


class FaultError(OpskitError):
    """A fault could not be applied or undone."""


@dataclass
class Fault:
    """One applied fault and how to undo it."""

    name: str
    target: str
    _undo: Callable[[], None]
    lab: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    undone: bool = False

    def undo(self) -> None:
        if self.undone:
            return
        self._undo()
        self.undone = True
        if self.lab is not None and self in self.lab.faults:
            self.lab.faults.remove(self)

    def __enter__(self) -> "Fault":
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"Fault({self.name} on {self.target}{', undone' if self.undone else ''})"


def _record(lab: "Lab", fault: Fault) -> Fault:
    fault.lab = lab
    lab.faults.append(fault)
    return fault


def undo_all(lab: "Lab") -> list[str]:
    """Undo every active fault, newest first. Returns the errors (empty when all were undone)."""
    errors = []
    for fault in list(reversed(lab.faults)):
        try:
            fault.undo()
        except Exception as exc:  # keep undoing the others
            errors.append(f"{fault!r}: {exc}")
            if fault in lab.faults:
                lab.faults.remove(fault)
    return errors


# -- SSH -----------------------------------------------------------------------------------------------
def stop_sshd(lab: "Lab", host: str) -> Fault:
    """The host's sshd is stopped: connections to port 22 are refused."""
    h = lab.host(host)
    h.stop_sshd()
    wait_for(lambda: not port_open(h.address, SSH_PORT), timeout=10, what=f"sshd of {host} to stop")

    def undo() -> None:
        h.start_sshd()
        h.wait_sshd()

    return _record(lab, Fault("stop_sshd", host, undo))


def hang_sshd(lab: "Lab", host: str) -> Fault:
    """The host accepts TCP on port 22 but never answers (sshd is SIGSTOPped; the kernel still accepts)."""
    h = lab.host(host)
    pid = procs.read_pid(h.pid_sshd)
    if pid is None or not procs.pid_alive(pid):
        raise FaultError(f"sshd of {host} is not running")
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: _state(pid) == "T", timeout=5, what=f"sshd of {host} to be stopped")

    def undo() -> None:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            h.start_sshd()
        h.wait_sshd()

    return _record(lab, Fault("hang_sshd", host, undo, data={"pid": pid}))


#: the issue calls it "make a host accept TCP but hang"
hang_host = hang_sshd


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


# -- network -----------------------------------------------------------------------------------------
def cut_link(lab: "Lab", host: str) -> Fault:
    """The host's cable is pulled: its bridge port goes down, nothing reaches it (connects time out)."""
    h = lab.host(host)
    netns.set_link(h.link.veth, up=False)

    def undo() -> None:
        netns.set_link(h.link.veth, up=True)
        wait_for(lambda: port_open(h.address, SSH_PORT), timeout=15, what=f"{host} reachable again")

    return _record(lab, Fault("cut_link", host, undo))


# -- Docker --------------------------------------------------------------------------------------------
def stop_docker(lab: "Lab", host: str) -> Fault:
    """The host's Docker engine is stopped (its containers stop with it); undo restarts it and them."""
    h = lab.host(host)
    running = sorted(lab.running_containers(host)) if h.dockerd_up() else []
    h.stop_dockerd(timeout=20)

    def undo() -> None:
        h.start_dockerd()
        h.wait_dockerd()
        if running:
            subprocess.run([*h.docker, "start", *running], check=True, capture_output=True, timeout=60)
            wait_for(lambda: lab.running_containers(host) >= set(running), timeout=30,
                     what=f"containers of {host} running again")
        _wait_standins(lab, host)

    return _record(lab, Fault("stop_docker", host, undo, data={"containers": running}))


def stop_node_exporter(lab: "Lab", host: str) -> Fault:
    """The host's node_exporter is stopped: Prometheus sees its target down (the host vanishes from Grafana)."""
    h = lab.host(host)
    h.stop_node_exporter()
    wait_for(lambda: not port_open(h.address, 9100), timeout=10, what=f"node_exporter of {host} to stop")

    def undo() -> None:
        h.start_node_exporter()
        h.wait_node_exporter()

    return _record(lab, Fault("stop_node_exporter", host, undo))


def stop_container(lab: "Lab", node: str) -> Fault:
    """A node's container is stopped (``docker stop``); undo starts it again and waits until it answers."""
    n = lab.node(node)
    h = lab.hosts[n.host]
    subprocess.run([*h.docker, "stop", "-t", "2", n.container], check=True, capture_output=True, timeout=60)

    def undo() -> None:
        subprocess.run([*h.docker, "start", n.container], check=True, capture_output=True, timeout=60)
        _wait_standins(lab, n.host, only=node)

    return _record(lab, Fault("stop_container", node, undo))


def _wait_standins(lab: "Lab", host: str, only: str | None = None) -> None:
    from opskit_lab.standin.launch import get

    for n in lab.topology.nodes_on(host):
        if only and n.name != only:
            continue
        if n.operations_port:
            url = lab.operations_url(n.name)
            wait_for(lambda u=url: get(u, "/healthz", timeout=1.0)[0] in (200, 503), timeout=30,
                     what=f"{n.name} answering again")


# -- disks ---------------------------------------------------------------------------------------------
def disk_usage_pct(lab: "Lab", host: str) -> float:
    """Used percentage of the host's disk as ``df`` computes it: used / (used + available)."""
    st = os.statvfs(lab.host(host).disk_mnt)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    return 100.0 * used / (used + avail)


def fill_disk(lab: "Lab", host: str, percent: float) -> Fault:
    """Fill the host's disk (the one at /var/lib/docker and /var/hyperledger) to ``percent`` used."""
    if not 0 < percent < 100:
        raise FaultError("percent must be between 0 and 100")
    h = lab.host(host)
    path = h.disk_ledger_dir / FILL_FILE
    st = os.statvfs(h.disk_mnt)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    total = used + avail
    want = int(total * percent / 100.0) - used
    if want <= 0:
        raise FaultError(f"{host}'s disk is already {100.0 * used / total:.1f}% used")
    with open(path, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, want)

    def undo() -> None:
        path.unlink(missing_ok=True)

    return _record(lab, Fault("fill_disk", host, undo, data={"percent": percent, "bytes": want, "file": str(path)}))


# -- DNS -----------------------------------------------------------------------------------------------
def stop_dns(lab: "Lab") -> Fault:
    """The lab's BIND is stopped (port closed); undo starts it with its zones and keys unchanged."""
    lab.bind.stop()

    def undo() -> None:
        lab.bind.start()

    return _record(lab, Fault("stop_dns", "bind", undo))


def hang_dns(lab: "Lab") -> Fault:
    """The lab's BIND is SIGSTOPped: queries and updates time out."""
    lab.bind.pause()

    def undo() -> None:
        lab.bind.resume()

    return _record(lab, Fault("hang_dns", "bind", undo))


# -- chains --------------------------------------------------------------------------------------------
def stall_chain(lab: "Lab", node: str) -> Fault:
    """The node's chain stops growing (advance requests and auto-advance are ignored) until undone."""
    from opskit_lab.standin.launch import control

    url = lab.operations_url(node)
    control(url, "stall")

    def undo() -> None:
        control(url, "resume")

    return _record(lab, Fault("stall_chain", node, undo))


def advance_chain(lab: "Lab", node: str, blocks: int = 1, channel: str | None = None) -> dict:
    """Not a fault: append ``blocks`` real-format blocks to the node's ledger. Returns the stand-in's answer."""
    from opskit_lab.standin.launch import control

    return control(lab.operations_url(node), "advance", blocks=blocks, channel=channel)


def level_chains(lab: "Lab") -> dict[str, int]:
    """Not a fault: bring every orderer and peer stand-in up to the highest height of each of its channels.

    Stand-ins do not replicate blocks to each other, so a test that advanced some chains leaves lag
    behind; the per-test fixture calls this so the next test starts from a level fleet.
    Returns the height per channel.
    """
    from opskit_lab.standin.launch import get

    heights: dict[str, dict[str, int]] = {}
    for n in lab.topology.nodes:
        if n.kind in ("orderer", "peer"):
            code, body = get(lab.operations_url(n.name), "/lab/state", timeout=5)
            if code == 200:
                heights[n.name] = {ch: int(h) for ch, h in json.loads(body)["heights"].items()}
    top: dict[str, int] = {}
    for chans in heights.values():
        for ch, h in chans.items():
            top[ch] = max(top.get(ch, 0), h)
    for name, chans in heights.items():
        for ch, h in chans.items():
            if h < top[ch]:
                advance_chain(lab, name, blocks=top[ch] - h, channel=ch)
    return top
