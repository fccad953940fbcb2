"""Kafka -> Raft migration planning: fixture-equal updates, channel states, prechecks and their errors."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from opskit.orderer import config as C
from opskit.orderer import migration as M
from opskit.output.report import Severity

from .conftest import MIG, MYCHANNEL_KAFKA, STEP_RESULTS, STEPS, load_json


def _specs(raft):
    return [M.ConsenterSpec(c.host, c.port, c.client_tls_cert, c.server_tls_cert) for c in raft.consenters]


def _critical(findings):
    return [f.message for f in findings if f.severity is Severity.CRITICAL]


def test_plan_equals_fixture_updates(kafka_config, consenters_file):
    specs, options = M.load_consenters(consenters_file)
    assert [s.endpoint for s in specs] == [f"orderer1.ordererorg{i}.example.com:7050" for i in range(1, 5)]
    steps = M.plan_channel(kafka_config, "system-channel", M.raft_metadata(specs, options))
    assert [s.name for s in steps] == STEPS
    assert [(s.before, s.after) for s in steps] == [
        (M.ChannelStep.KAFKA_NORMAL, M.ChannelStep.KAFKA_MAINTENANCE),
        (M.ChannelStep.KAFKA_MAINTENANCE, M.ChannelStep.RAFT_MAINTENANCE),
        (M.ChannelStep.RAFT_MAINTENANCE, M.ChannelStep.RAFT_NORMAL)]
    for s, result in zip(steps, STEP_RESULTS):
        assert C.render_update(s.update) == load_json(MIG / f"{s.name}.update.json"), s.name
        # the config the orderer would commit, versions and sequence included
        assert C.render_config(s.modified) == load_json(MIG / f"{result}.config.json"), s.name
    assert steps[0].changes == [".channel_group.groups.Orderer.values.ConsensusType.value.state: "
                                "'STATE_NORMAL' -> 'STATE_MAINTENANCE'"]


def test_resume_from_maintenance(raft_metadata_fixture):
    maint = C.load_config_file(MIG / "step2_to_etcdraft.original.pb").config
    assert M.channel_step(maint) is M.ChannelStep.KAFKA_MAINTENANCE
    steps = M.plan_channel(maint, "system-channel", raft_metadata_fixture)
    assert [s.number for s in steps] == [2, 3]
    assert C.render_update(steps[0].update) == load_json(MIG / "step2_to_etcdraft.update.json")
    done = C.load_config_file(MIG / "step3_to_normal.modified.pb").config
    assert M.channel_step(done) is M.ChannelStep.RAFT_NORMAL and M.plan_channel(done, "x", raft_metadata_fixture) == []
    # stop after update 2 (before the Raft restart)
    assert [s.number for s in M.plan_channel(maint, "system-channel", raft_metadata_fixture, until=2)] == [2]


def test_plan_orders_system_channel_first(kafka_config, raft_metadata_fixture):
    app = C.load_config_file(MYCHANNEL_KAFKA).config
    steps = M.plan_migration({"mychannel": app, "system-channel": kafka_config}, raft_metadata_fixture,
                             system_channel="system-channel")
    assert [(s.number, s.channel) for s in steps] == [
        (1, "system-channel"), (1, "mychannel"), (2, "system-channel"), (2, "mychannel"),
        (3, "system-channel"), (3, "mychannel")]
    # the same metadata on every channel
    metas = {C.get_consensus(s.modified).metadata for s in steps if s.number == 2}
    assert len(metas) == 1


def test_step_generators_refuse_wrong_state(kafka_config, raft_metadata_fixture):
    with pytest.raises(M.MigrationError, match="cannot exit maintenance: channel is kafka-normal"):
        M.step3_exit_maintenance(kafka_config)
    with pytest.raises(M.MigrationError, match="cannot switch to etcdraft: channel is kafka-normal"):
        M.step2_switch_to_etcdraft(kafka_config, raft_metadata_fixture)
    maint = M.step1_enter_maintenance(kafka_config)
    with pytest.raises(M.MigrationError, match="at least 3 needed"):
        M.step2_switch_to_etcdraft(maint, dataclasses.replace(raft_metadata_fixture,
                                                              consenters=raft_metadata_fixture.consenters[:2]))
    # abort before the switch: back to kafka NORMAL; after the switch only a restore helps
    aborted = M.abort_exit_maintenance(maint)
    assert M.channel_step(aborted) is M.ChannelStep.KAFKA_NORMAL
    switched = M.step2_switch_to_etcdraft(maint, raft_metadata_fixture)
    with pytest.raises(M.MigrationError, match="restore the step-2 backup"):
        M.abort_exit_maintenance(switched)
    # KafkaBrokers stays in place, as in the Fabric procedure
    assert C.get_kafka_brokers(switched) == C.get_kafka_brokers(kafka_config)


def test_prechecks_pass_on_fixture(kafka_config, raft_metadata_fixture):
    findings = M.precheck({"system-channel": kafka_config}, _specs(raft_metadata_fixture),
                          node_versions={"orderer1": "2.5.12", "peer0.org1": "v1.4.2"})
    assert _critical(findings) == []
    assert not [f for f in findings if f.severity is Severity.WARNING]
    M.require_ok(findings)


def test_precheck_capability_below_v142(kafka_config, raft_metadata_fixture):
    old = C.clone(kafka_config)
    C.set_capabilities(old, "orderer", ["V1_1"])
    C.set_capabilities(old, "channel", ["V1_3"])
    findings = M.precheck({"system-channel": old}, _specs(raft_metadata_fixture))
    bad = _critical(findings)
    assert any("orderer capability" in m and "V1_1" in m and "below V1_4_2" in m for m in bad)
    assert any("channel capability" in m and "V1_3" in m for m in bad)
    with pytest.raises(M.PrecheckFailed, match="below V1_4_2"):
        M.require_ok(findings)
    # V1_4_2 itself is enough
    ok = C.clone(kafka_config)
    C.set_capabilities(ok, "orderer", ["V1_4_2"])
    assert _critical(M.check_capabilities(ok, "x")) == []


def test_precheck_consenters(raft_metadata_fixture):
    specs = _specs(raft_metadata_fixture)
    assert any("2 consenter(s) given, at least 3" in m for m in _critical(M.check_consenters(specs[:2])))
    garbage = dataclasses.replace(specs[0], server_tls_cert=b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                                            b"-----END CERTIFICATE-----\n")
    bad = _critical(M.check_consenters([garbage] + specs[1:]))
    assert len(bad) == 1 and "orderer1.ordererorg1.example.com:7050 server_tls_cert: not a PEM X.509" in bad[0]
    # org2's certificate given for org1's orderer: SANs do not cover the host
    swapped = dataclasses.replace(specs[0], server_tls_cert=specs[1].server_tls_cert)
    bad = _critical(M.check_consenters([swapped] + specs[1:]))
    assert len(bad) == 1 and "do not include orderer1.ordererorg1.example.com" in bad[0]
    assert "orderer1.ordererorg2.example.com" in bad[0]
    # duplicate endpoint
    assert any("listed 2 times" in m for m in _critical(M.check_consenters(specs + [specs[0]])))
    # expired (the fixture certs are valid 10 years) and not yet valid
    bad = _critical(M.check_consenters(specs, now=datetime(2040, 1, 1, tzinfo=timezone.utc)))
    assert len(bad) == 8 and all("expired on 2036-11-18" in m for m in bad)
    bad = _critical(M.check_consenters(specs, now=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    assert bad and all("not valid before" in m for m in bad)
    # an IP-literal host is matched against IP SANs (the certs carry 127.0.0.1)
    local = [dataclasses.replace(s, host="127.0.0.1", port=7050 + 1000 * i) for i, s in enumerate(specs)]
    assert _critical(M.check_consenters(local)) == []
    warn = [f for f in M.check_consenters(local, endpoints=["127.0.0.1:7050"]) if f.severity is Severity.WARNING]
    assert len(warn) == 3 and "not among the orderer endpoints" in warn[0].message


def test_precheck_node_versions_and_state():
    findings = M.check_node_versions({"orderer1": "1.4.1", "peer0": "2.2.0", "odd": "unknown"})
    assert [f.severity for f in findings] == [Severity.UNKNOWN, Severity.CRITICAL, Severity.OK]
    assert "older than 1.4.2" in findings[1].message
    maint = C.load_config_file(MIG / "step2_to_etcdraft.original.pb").config
    (f,) = M.check_consensus(maint, "system-channel")
    assert f.severity is Severity.WARNING and f.data["step"] == "kafka-maintenance"


def test_load_consenters_errors(tmp_path, consenters_file):
    (tmp_path / "a.yaml").write_text("consenters:\n  - host: o1\n    port: 7050\n    client_tls_cert: x.crt\n")
    with pytest.raises(M.MigrationError, match=r"consenters\[0\]: missing server_tls_cert"):
        M.load_consenters(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("consenters:\n  - {host: o1, port: 7050, client_tls_cert: nope.crt, "
                                     "server_tls_cert: nope.crt}\n")
    with pytest.raises(M.MigrationError, match="cannot read .*nope.crt"):
        M.load_consenters(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text(consenters_file.read_text() + "  bogus_option: 1\n")
    with pytest.raises(M.MigrationError, match="unknown etcdraft options bogus_option"):
        M.load_consenters(tmp_path / "c.yaml")
