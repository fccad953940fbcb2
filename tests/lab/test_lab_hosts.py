"""Lab hosts: reachable over SSH through opskit's own engine, each with its own engine, disk and exporter."""

from __future__ import annotations

import os
import urllib.request

import pytest

from opskit.inventory import load_inventory
from opskit.remote import Engine

pytestmark = pytest.mark.lab


def test_lab_up_took_under_90_seconds(lab) -> None:
    assert lab.up_result.seconds < 90, lab.up_result


def test_every_host_answers_over_ssh_with_its_own_engine_and_disk(lab) -> None:
    inv = load_inventory(str(lab.inventory_path))
    assert sorted(inv.hosts) == sorted(lab.hosts)

    def probe(session):
        hostname = session.run(["hostname"]).stdout.strip()
        info = session.run(["docker", "info", "--format", "{{.Name}}|{{.DockerRootDir}}|{{.ID}}"]).stdout.strip()
        df = session.run(["df", "-P", "-k", "/var/lib/docker", "/var/hyperledger"]).stdout.splitlines()[1:]
        ps = session.run(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
        return hostname, info.split("|"), [line.split() for line in df], set(ps)

    with Engine(inv) as engine:
        results = engine.run(list(inv.hosts.values()), probe)
    assert all(r.ok for r in results), [(r.host, r.error) for r in results if not r.ok]
    engine_ids, devices = set(), set()
    for r in results:
        hostname, (engine_name, root, engine_id), df, containers = r.value
        assert hostname == r.host
        assert engine_name == r.host            # the engine runs in that host's own namespaces
        assert root == "/var/lib/docker"
        engine_ids.add(engine_id)
        (dev_a, size_a, *_), (dev_b, size_b, *_) = df
        assert dev_a == dev_b and dev_a.startswith("/dev/loop"), df  # one disk at both paths
        assert 0.8 * lab.config.disk_mb * 1024 < int(size_a) <= lab.config.disk_mb * 1024
        devices.add(dev_a)
        assert containers == {n.container for n in lab.topology.nodes_on(r.host)}
    assert len(engine_ids) == len(results), "two hosts share one Docker engine"
    assert len(devices) == len(results), "two hosts share one disk"


def test_df_over_ssh_is_the_hosts_real_disk(lab) -> None:
    """Writing 40 MB on one host moves that host's df and no other's."""
    inv = load_inventory(str(lab.inventory_path))
    a, b = inv.hosts["vm3"], inv.hosts["vm4"]

    def used_kb(session) -> int:
        return int(session.run(["df", "-P", "-k", "/var/hyperledger"]).stdout.splitlines()[1].split()[2])

    def write(session) -> None:
        session.run(["dd", "if=/dev/zero", "of=/var/hyperledger/test-40m", "bs=1M", "count=40", "conv=fsync"])

    def remove(session) -> None:
        session.run(["rm", "-f", "/var/hyperledger/test-40m"])

    with Engine(inv) as engine:
        before = {r.host: r.value for r in engine.run([a, b], used_kb)}
        try:
            assert engine.run([a], write)[0].ok
            after = {r.host: r.value for r in engine.run([a, b], used_kb)}
        finally:
            engine.run([a], remove)
    assert after["vm3"] - before["vm3"] >= 39 * 1024
    assert abs(after["vm4"] - before["vm4"]) < 2 * 1024
    # the same file is on the lab's view of that disk
    assert not (lab.hosts["vm3"].disk_ledger_dir / "test-40m").exists()


def test_node_exporter_reports_each_hosts_own_disk(lab) -> None:
    for name, h in lab.hosts.items():
        text = urllib.request.urlopen(f"http://{h.address}:9100/metrics", timeout=5).read().decode()
        sizes = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                 if line.startswith("node_filesystem_size_bytes{") and 'mountpoint="/var/lib/docker"' in line]
        st = os.statvfs(h.disk_mnt)
        assert sizes == [st.f_blocks * st.f_frsize], (name, sizes)
