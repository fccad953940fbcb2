"""D9 (a /healthz that never answers is a finding) and D10 (a container restarting now is reported on the first run).

These drive the health module's own judgement with the facts a host reports (the collection over SSH is covered
by tests/health/test_lab_health.py); tests/trust/test_lab_trust.py does the same against the lab.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opskit.health.facts import Container, Endpoint, HostFacts
from opskit.health.fleet import (
    HealthOptions,
    _containers,
    _endpoint_findings,
    _NodeView,
)
from opskit.inventory.load import load_text
from opskit.output.report import Finding, Severity
from tests.trust.cli import inventory_text

METRICS = "# TYPE ledger_blockchain_height gauge\nledger_blockchain_height{channel=\"mychannel\"} 7\n"


def test_healthz_that_never_answers_is_critical():
    inv = load_text(inventory_text(22))
    node = inv.nodes["peer0.org1"]
    facts = HostFacts(endpoints={("peer0.org1", "metrics"): Endpoint(200, METRICS),
                                 ("peer0.org1", "healthz"): Endpoint(0, "curl: (28) Operation timed out after 5001 ms")})
    out = _endpoint_findings(node, facts, _NodeView(node), [])
    hz = [f for f in out if f.check == "healthz"]
    assert hz and hz[0].severity is Severity.CRITICAL, out
    assert "did not answer" in hz[0].message and "timed out" in hz[0].message


def _started(ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=ago)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _first_run(tmp_path, container: Container) -> Finding:
    inv = load_text(inventory_text(22))
    facts = HostFacts(containers=[container])
    base = [Finding("container", Severity.OK, "peer0.org1 running", host="vm1", node="peer0.org1",
                    data={"container": "peer0.org1"})]
    return _containers(inv, "vm1", facts, base, HealthOptions(state_file=tmp_path / "restarts.json"))[0]


def test_container_restarting_every_few_seconds_is_reported_on_the_first_run(tmp_path):
    f = _first_run(tmp_path, Container("peer0.org1", "running", restart_count=14, started_at=_started(11)))
    assert f.severity is Severity.WARNING, f.message
    assert "restarted 14 time(s)" in f.message


def test_old_restarts_of_a_long_running_container_stay_ok(tmp_path):
    f = _first_run(tmp_path, Container("peer0.org1", "running", restart_count=2, started_at=_started(86400 * 3)))
    assert f.severity is Severity.OK, f.message


def test_restarting_state_is_critical(tmp_path):
    f = _first_run(tmp_path, Container("peer0.org1", "restarting", restart_count=3, started_at=_started(2)))
    assert f.severity is Severity.CRITICAL
