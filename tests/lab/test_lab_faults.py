"""Faults on demand: each one breaks what it says, seen through real clients; the ``lab`` fixture undoes it
and checks the lab is healthy again before the next test (so every fault is also proven undoable)."""

from __future__ import annotations

import socket
import time

import pytest

from opskit.inventory import load_inventory
from opskit_lab import faults
from opskit_lab.standin.launch import get
from opskit.remote import Engine, EngineOptions

pytestmark = pytest.mark.lab


def _engine(lab, **opts) -> Engine:
    inv = load_inventory(str(lab.inventory_path))
    return Engine(inv, EngineOptions.from_inventory(inv, **opts))


def _uptime(session) -> str:
    return session.run(["cat", "/proc/uptime"]).stdout


def test_stop_sshd_refuses_connections_on_that_host_only(lab) -> None:
    faults.stop_sshd(lab, "vm2")
    with _engine(lab) as engine:
        r2, r1 = engine.run([engine.inventory.hosts["vm2"], engine.inventory.hosts["vm1"]], _uptime)
    assert r2.status.value == "unreachable" and lab.hosts["vm2"].address in (r2.error or "")
    assert r2.duration_s < 2  # refused at once, not a timeout
    assert r1.ok
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((lab.hosts["vm2"].address, 22), timeout=2).close()


def test_hung_host_accepts_tcp_but_never_answers(lab) -> None:
    faults.hang_host(lab, "vm2")
    addr = lab.hosts["vm2"].address
    with socket.create_connection((addr, 22), timeout=2) as s:   # the kernel still accepts
        s.settimeout(1.0)
        with pytest.raises(socket.timeout):
            s.recv(64)                                            # but no SSH banner ever comes
    started = time.monotonic()
    with _engine(lab, connect_timeout=1.5, host_timeout=4) as engine:
        (r,) = engine.run([engine.inventory.hosts["vm2"]], _uptime)
    assert r.status.value == "unreachable"
    assert time.monotonic() - started < 10


def test_cut_link_makes_the_host_unreachable(lab) -> None:
    faults.cut_link(lab, "vm5")
    h = lab.hosts["vm5"]
    with pytest.raises(OSError):
        socket.create_connection((h.address, 22), timeout=1.0).close()
    with pytest.raises(OSError):
        get(lab.operations_url("peer0.org1"), "/healthz", timeout=1.0)
    with _engine(lab, connect_timeout=1.5, host_timeout=4) as engine:
        r5, r6 = engine.run([engine.inventory.hosts["vm5"], engine.inventory.hosts["vm6"]], _uptime)
    assert r5.status.value == "unreachable" and r6.ok


def test_stop_docker_leaves_ssh_up_and_the_engine_down(lab) -> None:
    fault = faults.stop_docker(lab, "vm6")
    assert "peer1.org1.example.com" in fault.data["containers"]

    def docker_ps(session):
        return session.run(["docker", "ps"], check=False)

    with _engine(lab) as engine:
        (r,) = engine.run([engine.inventory.hosts["vm6"]], docker_ps)
    assert r.ok                                  # SSH works
    assert r.value.exit_code != 0 and "docker daemon" in r.value.stderr.lower()
    with pytest.raises(OSError):
        get(lab.operations_url("peer1.org1"), "/healthz", timeout=1.0)


def test_fill_disk_to_a_percentage_shows_in_df(lab) -> None:
    faults.fill_disk(lab, "vm3", 85)

    def df(session):
        return [line.split() for line in session.run(["df", "-P", "/var/lib/docker", "/"]).stdout.splitlines()[1:]]

    with _engine(lab) as engine:
        r3, r4 = engine.run([engine.inventory.hosts["vm3"], engine.inventory.hosts["vm4"]], df)
    pct3 = int(r3.value[0][4].rstrip("%"))
    pct4 = int(r4.value[0][4].rstrip("%"))
    assert 85 <= pct3 <= 86, r3.value
    assert pct4 < 20
    assert faults.disk_usage_pct(lab, "vm3") == pytest.approx(85, abs=0.5)


def test_stop_dns_refuses_queries(lab) -> None:
    import dns.message
    import dns.query

    faults.stop_dns(lab)
    with pytest.raises(ConnectionRefusedError):
        dns.query.tcp(dns.message.make_query("org1.example.com", "SOA"), lab.gateway, port=53, timeout=2)


def test_hang_dns_times_out(lab) -> None:
    import dns.exception
    import dns.message
    import dns.query

    faults.hang_dns(lab)
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(dns.message.make_query("org1.example.com", "SOA"), lab.gateway, port=53, timeout=1)


def test_stop_container_stops_that_node_only(lab) -> None:
    faults.stop_container(lab, "peer0.org3")
    host = lab.node("peer0.org3").host
    running = lab.running_containers(host)
    assert "peer0.org3.example.com" not in running
    assert "couchdb0.org3" in running
    with pytest.raises(OSError):
        get(lab.operations_url("peer0.org3"), "/healthz", timeout=1.0)


def test_stall_chain_keeps_the_height(lab) -> None:
    from opskit.health.fabric_metrics import parse_metrics

    url = lab.operations_url("orderer2")
    before = parse_metrics(get(url, "/metrics")[1]).heights["mychannel"]
    faults.stall_chain(lab, "orderer2")
    answer = faults.advance_chain(lab, "orderer2", blocks=3)
    assert answer.get("stalled") is True
    assert parse_metrics(get(url, "/metrics")[1]).heights["mychannel"] == before
    # another node still advances
    other = lab.operations_url("orderer3")
    h3 = parse_metrics(get(other, "/metrics")[1]).heights["mychannel"]
    faults.advance_chain(lab, "orderer3", blocks=1)
    assert parse_metrics(get(other, "/metrics")[1]).heights["mychannel"] == h3 + 1


def test_faults_are_undone_in_a_with_block(lab) -> None:
    with faults.fill_disk(lab, "vm1", 70):
        assert faults.disk_usage_pct(lab, "vm1") > 69
    assert faults.disk_usage_pct(lab, "vm1") < 20
    assert lab.faults == []
