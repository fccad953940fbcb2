"""opskit.container.datacopy against a lab host's real engine: back up a container's volumes, change them,
restore (refused while running), and get exactly the saved content back."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture
def scratch(lab):
    """A ZooKeeper-shaped stand-in with two named volumes (/data, /datalog) on vm1; removed afterwards."""
    from opskit_lab.standin.launch import StandinSpec, run_argv

    docker = lab.host("vm1").docker
    spec = StandinSpec(name="bktest", kind="zookeeper", ops_port=0, network="host")
    subprocess.run([*docker, "rm", "-f", spec.container], capture_output=True)
    subprocess.run([*docker, *run_argv(spec)], check=True, capture_output=True)
    yield docker, spec
    subprocess.run([*docker, "rm", "-f", spec.container], capture_output=True)
    subprocess.run([*docker, "volume", "rm", "-f", *spec.volumes.values()], capture_output=True)
    subprocess.run([*docker, "run", "--rm", "-v", "/usr:/usr:ro", "-v", "/var/hyperledger:/h", "--entrypoint",
                    "/bin/rm", spec.image, "-rf", "/h/opskit-bktest"], capture_output=True)


def sh(docker, container, text):
    return subprocess.run([*docker, "exec", container, "sh", "-c", text], check=True, capture_output=True,
                          text=True).stdout


def test_backup_then_restore_gives_back_the_saved_content(lab, scratch):
    from opskit.container.datacopy import BackupError, backup, restore
    from opskit.container.docker import DockerHost
    from opskit.remote import Engine

    docker, spec = scratch
    sh(docker, spec.container, "echo one > /data/marker && mkdir -p /datalog/d && echo log > /datalog/d/x")
    inv = lab.inventory()
    with Engine(inv) as engine:
        dh = DockerHost(inv.hosts["vm1"], lambda h: engine.session(h))
        files = backup(dh, spec.container, "/var/hyperledger/opskit-bktest")
        assert sorted(f.path for f in files) == ["/data", "/datalog"]
        assert all(f.file.endswith(".tar.gz") and f.volume for f in files)
        sh(docker, spec.container, "echo two > /data/marker && touch /data/extra && rm -rf /datalog/d")
        with pytest.raises(BackupError, match="is running"):
            restore(dh, files[0])
        subprocess.run([*docker, "stop", "-t", "2", spec.container], check=True, capture_output=True)
        counts = {f.path: restore(dh, f) for f in files}
        assert counts["/data"] >= 2 and counts["/datalog"] >= 1
    subprocess.run([*docker, "start", spec.container], check=True, capture_output=True)
    assert sh(docker, spec.container, "cat /data/marker").strip() == "one"
    assert sh(docker, spec.container, "ls /data").split().count("extra") == 0
    assert sh(docker, spec.container, "cat /datalog/d/x").strip() == "log"
