"""Shared fixture data for the orderer tests: real Fabric 2.5.12 artifacts copied under tests/fixtures/fabric-2.5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric_protos.common import common_pb2, configtx_pb2

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "fabric-2.5"
MIG = FIX / "02_kafka_to_raft_migration"
UPD = FIX / "03_raft_network" / "config_updates"
KAFKA_GENESIS = FIX / "01_configtxgen_offline" / "kafka_system-channel_genesis.block"
RAFT_GENESIS = FIX / "01_configtxgen_offline" / "raft_system-channel_genesis.block"
MYCHANNEL_KAFKA = FIX / "01_configtxgen_offline" / "mychannel_kafka_genesis_configtxgen.block"
MYCHANNEL_BLOCK0 = FIX / "03_raft_network" / "artifacts" / "mychannel_block0_from_channel_create.block"
ORDERER1_BLOCKFILE = FIX / "03_raft_network" / "ledgers" / "orderer1_h43" / "mychannel" / "blockfile_000000"
STEPS = ["step1_to_maintenance", "step2_to_etcdraft", "step3_to_normal"]
STEP_RESULTS = ["01_maintenance", "02_maintenance_etcdraft", "03_normal_etcdraft"]
#: config update fixture -> block number it produced on mychannel (uN -> block N)
U_BLOCKS = {"u01_anchor_org1": 1, "u03_batchtimeout_3s": 3, "u05_maxmsgcount_20": 5, "u06_acl_eventblock_writers": 6}


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _uvarint(buf: bytes, i: int) -> tuple[int, int]:
    x = shift = 0
    while True:
        b = buf[i]
        i += 1
        x |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return x, i


def read_blockfile(path: Path) -> list[common_pb2.Block]:
    """Minimal reader of Fabric's blockfile record format (MANIFEST "Parsing notes"); test helper only."""
    data = path.read_bytes()
    out = []
    i = 0
    while i < len(data):
        n, i = _uvarint(data, i)
        body, i = data[i:i + n], i + n
        j = 0
        num, j = _uvarint(body, j)
        ln, j = _uvarint(body, j)
        data_hash, j = body[j:j + ln], j + ln
        ln, j = _uvarint(body, j)
        prev_hash, j = body[j:j + ln], j + ln
        ntx, j = _uvarint(body, j)
        blk = common_pb2.Block()
        blk.header.number, blk.header.data_hash, blk.header.previous_hash = num, data_hash, prev_hash
        for _ in range(ntx):
            ln, j = _uvarint(body, j)
            blk.data.data.append(body[j:j + ln])
            j += ln
        out.append(blk)
    return out


def config_envelope(block: common_pb2.Block) -> configtx_pb2.ConfigEnvelope:
    env = common_pb2.Envelope()
    env.ParseFromString(block.data.data[0])
    payload = common_pb2.Payload()
    payload.ParseFromString(env.payload)
    cenv = configtx_pb2.ConfigEnvelope()
    cenv.ParseFromString(payload.data)
    return cenv


@pytest.fixture(scope="session")
def mychannel_chain() -> list[configtx_pb2.ConfigEnvelope]:
    """The 43 config envelopes (blocks 0..42) of mychannel as orderer1 wrote them."""
    blocks = read_blockfile(ORDERER1_BLOCKFILE)
    assert [b.header.number for b in blocks] == list(range(43))
    return [config_envelope(b) for b in blocks]


@pytest.fixture(scope="session")
def kafka_config():
    from opskit.orderer.config import load_config_file

    return load_config_file(KAFKA_GENESIS).config


@pytest.fixture(scope="session")
def raft_metadata_fixture():
    """The etcdraft ConfigMetadata of raft_system-channel_genesis (what step 2 of fixture 02 puts in)."""
    from opskit.orderer.config import get_consensus, load_config_file

    raft = get_consensus(load_config_file(RAFT_GENESIS).config).raft
    assert raft is not None
    return raft


@pytest.fixture()
def consenters_file(tmp_path, raft_metadata_fixture) -> Path:
    """A consenters YAML with the fixture's four orderer TLS certs as PEM files."""
    lines = ["consenters:"]
    for i, c in enumerate(raft_metadata_fixture.consenters, 1):
        (tmp_path / f"orderer{i}-server.crt").write_bytes(c.server_tls_cert)
        (tmp_path / f"orderer{i}-client.crt").write_bytes(c.client_tls_cert)
        lines += [f"  - host: {c.host}", f"    port: {c.port}",
                  f"    client_tls_cert: orderer{i}-client.crt", f"    server_tls_cert: orderer{i}-server.crt"]
    o = raft_metadata_fixture.options
    lines += ["options:", f"  tick_interval: {o.tick_interval}", f"  election_tick: {o.election_tick}",
              f"  heartbeat_tick: {o.heartbeat_tick}", f"  max_inflight_blocks: {o.max_inflight_blocks}",
              f"  snapshot_interval_size: {o.snapshot_interval_size}"]
    path = tmp_path / "consenters.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
