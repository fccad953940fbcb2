"""`lab.down` removes every process, namespace, bridge, mount, loop device and file the lab created."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from opskit_lab import procs

pytestmark = pytest.mark.lab


def test_down_leaves_nothing_behind(tmp_path: Path) -> None:
    from tests.conftest import SPARE_LAB_SUBNET, claim_lab, lab_missing

    why = lab_missing()
    if why:
        pytest.skip(why)
    from opskit_lab.lab import Lab, LabConfig

    out = tmp_path / "spare-inventory.yaml"
    lab = Lab(LabConfig(name="pytdown", hosts=2, subnet=SPARE_LAB_SUBNET, disk_mb=128, inventory_out=str(out)))
    claim_lab(lab)
    lab.up()
    try:
        assert out.exists()
        pidfiles = [p for p in lab.dir.rglob("*.pid")]
        pids = [procs.read_pid(p) for p in pidfiles]
        pids = [p for p in pids if p and procs.pid_alive(p)]
        # sshd x2, dockerd x2, node_exporter x2, named, prometheus, moto at least
        assert len(pids) >= 9, pidfiles
        loops = subprocess.run(["losetup", "-j", str(lab.hosts["vm1"].disk_image)], capture_output=True,
                               text=True).stdout
        assert loops.startswith("/dev/loop")
        assert lab.leftovers()  # the check sees a built lab
    finally:
        problems = lab.down()
    assert problems == []
    assert lab.leftovers() == []
    assert [p for p in pids if procs.pid_alive(p)] == []
    assert not out.exists()
    assert not lab.dir.exists()
    assert not Path("/sys/class/net", lab.bridge).exists()
    assert not any(n.startswith("opskit-pytdown-") for n in os.listdir("/var/run/netns")) \
        if os.path.isdir("/var/run/netns") else True
    assert str(lab.dir) not in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert str(lab.dir) not in Path("/proc/self/mountinfo").read_text()
    # down is idempotent and safe on nothing
    assert lab.down() == []


def test_down_cleans_a_half_built_lab(tmp_path: Path) -> None:
    """A lab that failed half-way (network and one host's disk only) is removed completely."""
    from tests.conftest import SPARE_LAB_SUBNET, claim_lab, lab_missing

    why = lab_missing()
    if why:
        pytest.skip(why)
    from opskit_lab import netns
    from opskit_lab.lab import Lab, LabConfig

    lab = Lab(LabConfig(name="pythalf", hosts=2, subnet=SPARE_LAB_SUBNET, disk_mb=64))
    claim_lab(lab)
    lab._write_state(owner_pid=os.getpid())
    lab._up_network()
    h = lab.hosts["vm1"]
    netns.create_host(h.link, lab.bridge)
    h.create_disk()
    h.create_namespaces()
    assert lab.leftovers()
    assert lab.down() == []
    assert lab.leftovers() == []
