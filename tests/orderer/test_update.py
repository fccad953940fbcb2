"""compute_update against configtxlator's own outputs; CONFIG_UPDATE envelopes; set-batch updates."""

from __future__ import annotations

import pytest

from fabric_protos.common import common_pb2

from opskit.orderer import config as C
from opskit.orderer import update as U
from .conftest import MIG, STEPS, U_BLOCKS, UPD, load_json


@pytest.mark.parametrize("step", STEPS)
def test_compute_update_equals_configtxlator_02(step):
    original = C.load_config_file(MIG / f"{step}.original.pb").config
    modified = C.load_config_file(MIG / f"{step}.modified.pb").config
    cu = U.compute_update(original, modified, "system-channel")
    assert C.render_update(cu) == load_json(MIG / f"{step}.update.json")
    assert U.updates_equal(cu, U.load_update_file(MIG / f"{step}.update.pb").update)
    in_env = U.load_update_file(MIG / f"{step}.update_in_envelope.pb")
    assert in_env.channel_id == "system-channel" and U.updates_equal(cu, in_env.update)


@pytest.mark.parametrize("name", sorted(U_BLOCKS))
def test_compute_update_equals_configtxlator_03(name, mychannel_chain):
    """Original = config of block N-1, updated = config of block N, as orderer1 committed them."""
    n = U_BLOCKS[name]
    cu = U.compute_update(mychannel_chain[n - 1].config, mychannel_chain[n].config, "mychannel")
    assert C.render_update(cu) == load_json(UPD / name / "update.json")
    assert U.updates_equal(cu, U.load_update_file(UPD / name / "update.pb").update)
    # and it is the update that was really submitted (the block's last_update)
    assert U.updates_equal(cu, U.unwrap_update(mychannel_chain[n].last_update).update)


def test_no_differences_is_an_error(kafka_config):
    with pytest.raises(U.NoDifferences, match="no differences detected"):
        U.compute_update(kafka_config, C.clone(kafka_config), "system-channel")
    # a version-only difference is no difference either (compute_update compares values, not versions)
    bumped = C.clone(kafka_config)
    C.group_at(bumped, "Orderer").values["BatchSize"].version = 7
    bumped.sequence = 9
    with pytest.raises(U.NoDifferences):
        U.compute_update(kafka_config, bumped, "system-channel")


def test_new_and_removed_elements(kafka_config):
    """A removed value and a new group follow configtxlator's membership rules."""
    cfg = C.clone(kafka_config)
    del C.group_at(cfg, "Orderer").values["KafkaBrokers"]
    cu = U.compute_update(kafka_config, cfg, "system-channel")
    ws, rs = cu.write_set.groups["Orderer"], cu.read_set.groups["Orderer"]
    assert ws.version == 1 and ws.mod_policy == "Admins" and rs.version == 0
    assert "KafkaBrokers" not in ws.values and ws.values["BatchSize"].version == 0 and not ws.values["BatchSize"].value
    assert set(ws.groups) == set(rs.groups) == {f"OrdererOrg{i}MSP" for i in range(1, 5)}

    cfg = C.clone(kafka_config)
    new = C.group_at(cfg, "Orderer").groups["OrdererOrg5MSP"]
    new.CopyFrom(C.group_at(kafka_config, "Orderer", "OrdererOrg1MSP"))
    new.version = 3
    cu = U.compute_update(kafka_config, cfg, "system-channel")
    g = cu.write_set.groups["Orderer"].groups["OrdererOrg5MSP"]
    assert g.version == 0 and g.mod_policy == "Admins"
    assert all(v.version == 0 and v.value for v in g.values.values())
    assert "OrdererOrg5MSP" not in cu.read_set.groups["Orderer"].groups


def test_wrap_update_matches_fixture_envelope():
    for step in STEPS:
        fixture = common_pb2.Envelope()
        fixture.ParseFromString((MIG / f"{step}.update_in_envelope.pb").read_bytes())
        cu = U.load_update_file(MIG / f"{step}.update.pb").update
        env = U.wrap_update(cu, "system-channel")
        mine, theirs = common_pb2.Payload(), common_pb2.Payload()
        mine.ParseFromString(env.payload)
        theirs.ParseFromString(fixture.payload)
        assert mine.header == theirs.header  # channel header type 2 + channel id, nothing else
        chdr = common_pb2.ChannelHeader()
        chdr.ParseFromString(mine.header.channel_header)
        assert (chdr.type, chdr.channel_id) == (common_pb2.CONFIG_UPDATE, "system-channel")
        back = U.unwrap_update(env)
        assert back.channel_id == "system-channel" and U.updates_equal(back.update, cu)
        assert not back.envelope.signatures
    with pytest.raises(C.ChannelConfigError, match="update is for channel"):
        U.wrap_update(cu, "mychannel")


def test_render_envelope_equals_configtxlator():
    env = common_pb2.Envelope()
    env.ParseFromString((UPD / "u03_batchtimeout_3s/update_in_envelope.signed_by_signers.pb").read_bytes())
    assert C.render_envelope(env) == load_json(UPD / "u03_batchtimeout_3s/update_in_envelope.signed_by_signers.json")


def test_set_batch_updates_equal_u03_u05(mychannel_chain):
    """The config each update was computed from is block N-1 of the ledger."""
    cfg = C.clone(mychannel_chain[2].config)
    C.set_batch_timeout(cfg, "3s")
    assert C.render_update(U.compute_update(mychannel_chain[2].config, cfg, "mychannel")) == \
        load_json(UPD / "u03_batchtimeout_3s/update.json")
    cfg = C.clone(mychannel_chain[4].config)
    C.set_batch_size(cfg, max_message_count=20)
    assert C.render_update(U.compute_update(mychannel_chain[4].config, cfg, "mychannel")) == \
        load_json(UPD / "u05_maxmsgcount_20/update.json")


def test_parse_update_bytes_rejects_garbage(tmp_path):
    bad = tmp_path / "x.pb"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(C.ChannelConfigError, match="not a CONFIG_UPDATE envelope"):
        U.load_update_file(bad)
    bare = U.load_update_file(MIG / "step1_to_maintenance.update.pb")
    assert bare.channel_id == "system-channel"
