"""Decoding, configtxlator-style rendering, accessors and setters on real config blocks."""

from __future__ import annotations

import pytest

from fabric_protos.common import common_pb2

from opskit.orderer import config as C
from .conftest import FIX, KAFKA_GENESIS, MIG, MYCHANNEL_BLOCK0, UPD, load_json


def test_render_equals_configtxlator_decoding(mychannel_chain):
    kafka = C.load_config_file(KAFKA_GENESIS)
    assert (kafka.kind, kafka.channel_id, kafka.block_number) == ("block", "system-channel", 0)
    assert C.render_config(kafka.config) == load_json(FIX / "01_configtxgen_offline/kafka_system-channel_genesis.config.json")
    assert C.render_config(kafka.config) == load_json(MIG / "00_kafka_original.config.json")
    block0 = C.load_config_file(MYCHANNEL_BLOCK0)
    assert C.render_config(block0.config) == load_json(
        FIX / "03_raft_network/artifacts/mychannel_block0_from_channel_create.config.json")
    # the config u03 was computed from = block 2 of the ledger, as `peer channel fetch config` + configtxlator showed it
    assert C.render_config(mychannel_chain[2].config) == load_json(UPD / "u03_batchtimeout_3s/original.config.json")
    # a common.Config encoded by configtxlator, with the orderer's version bumps
    cfg = C.load_config_file(MIG / "step2_to_etcdraft.original.pb")
    assert cfg.kind == "config" and cfg.channel_id is None
    assert C.render_config(cfg.config) == load_json(MIG / "01_maintenance.config.json")


def test_load_envelope_and_bad_files(tmp_path):
    block = common_pb2.Block()
    block.ParseFromString(MYCHANNEL_BLOCK0.read_bytes())
    env_file = tmp_path / "config.env"
    env_file.write_bytes(block.data.data[0])
    env = C.load_config_file(env_file)
    assert (env.kind, env.channel_id) == ("envelope", "mychannel")
    assert env.config == C.load_config_file(MYCHANNEL_BLOCK0).config

    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"this is not a protobuf at all\n")
    with pytest.raises(C.ChannelConfigError, match="not a config block"):
        C.load_config_file(garbage)
    # a CONFIG_UPDATE envelope is not a config
    with pytest.raises(C.ChannelConfigError, match="not a config block"):
        C.load_config_file(MIG / "step1_to_maintenance.update_in_envelope.pb")
    with pytest.raises(C.ChannelConfigError, match="cannot read"):
        C.load_config_file(tmp_path / "missing.block")


def test_accessors_on_kafka_and_raft_configs(kafka_config):
    ct = C.get_consensus(kafka_config)
    assert (ct.type, ct.state, ct.metadata, ct.raft) == ("kafka", "STATE_NORMAL", b"", None)
    assert C.get_batch_timeout(kafka_config) == "2s"
    assert C.get_batch_size(kafka_config) == C.BatchSize(10, 103809024, 524288)
    assert C.get_kafka_brokers(kafka_config) == [f"kafka{i}:9092" for i in range(4)]
    assert C.get_capabilities(kafka_config, "channel") == {"V2_0"}
    assert C.get_capabilities(kafka_config, "orderer") == {"V2_0"}
    with pytest.raises(C.ChannelConfigError, match="no group /Channel/Application"):
        C.get_capabilities(kafka_config, "application")

    raft = C.get_consensus(C.load_config_file(MYCHANNEL_BLOCK0).config).raft
    assert [c.endpoint for c in raft.consenters] == ["127.0.0.1:7050", "127.0.0.1:8050", "127.0.0.1:9050", "127.0.0.1:10050"]
    assert raft.options == C.RaftOptions("500ms", 10, 1, 5, 16777216)
    assert raft.consenters[0].server_tls_cert.startswith(b"-----BEGIN CERTIFICATE-----")
    # RaftMetadata round-trips to the same decoded message
    assert C.RaftMetadata.from_bytes(raft.to_bytes()) == raft

    s = C.summary(kafka_config)
    assert s["consensus"] == {"type": "kafka", "state": "STATE_NORMAL", "version": 0}
    assert s["orderer_orgs"] == [f"OrdererOrg{i}MSP" for i in range(1, 5)]
    assert s["consortiums"] == ["SampleConsortium"]


def test_setters_reserialize_only_the_changed_value(kafka_config):
    cfg = C.clone(kafka_config)
    assert C.set_batch_timeout(cfg, "3s") is True
    assert C.get_batch_timeout(cfg) == "3s" and C.get_batch_timeout(kafka_config) == "2s"
    changed = [c.path for c in C.diff_configs(kafka_config, cfg)]
    assert changed == [".channel_group.groups.Orderer.values.BatchTimeout.value.timeout"]
    # every other value keeps its exact bytes
    before = C.group_at(kafka_config, "Orderer").values
    after = C.group_at(cfg, "Orderer").values
    assert {k for k in before if before[k].value != after[k].value} == {"BatchTimeout"}
    # setting the same value again changes nothing
    assert C.set_batch_timeout(cfg, "3s") is False
    assert C.set_batch_size(cfg, max_message_count=10) is False

    assert C.set_batch_size(cfg, max_message_count=20, preferred_max_bytes=1024) is True
    assert C.get_batch_size(cfg) == C.BatchSize(20, 103809024, 1024)
    assert C.set_capabilities(cfg, "orderer", ["V1_4_2"]) is True
    assert C.get_capabilities(cfg, "orderer") == {"V1_4_2"}
    assert C.set_consensus(cfg, state="STATE_MAINTENANCE") is True
    assert C.get_consensus(cfg).in_maintenance


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": "0s"}, "must be positive"),
    ({"timeout": "3 seconds"}, "not a Go duration"),
    ({"timeout": ""}, "not a Go duration"),
    ({"max_message_count": 0}, "between 1 and"),
    ({"absolute_max_bytes": 2**32}, "between 1 and"),
    ({"preferred_max_bytes": 103809025}, "greater than absolute_max_bytes"),
])
def test_setters_refuse_values_the_orderer_refuses(kafka_config, kwargs, message):
    cfg = C.clone(kafka_config)
    with pytest.raises(C.ChannelConfigError, match=message):
        if "timeout" in kwargs:
            C.set_batch_timeout(cfg, kwargs["timeout"])
        else:
            C.set_batch_size(cfg, **kwargs)
    assert C.render_config(cfg) == C.render_config(kafka_config)


def test_bad_names_and_states(kafka_config):
    cfg = C.clone(kafka_config)
    with pytest.raises(C.ChannelConfigError, match="not one of"):
        C.set_consensus(cfg, state="PAUSED")
    with pytest.raises(C.ChannelConfigError, match="not a name like"):
        C.set_capabilities(cfg, "channel", ["latest"])
    with pytest.raises(C.ChannelConfigError, match="capability level"):
        C.get_capabilities(cfg, "peer")
    assert C.duration_ns("1m30s") == 90 * 10**9 and C.duration_ns("500ms") == 5 * 10**8
