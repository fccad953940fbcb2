"""The gate of Kafka and ZooKeeper nodes: the service port must accept connections on the node's host."""

from __future__ import annotations

import json

import pytest

from opskit.container.config import Changes, parse_set
from opskit.container.gate import GateOptions, service_port
from opskit.container.recreate import RecreateOptions
from opskit.container.replace import replace
from opskit.inventory.model import Node
from tests.container.helpers import docker, inspect, wait_running


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def opts() -> RecreateOptions:
    return RecreateOptions(backup=False, gate=GateOptions(timeout=5, settle=1.0, poll=0.3))


def _finding(report, node):
    return next(f for f in report.findings if f.node == node)


def test_service_port_from_the_inventory() -> None:
    assert service_port(Node(kind="kafka", host="h")) == 9092
    assert service_port(Node(kind="kafka", host="h", ports=[19092])) == 19092
    assert service_port(Node(kind="kafka", host="h", ports=[9093, 9092])) == 9092
    assert service_port(Node(kind="zookeeper", host="h", ports=[2181, 2888, 3888])) == 2181
    assert service_port(Node(kind="zookeeper", host="h", ports=[2888], listen_port=12181)) == 12181
    assert service_port(Node(kind="peer", host="h", ports=[7051])) is None


def test_kafka_whose_port_stays_closed_fails_the_gate_and_rolls_back(lab):
    inv = lab.inventory()
    node = "kafka3"
    host = lab.node(node).host
    old = inspect(lab, node)
    cmd = list(old["Config"]["Cmd"])
    i = cmd.index("--port")
    cmd[i + 1] = "0"  # the stand-in runs (and logs) but listens nowhere, like a broker stuck before its listener
    report = replace(inv, node, Changes(command=cmd), opts())
    f = _finding(report, node)
    assert f.data["status"] == "rolled-back", f.message
    assert "port 9092 is not accepting connections on " + host in f.message, f.message
    assert report.exit_code == 2
    now = inspect(lab, node)
    assert now["Id"] == old["Id"] and now["State"]["Running"]
    failed = json.loads(docker(lab, host, "container", "inspect", f"{node}-opskit-failed").stdout)[0]
    assert failed["Config"]["Cmd"] == cmd
    docker(lab, host, "rm", "-f", f"{node}-opskit-failed")
    wait_running(lab, node)


@pytest.mark.parametrize("node,port", [("kafka0", 9092), ("zookeeper0", 2181)])
def test_kafka_and_zookeeper_pass_once_their_port_answers(lab, node, port):
    inv = lab.inventory()
    old = inspect(lab, node)
    report = replace(inv, node, parse_set(["log-opt.max-size=33m"]), opts())
    f = _finding(report, node)
    assert f.data["status"] == "changed", f.message
    service = f.data["gate"]["service"]
    assert service["port"] == port and service["address"] == "127.0.0.1", service
    if node.startswith("zookeeper"):
        # the stand-in is no real ZooKeeper: srvr/ruok get no answer and the gate says it checked the port only
        assert "four-letter words not answered" in service["note"]
    assert inspect(lab, node)["Id"] != old["Id"]


class _FakeZooKeeper:
    """A TCP server on loopback that answers four-letter words the way ZooKeeper does (then closes)."""

    def __init__(self, answers: dict[str, str]) -> None:
        import socketserver
        import threading

        answers_ = answers

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                word = self.request.recv(4).decode()
                self.request.sendall(answers_.get(word, "").encode())

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _local_host():
    from opskit.container.docker import DockerHost
    from opskit.inventory.model import Host
    from opskit.remote.session import LocalSession

    return DockerHost(Host(name="here", address="127.0.0.1", connection="local"), lambda h: LocalSession(h.name))


SRVR = "Zookeeper version: 3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, built on 03/06/2019 16:18 GMT\n" \
       "Latency min/avg/max: 0/0/0\nReceived: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x100000000\n" \
       "Mode: follower\nNode count: 4\n"


@pytest.mark.parametrize("answers,ready,expect", [
    ({"srvr": SRVR}, True, ("srvr", "Mode: follower")),
    ({"srvr": "This ZooKeeper instance is not currently serving requests\n"}, False, "not currently serving requests"),
    ({"srvr": "srvr is not executed because it is not in the whitelist.\n", "ruok": "imok"}, True, ("ruok", "imok")),
])
def test_zookeeper_four_letter_words(answers, ready, expect) -> None:
    from opskit.container.gate import ZK_WORDS, _service_verdict, probe_service

    zk = _FakeZooKeeper(answers)
    try:
        node = Node(kind="zookeeper", host="here", listen_port=zk.port)
        probe = probe_service(_local_host(), node, zk.port, ZK_WORDS)
        ok, why, seen = _service_verdict(node, zk.port, probe)
    finally:
        zk.close()
    assert probe.open_at == "127.0.0.1"
    assert ok is ready, (why, seen)
    if ready:
        assert expect[1] in seen[expect[0]], seen
    else:
        assert expect in why


def test_closed_port_is_not_ready() -> None:
    from opskit.container.gate import _service_verdict, probe_service
    from opskit_lab.wait import free_port

    port = free_port()
    node = Node(kind="kafka", host="here", listen_port=port)
    ok, why, _ = _service_verdict(node, port, probe_service(_local_host(), node, port))
    assert not ok and f"port {port} is not accepting connections on here (tried 127.0.0.1)" in why
