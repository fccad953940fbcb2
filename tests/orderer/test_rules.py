"""The orderer's acceptance rules, replayed on real updates and on updates the orderer must refuse."""

from __future__ import annotations

import pytest

from fabric_protos.common import common_pb2

from opskit.orderer import config as C
from opskit.orderer import rules as R
from opskit.orderer import update as U

from .conftest import MIG, STEP_RESULTS, STEPS, UPD, load_json

ORDERER_ADMINS = [R.config_signature(f"OrdererOrg{i}MSP") for i in (1, 2, 3)]


def _signed(update, signatures=ORDERER_ADMINS, channel="system-channel"):
    return U.wrap_update(update, channel, signatures=list(signatures))


def test_real_ledger_replays(mychannel_chain):
    """Every config update orderer1 committed on mychannel (blocks 1..42), with its real signatures, is accepted
    and yields exactly the config the orderer committed (versions and sequence included)."""
    for n in range(1, len(mychannel_chain)):
        res = R.apply_update(mychannel_chain[n - 1].config, "mychannel", mychannel_chain[n].last_update)
        assert C.render_config(res.config) == C.render_config(mychannel_chain[n].config), f"block {n}"
    res = R.apply_update(mychannel_chain[2].config, "mychannel", mychannel_chain[3].last_update)
    assert res.changed == ["[Value]  /Channel/Orderer/BatchTimeout"]
    assert sorted(s.mspid for s in res.signers) == ["OrdererOrg1MSP", "OrdererOrg2MSP", "OrdererOrg3MSP"]


def test_migration_updates_accepted_in_order(kafka_config):
    """Fixture 02's three updates, signed by 3 of 4 orderer orgs, give exactly 01/02/03_*.config.json."""
    current = kafka_config
    for step, result in zip(STEPS, STEP_RESULTS):
        update = U.load_update_file(MIG / f"{step}.update_in_envelope.pb").update
        res = R.apply_update(current, "system-channel", _signed(update))
        assert res.changed == ["[Value]  /Channel/Orderer/ConsensusType"]
        assert C.render_config(res.config) == load_json(MIG / f"{result}.config.json")
        current = res.config
    assert C.get_consensus(current).type == "etcdraft"


def test_insufficient_signatures(mychannel_chain, kafka_config):
    # the real u03 envelope before the submitter signed: 2 of 4 orderer orgs, MAJORITY needs 3
    env = common_pb2.Envelope()
    env.ParseFromString((UPD / "u03_batchtimeout_3s/update_in_envelope.signed_by_signers.pb").read_bytes())
    with pytest.raises(R.UpdateRejected, match="requires 3 of the 'Admins' sub-policies") as exc:
        R.apply_update(mychannel_chain[2].config, "mychannel", env)
    assert "policy for [Value]  /Channel/Orderer/BatchTimeout not satisfied" in str(exc.value)
    # the submitter's signature (OrdererOrg1MSP, taken from the committed block) makes it pass
    committed = U.unwrap_update(mychannel_chain[3].last_update).envelope
    signed = U.unwrap_update(env).envelope
    signed.signatures.extend(s for s in committed.signatures if s not in signed.signatures)
    assert R.apply_update(mychannel_chain[2].config, "mychannel", signed).changed

    step1 = U.load_update_file(MIG / "step1_to_maintenance.update.pb").update
    with pytest.raises(R.UpdateRejected, match="0 sub-policies were satisfied"):
        R.apply_update(kafka_config, "system-channel", _signed(step1, []))
    # the same org twice counts once; peer-org admins do not count for /Channel/Orderer/Admins
    twice = [R.config_signature("OrdererOrg1MSP"), R.config_signature("OrdererOrg1MSP", b"other admin"),
             R.config_signature("OrdererOrg2MSP"), R.config_signature("Org1MSP")]
    with pytest.raises(R.UpdateRejected, match="2 sub-policies were satisfied"):
        R.apply_update(kafka_config, "system-channel", _signed(step1, twice))


def test_state_change_with_anything_else_is_rejected(kafka_config):
    cfg = C.clone(kafka_config)
    C.set_consensus(cfg, state="STATE_MAINTENANCE")
    C.set_batch_timeout(cfg, "5s")
    update = U.compute_update(kafka_config, cfg, "system-channel")
    with pytest.raises(R.UpdateRejected, match="more then just the ConsensusType value"):
        R.apply_update(kafka_config, "system-channel", _signed(update))
    # state change plus a change outside the Orderer group
    cfg = C.clone(kafka_config)
    C.set_consensus(cfg, state="STATE_MAINTENANCE")
    C.set_capabilities(cfg, "channel", ["V2_0", "V1_4_3"])
    update = U.compute_update(kafka_config, cfg, "system-channel")
    with pytest.raises(R.UpdateRejected, match="changes to values in group Channel"):
        R.apply_update(kafka_config, "system-channel",
                       _signed(update, ORDERER_ADMINS + [R.config_signature("OrdererOrg4MSP")]))


def test_type_change_only_inside_maintenance(kafka_config, raft_metadata_fixture):
    # kafka NORMAL -> etcdraft (skipping step 1)
    cfg = C.clone(kafka_config)
    C.set_consensus(cfg, type="etcdraft", metadata=raft_metadata_fixture)
    update = U.compute_update(kafka_config, cfg, "system-channel")
    with pytest.raises(R.UpdateRejected, match="current config ConsensusType.State is not in maintenance mode"):
        R.apply_update(kafka_config, "system-channel", _signed(update))
    # from maintenance, switching type and leaving maintenance in one update
    maint = C.load_config_file(MIG / "step2_to_etcdraft.original.pb").config
    cfg = C.clone(maint)
    C.set_consensus(cfg, type="etcdraft", state="STATE_NORMAL", metadata=raft_metadata_fixture)
    update = U.compute_update(maint, cfg, "system-channel")
    with pytest.raises(R.UpdateRejected, match="attempted to change ConsensusType.Type from kafka to etcdraft, but "
                                               "ConsensusType.State is changing"):
        R.apply_update(maint, "system-channel", _signed(update))
    # unsupported target type
    cfg = C.clone(maint)
    C.set_consensus(cfg, type="pbft")
    with pytest.raises(R.UpdateRejected, match="transition not supported"):
        R.apply_update(maint, "system-channel", _signed(U.compute_update(maint, cfg, "system-channel")))


def test_without_migration_capability(kafka_config):
    old = C.clone(kafka_config)
    C.set_capabilities(old, "orderer", ["V1_1"])
    cfg = C.clone(old)
    C.set_consensus(cfg, state="STATE_MAINTENANCE")
    with pytest.raises(R.UpdateRejected, match="capability is disabled"):
        R.apply_update(old, "system-channel", _signed(U.compute_update(old, cfg, "system-channel")))
    assert not R.migration_capability(old) and R.migration_capability(kafka_config)


def test_read_and_write_set_versions(mychannel_chain, kafka_config):
    # u06 read Org1MSP/Org2MSP at version 1 (after the anchor-peer updates); block 0 has them at version 0
    with pytest.raises(R.UpdateRejected, match=r"requires that key \[Group\]  /Channel/Application/Org1MSP be at "
                                               r"version 1, but it is currently at version 0|Org2MSP be at version 1"):
        R.apply_update(mychannel_chain[0].config, "mychannel", mychannel_chain[6].last_update)
    # applying step 1 twice: ConsensusType is already at version 1
    step1 = U.load_update_file(MIG / "step1_to_maintenance.update.pb").update
    after = R.apply_update(kafka_config, "system-channel", _signed(step1)).config
    with pytest.raises(R.UpdateRejected, match="attempt to set key .*ConsensusType to version 1, but key is at version 1"):
        R.apply_update(after, "system-channel", _signed(step1))
    # wrong channel
    with pytest.raises(R.UpdateRejected, match="envelope is for channel 'system-channel'") as exc:
        R.apply_update(kafka_config, "mychannel", _signed(step1))
    assert exc.value.status == "NOT_FOUND"


def test_normal_transactions_and_deliver_in_maintenance(kafka_config):
    maint = C.load_config_file(MIG / "step2_to_etcdraft.original.pb").config
    R.check_normal_transaction(kafka_config)
    with pytest.raises(R.UpdateRejected, match="normal transactions are rejected: maintenance mode") as exc:
        R.check_normal_transaction(maint)
    assert exc.value.status == "SERVICE_UNAVAILABLE"
    # deliver in maintenance: orderer-org identities only
    R.check_deliver(maint, [R.Signer("OrdererOrg2MSP")])
    with pytest.raises(R.UpdateRejected, match="deliver refused") as exc:
        R.check_deliver(maint, [R.Signer("Org1MSP")])
    assert exc.value.status == "FORBIDDEN"


def test_deliver_on_application_channel(mychannel_chain):
    cfg = mychannel_chain[-1].config
    R.check_deliver(cfg, [R.Signer("Org1MSP")])  # normal state: /Channel/Readers, peer orgs are readers
    with pytest.raises(R.UpdateRejected):
        R.check_deliver(cfg, [R.Signer("StrangerMSP")])
