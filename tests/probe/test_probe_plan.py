"""The port plan (one table applied to an inventory) and the answer classification, without the lab.

The classification runs the probe's real remote program through a LocalSession against real local
listeners: an HTTP server, a server that stays silent, one that closes at once, and a closed port.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opskit.inventory import load_inventory, load_text
from opskit.probe import port_checks, probe_fleet
from opskit.probe.plan import NEEDS
from opskit.probe.probe import ProbeOptions

ROOT = Path(__file__).resolve().parents[2]


def test_plan_of_the_long_term_fleet() -> None:
    inv = load_inventory(str(ROOT / "inventories" / "longterm-example.yaml"))
    checks = port_checks(inv)
    keyed = {(c.source_host, c.target, c.port): c for c in checks}
    assert len(keyed) == len(checks)                      # one check per source host, target and port
    assert all(c.target_host != c.source_host or c.target not in c.sources for c in checks)  # never itself
    # every peer's host connects to every orderer of its channel on the orderer's listen port
    for peer in [n for n in inv.nodes.values() if n.kind.value == "peer"]:
        for o in inv.channels["mychannel"].orderers:
            chk = keyed[(peer.host, o, 7050)]
            assert peer.name in chk.sources and chk.protocol == "grpc"
            assert "peer -> orderer (deliver blocks)" in chk.why
    # orderers need every Kafka broker, brokers need ZooKeeper; Prometheus scrapes operations ports
    kafkas = [n for n in inv.nodes.values() if n.kind.value == "kafka"]
    assert kafkas and all((inv.nodes["orderer1"].host, k.name, 9092) in keyed for k in kafkas)
    zk = keyed[(inv.nodes["kafka0"].host, "zookeeper1", 2181)]
    assert zk.protocol == "zookeeper" and "kafka0" in zk.sources
    scrape = keyed[(inv.nodes["prometheus"].host, "peer0.org1", 9443)]
    assert scrape.role == "operations" and scrape.protocol == "http"
    # the cli reaches every orderer (load.tx) and the peers
    cli_host = inv.nodes["cli"].host
    assert all((cli_host, o, 7050) in keyed for o in inv.channels["mychannel"].orderers)
    # the table is the only source: every check is explained by at least one need of it
    whys = {n.why for n in NEEDS}
    assert all(set(c.why) <= whys for c in checks)


class _Http(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listeners() -> Iterator[dict[str, int]]:
    """Real listeners on 127.0.0.1: http, silent (accepts, never answers), closing (accepts, closes), refused."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closing = socket.socket()
    closing.bind(("127.0.0.1", 0))
    closing.listen(8)
    stop = threading.Event()

    def closer() -> None:
        closing.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = closing.accept()
            except OSError:
                continue
            conn.recv(64)
            conn.close()

    threading.Thread(target=closer, daemon=True).start()
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    refused = spare.getsockname()[1]
    spare.close()
    try:
        yield {"http": http.server_address[1], "silent": silent.getsockname()[1],
               "closing": closing.getsockname()[1], "refused": refused}
    finally:
        stop.set()
        http.shutdown()
        http.server_close()
        silent.close()
        closing.close()


def test_answers_are_classified_against_what_the_plan_expects(listeners: dict[str, int]) -> None:
    p = listeners
    inv = load_text(f"""
version: 2
hosts:
  here: {{address: 127.0.0.1, connection: local}}
nodes:
  peer0: {{kind: peer, host: here, ports: [{p['refused']}]}}
  couchdb0: {{kind: couchdb, host: here, ports: [{p['http']}]}}
  orderer1: {{kind: orderer, host: here, ports: [{p['silent']}]}}
  orderer2: {{kind: orderer, host: here, ports: [{p['http']}]}}
  kafka0: {{kind: kafka, host: here, ports: [{p['closing']}]}}
  cli: {{kind: cli, host: here}}
channels:
  ch: {{orderers: [orderer1, orderer2], peers: [peer0]}}
""", "probe-local.yaml")
    report = probe_fleet(inv, probe=ProbeOptions(connect_timeout=1, read_timeout=0.5))
    net = {(f.data["target"], f.data["port"]): f for f in report.findings if f.check == "probe.network"}
    assert net[("couchdb0", p["http"])].severity.label() == "ok"                 # HTTP where HTTP is expected
    assert net[("couchdb0", p["http"])].data["answer"] == "http"
    assert net[("orderer1", p["silent"])].severity.label() == "ok"               # gRPC does not answer HTTP
    assert net[("orderer1", p["silent"])].data["answer"] == "silent"
    unexpected = net[("orderer2", p["http"])]                                    # HTTP on a gRPC port
    assert unexpected.severity.label() == "warning" and unexpected.data["status"] == "unexpected"
    assert "open but answers HTTP/1.x ('HTTP/1.0 200 OK'); expected gRPC" in unexpected.message
    assert net[("kafka0", p["closing"])].data["answer"] == "closed"
    assert net[("kafka0", p["closing"])].severity.label() == "ok"
    blocked = net[("peer0", p["refused"])]                                       # cli -> peer
    assert blocked.severity.label() == "critical" and blocked.data["connect"] == "refused"
    assert "connection refused" in blocked.message
    assert "cli -> peer (endorse, query, getinfo)" in blocked.data["why"]
    assert len(net) == len(port_checks(inv))
    assert report.meta["sections"]["network"]["critical"] == 1 and report.meta["sections"]["network"]["warning"] == 1
