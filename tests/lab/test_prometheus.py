"""A real Prometheus scraping stand-in operations endpoints and a real node_exporter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opskit_lab import procs
from opskit_lab.prometheus import PrometheusServer
from opskit_lab.standin.launch import get, start_local
from opskit_lab.wait import free_port, wait_for

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus")


@pytest.fixture
def node_exporter(tmp_path: Path):
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        pytest.skip("needs prometheus-node-exporter")
    port = free_port()
    pidfile = tmp_path / "node_exporter.pid"
    procs.spawn([binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                 "--collector.filesystem", "--collector.loadavg", "--collector.meminfo"],
                pidfile=pidfile, log=tmp_path / "node_exporter.log")
    wait_for(lambda: get(f"http://127.0.0.1:{port}", "/metrics", timeout=1)[0] == 200, timeout=15,
             what="node_exporter")
    yield f"127.0.0.1:{port}"
    procs.stop(pidfile)


def _value(prom: PrometheusServer, expr: str) -> dict[str, float]:
    return {r["metric"].get("job", ""): float(r["value"][1]) for r in prom.query(expr)}


def test_prometheus_scrapes_standins_and_node_exporter(tmp_path: Path, node_exporter: str) -> None:
    orderer = start_local(tmp_path, "orderer1", "orderer", free_port(), args=["--leader", "1", "--heartbeat", "0"])
    peer = start_local(tmp_path, "peer0.org1", "peer", free_port(), args=["--heartbeat", "0"])
    prom = PrometheusServer(tmp_path / "prom", {"orderers": [orderer.target], "peers": [peer.target],
                                                "node": [node_exporter]})
    try:
        prom.start()
        assert "job_name: \"orderers\"" in prom.config.read_text()
        health = prom.wait_targets_up(timeout=30)
        assert health == {f"orderers/{orderer.target}": "up", f"peers/{peer.target}": "up",
                          f"node/{node_exporter}": "up"}
        heights = _value(prom, 'ledger_blockchain_height{channel="mychannel"}')
        assert heights == {"orderers": 43.0, "peers": 43.0}
        assert _value(prom, 'consensus_etcdraft_is_leader{channel="mychannel"}') == {"orderers": 1.0}
        assert _value(prom, "up") == {"orderers": 1.0, "peers": 1.0, "node": 1.0}

        # the harness advances one node: Prometheus sees the new height (and the lag)
        peer.control("advance", blocks=3)
        wait_for(lambda: _value(prom, 'gossip_state_height{channel="mychannel"}') == {"peers": 46.0},
                 timeout=15, what="Prometheus to see the peer at 46")
        lag = prom.query('max(ledger_blockchain_height{channel="mychannel"}) - min(ledger_blockchain_height{channel="mychannel"})')
        assert float(lag[0]["value"][1]) == 3

        # unparseable /metrics: Prometheus marks that target down with a parse error
        orderer.control("garbage")
        wait_for(lambda: prom.targets_health()[f"orderers/{orderer.target}"] == "down", timeout=15,
                 what="orderer target down on garbage")
        errors = [t["lastError"] for t in prom.active_targets() if t["labels"]["job"] == "orderers"]
        assert errors and errors[0]
        orderer.control("garbage", value=0)
        prom.wait_targets_up(timeout=15)
    finally:
        assert prom.stop()
        orderer.stop()
        peer.stop()
    assert procs.read_pid(prom.pidfile) is None
