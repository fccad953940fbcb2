"""Channel configs in the lab: stand-in orderers apply config updates with the real orderer rules, and the cli
stand-in's ``peer channel fetch / signconfigtx / update`` drive them exactly as on a real fleet.

Everything goes through ``docker exec cli peer channel ...`` on the cli's lab host with the org admin MSPs the lab
generated; updates are built with the library (opskit.orderer.config / update / migration). The default lab
(etcdraft) covers fetch and a BatchTimeout change; the Kafka lab (tests/kafkalab.py, reset before each test)
covers the Kafka -> Raft migration, config pull at start and reset_fleet.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

SYS, APP = "system-channel", "mychannel"
ORDERER_ORGS = ["ordererorg1", "ordererorg2", "ordererorg3", "ordererorg4"]
RAFT_ENV = {"ORDERER_CONSENSUS_WALDIR": "/var/hyperledger/production/orderer/etcdraft/wal",
            "ORDERER_CONSENSUS_SNAPDIR": "/var/hyperledger/production/orderer/etcdraft/snapshot",
            "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": "/var/hyperledger/orderer/tls/server.crt",
            "ORDERER_GENERAL_CLUSTER_ROOTCAS": "[/var/hyperledger/orderer/tls/ca.crt]"}


# ------------------------------------------------------------------ helpers


def msp_id(org: str) -> str:
    return f"OrdererOrg{org.removeprefix('ordererorg')}MSP" if org.startswith("ordererorg") else \
        f"Org{org.removeprefix('org')}MSP"


class Cli:
    """``docker exec cli peer ...`` on the cli's lab host, as a given org admin."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.docker = lab.host_of("cli").docker
        self.container = lab.node("cli").container

    def orderer(self, name: str = "orderer1") -> str:
        n = self.lab.node(name)
        return f"{n.container}:{n.ports['listen']}"

    def peer(self, org: str, *args: str, msp_path: str | None = None) -> subprocess.CompletedProcess:
        env = ["-e", f"CORE_PEER_LOCALMSPID={msp_id(org)}",
               "-e", f"CORE_PEER_MSPCONFIGPATH={msp_path or self.lab.admin_msp_path(org)}"]
        return subprocess.run([*self.docker, "exec", *env, self.container, "peer", *args],
                              capture_output=True, text=True, timeout=60)

    def put(self, data: bytes, path: str) -> None:
        with tempfile.NamedTemporaryFile() as fh:
            fh.write(data)
            fh.flush()
            subprocess.run([*self.docker, "cp", fh.name, f"{self.container}:{path}"], check=True, capture_output=True)

    def get(self, path: str) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([*self.docker, "cp", f"{self.container}:{path}", f"{d}/out"], check=True,
                           capture_output=True)
            return Path(d, "out").read_bytes()

    def fetch(self, org: str, channel: str, which: str = "config", orderer: str = "orderer1"):
        """(CompletedProcess, block bytes or None) of ``peer channel fetch``."""
        out = f"/tmp/{channel}-{which}-{uuid.uuid4().hex[:8]}.block"
        proc = self.peer(org, "channel", "fetch", which, out, "-o", self.orderer(orderer), "-c", channel,
                         "--tls", "--cafile", "/etc/hyperledger/crypto/tlsca.pem")
        return proc, (self.get(out) if proc.returncode == 0 else None)

    def config(self, channel: str, org: str = "ordererorg1", orderer: str = "orderer1"):
        from opskit.orderer.config import parse_config_bytes

        proc, block = self.fetch(org, channel, "config", orderer)
        assert proc.returncode == 0, proc.stderr
        return parse_config_bytes(block).config

    def submit(self, channel: str, envelope: bytes, signers: list[str], submitter: str,
               orderer: str = "orderer1") -> subprocess.CompletedProcess:
        """signconfigtx by each of ``signers``, then ``peer channel update`` by ``submitter`` (who signs too)."""
        path = f"/tmp/update-{uuid.uuid4().hex[:8]}.pb"
        self.put(envelope, path)
        for org in signers:
            proc = self.peer(org, "channel", "signconfigtx", "-f", path)
            assert proc.returncode == 0, proc.stderr
        return self.peer(submitter, "channel", "update", "-f", path, "-c", channel, "-o", self.orderer(orderer),
                         "--tls", "--cafile", "/etc/hyperledger/crypto/tlsca.pem")


def update_envelope(current, modified, channel: str) -> bytes:
    from opskit.orderer.update import compute_update, wrap_update

    return wrap_update(compute_update(current, modified, channel), channel).SerializeToString()


def state(lab, node: str) -> dict:
    from opskit_lab.standin.launch import get

    code, body = get(lab.operations_url(node), "/lab/state")
    assert code == 200, body
    return json.loads(body)


def orderer_states(lab) -> dict[str, dict]:
    return {o.name: state(lab, o.name) for o in lab.topology.orderers}


def metrics(lab, node: str) -> str:
    from opskit_lab.standin.launch import get

    code, body = get(lab.operations_url(node), "/metrics")
    assert code == 200
    return body


def sample(text: str, name: str, channel: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f'{name}{{channel="{channel}"}} '):
            return float(line.split()[-1])
    return None


def ledger_dir(lab, node: str, channel: str) -> Path:
    """The node's chain directory on its host's disk (the named volume's data, seen from this machine)."""
    n = lab.node(node)
    return lab.hosts[n.host].disk_docker_dir / "volumes" / n.volume / "_data" / "chains" / channel


def wait_answering(lab, names: list[str], timeout: float = 30) -> None:
    from opskit_lab.standin.launch import get
    from opskit_lab.wait import wait_for

    wait_for(lambda: all(get(lab.operations_url(n), "/healthz", timeout=1)[0] in (200, 503) for n in names),
             timeout=timeout, what=f"{', '.join(names)} to answer")


def docker_on(lab, node: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*lab.host_of(node).docker, *args], capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ without a lab

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fabric-2.5"


def test_block_records_reencode_to_real_blocks() -> None:
    """What /lab/block answers (a record re-encoded as common.Block) is what a real orderer delivers, and a
    genesis block written by the seeding keeps its real header hash."""
    from opskit_lab.standin.launch import NODE_PY
    from opskit.ledger import blockfile

    seed = NODE_PY.parent / "seed"
    # block 34 as the real `peer channel fetch config` wrote it from orderer1 (MANIFEST: phase1_all_up/cli)
    fetched = FIX / "03_raft_network" / "snapshots" / "phase1_all_up" / "cli" / "mychannel_config_fetched.block"
    assert blockfile.find_block(str(seed / "orderer1_h43" / "mychannel"), 34).to_proto() == fetched.read_bytes()
    real = (FIX / "01_configtxgen_offline" / "kafka_system-channel_genesis.block").read_bytes()
    assert (seed / "kafka_genesis" / "system-channel.block").read_bytes() == real
    with tempfile.TemporaryDirectory() as d:
        info = blockfile.ChainWriter(d).append_raw(blockfile.RawBlock.from_proto(real))
        assert info.header_hash.hex() == "ed32fae638b1bc6df82702c9ff645a393e699984112d093a281fa88cfca23a7d"
        assert blockfile.last_config_block(d).to_proto() == real
        with pytest.raises(blockfile.LedgerError):  # block 0 again does not chain onto block 0
            blockfile.ChainWriter(d).append_raw(blockfile.RawBlock.from_proto(real))


def test_without_the_protobuf_libraries_the_standins_keep_working(tmp_path: Path) -> None:
    """Debian's python3 has no fabric_protos: the orderer runs without channel-config features and says so; the
    cli's signconfigtx fails with a clear error."""
    import shutil

    from opskit_lab.standin.launch import NODE_PY, get, start_local
    from opskit_lab.wait import free_port

    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import fabric_protos"], capture_output=True)
    if not Path(python).exists() or probe.returncode == 0:
        pytest.skip("needs a python3 without fabric_protos")
    node = start_local(tmp_path, "o1", "orderer", free_port(), python=python,
                       args=["--channels", "mychannel", "--heartbeat", "0"])
    try:
        assert "lab: channel config features disabled (cannot import" in node.log.read_text()
        assert "consensus_etcdraft_is_leader" in get(node.url, "/metrics")[1]
        st = json.loads(get(node.url, "/lab/state")[1])
        assert st["config_features"] is False and st["heights"]["mychannel"] == 43
        req = urllib.request.Request(f"{node.url}/lab/broadcast?channel=mychannel", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=5)
        assert exc.value.code == 503 and json.loads(exc.value.read())["status"] == "SERVICE_UNAVAILABLE"
        with urllib.request.urlopen(f"{node.url}/lab/block?channel=mychannel&which=config", timeout=5) as resp:
            assert resp.headers["X-Opskit-Block"] == "42"  # blocks are served all the same (no access check)
    finally:
        node.stop()
    msp = tmp_path / "msp" / "signcerts"
    msp.mkdir(parents=True)
    shutil.copyfile(FIX / "01_configtxgen_offline" / "kafka_system-channel_genesis.block", tmp_path / "u.pb")
    (msp / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    proc = subprocess.run([python, str(NODE_PY.with_name("peer_cli.py")), "channel", "signconfigtx", "-f",
                           str(tmp_path / "u.pb")], capture_output=True, text=True, timeout=30,
                          env={"CORE_PEER_LOCALMSPID": "OrdererOrg1MSP", "CORE_PEER_MSPCONFIGPATH": str(tmp_path / "msp"),
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and "Error: this stand-in command needs fabric_protos" in proc.stderr


# ------------------------------------------------------------------ the default lab (etcdraft)


@pytest.fixture
def batch_timeout_restored(lab):
    """The session lab is shared: put mychannel's BatchTimeout back (one more 3-of-4 update) after the test."""
    from opskit.orderer.config import clone, get_batch_timeout, set_batch_timeout

    cli = Cli(lab)
    before = get_batch_timeout(cli.config(APP))
    yield before
    current = cli.config(APP)
    if get_batch_timeout(current) != before:
        modified = clone(current)
        set_batch_timeout(modified, before)
        proc = cli.submit(APP, update_envelope(current, modified, APP), ["ordererorg1", "ordererorg2"], "ordererorg4")
        assert proc.returncode == 0, proc.stderr
        assert {get_batch_timeout(cli.config(APP, orderer=o.name)) for o in lab.topology.orderers} == {before}


@pytest.mark.lab
def test_fetch_config_from_every_orderer_equals_the_ledger(lab) -> None:
    from opskit.ledger import blockfile
    from opskit.orderer.config import get_consensus, parse_config_bytes

    cli = Cli(lab)
    for o in lab.topology.orderers:
        proc, block = cli.fetch("ordererorg1", APP, "config", o.name)
        assert proc.returncode == 0, proc.stderr
        raw = blockfile.last_config_block(str(ledger_dir(lab, o.name, APP)))
        assert block == raw.to_proto()  # the block as the orderer's ledger holds it, byte for byte
        loaded = parse_config_bytes(block)
        assert loaded.channel_id == APP and loaded.block_number == raw.number
        assert get_consensus(loaded.config).type == "etcdraft"
        assert f"Retrieving last config block: {raw.number}" in proc.stderr
        assert state(lab, o.name)["config"][APP]["height_of_last_config"] == raw.number
        # the system channel starts from the real raft genesis block (header hash as configtxgen wrote it)
        proc, block = cli.fetch("ordererorg2", SYS, "oldest", o.name)
        assert proc.returncode == 0, proc.stderr
        assert blockfile.RawBlock.from_proto(block).header_hash.hex() == \
            "89f6ff498b83a9a888486978b45a034e13e35adc38ceba256dea6bb6e8ea48b7"
    height = state(lab, "orderer2")["heights"][APP]
    proc, block = cli.fetch("org1", APP, "newest", "orderer2")  # a peer org may read mychannel (NORMAL state)
    assert proc.returncode == 0 and f"Received block: {height - 1}" in proc.stderr
    proc, _ = cli.fetch("org1", SYS, "newest", "orderer2")  # ... but not the system channel
    assert proc.returncode == 1 and "Error: can't read the block: &{FORBIDDEN}" in proc.stderr
    proc, _ = cli.fetch("ordererorg1", "nochannel", "newest")
    assert proc.returncode == 1 and "&{NOT_FOUND}" in proc.stderr
    proc, _ = cli.fetch("ordererorg1", APP, str(height + 5))
    assert proc.returncode == 1 and "&{NOT_FOUND}" in proc.stderr


@pytest.mark.lab
def test_batch_timeout_update_needs_three_of_four_orderer_admins(lab, batch_timeout_restored) -> None:
    from opskit.ledger import blockfile
    from opskit.orderer.config import clone, get_batch_timeout, parse_config_bytes, set_batch_timeout
    from fabric_protos.common import common_pb2, configtx_pb2
    from fabric_protos.msp import identities_pb2

    cli = Cli(lab)
    current = cli.config(APP)
    before = orderer_states(lab)
    new_timeout = "2500ms" if get_batch_timeout(current) != "2500ms" else "3s"
    modified = clone(current)
    set_batch_timeout(modified, new_timeout)
    envelope = update_envelope(current, modified, APP)

    # two of four orderer-org admins: /Channel/Orderer/Admins (MAJORITY) is not satisfied, nothing changes
    proc = cli.submit(APP, envelope, ["ordererorg1"], "ordererorg2", orderer="orderer1")
    assert proc.returncode == 1
    assert "Error: got unexpected status: BAD_REQUEST -- error applying config update to existing channel " \
           "'mychannel': error authorizing update: error validating DeltaSet: policy for [Value]  " \
           "/Channel/Orderer/BatchTimeout not satisfied: implicit policy evaluation failed - 2 sub-policies were " \
           "satisfied, but this policy requires 3 of the 'Admins' sub-policies to be satisfied" in proc.stderr
    after = orderer_states(lab)
    for name, st in after.items():
        assert st["heights"] == before[name]["heights"]
        assert st["config"][APP]["sequence"] == before[name]["config"][APP]["sequence"]

    # three of four (two signconfigtx + the submitter), sent to a non-leader orderer: accepted and replicated
    t0 = time.monotonic()
    proc = cli.submit(APP, envelope, ["ordererorg1", "ordererorg2"], "ordererorg3", orderer="orderer2")
    print(f"\nsign x2 + update: {time.monotonic() - t0:.2f}s")
    assert proc.returncode == 0, proc.stderr
    assert "[channelCmd] \x1b[34;1mupdate\x1b[0m -> Successfully submitted channel update" in proc.stderr
    after = orderer_states(lab)
    for o in lab.topology.orderers:
        st, old = after[o.name], before[o.name]
        assert st["heights"][APP] == old["heights"][APP] + 1
        assert st["config"][APP]["sequence"] == old["config"][APP]["sequence"] + 1
        assert st["config"][APP]["height_of_last_config"] == old["heights"][APP]
        assert get_batch_timeout(cli.config(APP, orderer=o.name)) == new_timeout
        assert blockfile.verify(str(ledger_dir(lab, o.name, APP)))["ok"]
    # the config block holds ConfigEnvelope{config, last_update}: the submitted envelope with its 3 signatures
    raw = blockfile.last_config_block(str(ledger_dir(lab, "orderer4", APP)))
    env = common_pb2.Envelope.FromString(raw.data[0])
    cenv = configtx_pb2.ConfigEnvelope.FromString(common_pb2.Payload.FromString(env.payload).data)
    cue = configtx_pb2.ConfigUpdateEnvelope.FromString(common_pb2.Payload.FromString(cenv.last_update.payload).data)
    mspids = [identities_pb2.SerializedIdentity.FromString(
        common_pb2.SignatureHeader.FromString(s.signature_header).creator).mspid for s in cue.signatures]
    assert mspids == ["OrdererOrg1MSP", "OrdererOrg2MSP", "OrdererOrg3MSP"]
    assert parse_config_bytes(raw.to_proto()).config == cenv.config


@pytest.mark.lab
def test_stale_read_set_and_repeated_update_are_rejected(lab, batch_timeout_restored) -> None:
    from opskit.orderer.config import clone, get_batch_timeout, set_batch_timeout
    from opskit.orderer.update import compute_update, wrap_update

    cli = Cli(lab)
    current = cli.config(APP)
    before = orderer_states(lab)
    modified = clone(current)
    set_batch_timeout(modified, "4s" if get_batch_timeout(current) != "4s" else "5s")
    update = compute_update(current, modified, APP)
    stale = type(update)()
    stale.CopyFrom(update)
    stale.read_set.groups["Orderer"].version += 5
    proc = cli.submit(APP, wrap_update(stale, APP).SerializeToString(), ["ordererorg1", "ordererorg2"], "ordererorg3")
    assert proc.returncode == 1
    have = current.channel_group.groups["Orderer"].version
    assert (f"BAD_REQUEST -- error applying config update to existing channel 'mychannel': error authorizing update: "
            f"error validating ReadSet: proposed update requires that key [Group]  /Channel/Orderer be at version "
            f"{have + 5}, but it is currently at version {have}") in proc.stderr
    assert {n: s["config"][APP]["sequence"] for n, s in orderer_states(lab).items()} == \
        {n: s["config"][APP]["sequence"] for n, s in before.items()}
    # the same update twice: the second one writes BatchTimeout at a version it already has
    envelope = wrap_update(update, APP).SerializeToString()
    assert cli.submit(APP, envelope, ["ordererorg1", "ordererorg2"], "ordererorg4").returncode == 0
    proc = cli.submit(APP, envelope, ["ordererorg1", "ordererorg2"], "ordererorg4")
    assert proc.returncode == 1 and "BAD_REQUEST" in proc.stderr and "/Channel/Orderer/BatchTimeout to version" \
        in proc.stderr


@pytest.mark.lab
def test_cli_without_a_usable_msp_fails_clearly(lab) -> None:
    cli = Cli(lab)
    proc = cli.peer("ordererorg1", "channel", "fetch", "config", "-o", cli.orderer(), "-c", APP,
                    msp_path="/etc/hyperledger/crypto/nope/msp")
    assert proc.returncode == 1
    assert 'Error: cannot init crypto, specified path "/etc/hyperledger/crypto/nope/msp" does not exist' in proc.stderr
    subprocess.run([*cli.docker, "exec", cli.container, "mkdir", "-p", "/tmp/emptymsp/signcerts"], check=True)
    proc = cli.peer("ordererorg1", "channel", "signconfigtx", "-f", "/tmp/x.pb", msp_path="/tmp/emptymsp")
    assert proc.returncode == 1 and "could not load a valid signer certificate" in proc.stderr
    proc = cli.peer("ordererorg1", "channel", "update", "-f", "/tmp/does-not-exist.pb", "-c", APP, "-o", cli.orderer())
    assert proc.returncode == 1 and proc.stderr.strip().endswith("open /tmp/does-not-exist.pb: no such file or directory")


# ------------------------------------------------------------------ the Kafka lab


@pytest.mark.lab
def test_kafka_lab_starts_on_kafka_with_admin_msps_and_consenters(kafka_lab) -> None:
    from opskit.orderer.migration import check_consenters, load_consenters
    from opskit.output.report import Severity

    lab = kafka_lab
    for o in lab.topology.orderers:
        assert o.ports["listen"] == 7050
        st = state(lab, o.name)
        assert st["config_features"], st["config_error"]
        for ch in (SYS, APP):
            assert st["config"][ch].items() >= {"type": "kafka", "state": "STATE_NORMAL", "sequence": 0,
                                                "height_of_last_config": 0, "raft": False, "halted": False}.items()
        text = metrics(lab, o.name)
        assert sample(text, "consensus_kafka_last_offset_persisted", APP) is not None
        assert "consensus_etcdraft" not in text
    for p in lab.topology.peers:  # the peers' mychannel comes from the same genesis block: heights are level
        assert state(lab, p.name)["heights"][APP] == 1
    inv = lab.inventory()
    assert inv.orgs["ordererorg2"].admin_msp_path == lab.admin_msp_path("ordererorg2")
    assert inv.nodes["orderer3"].listen_port == 7050
    specs, options = load_consenters(lab.consenters_file)
    assert [s.endpoint for s in specs] == [f"{o.container}:7050" for o in lab.topology.orderers]
    findings = check_consenters(specs)
    assert not [f for f in findings if f.severity is Severity.CRITICAL], findings


@pytest.mark.lab
def test_kafka_to_raft_migration_through_the_cli(kafka_lab) -> None:
    from opskit.orderer.config import STATE_MAINTENANCE, STATE_NORMAL, clone, get_consensus, set_consensus
    from opskit.orderer.migration import (load_consenters, raft_metadata, step1_enter_maintenance,
                                          step2_switch_to_etcdraft, step3_exit_maintenance)

    lab = kafka_lab
    cli = Cli(lab)
    admins = (["ordererorg1", "ordererorg2"], "ordererorg3")
    specs, options = load_consenters(lab.consenters_file)
    metadata = raft_metadata(specs, options)
    t_start = time.monotonic()

    def step(channel: str, make, orderer: str = "orderer1") -> subprocess.CompletedProcess:
        current = cli.config(channel)
        return cli.submit(channel, update_envelope(current, make(current), channel), *admins, orderer=orderer)

    def configs() -> dict[str, dict]:
        return {n: st["config"] for n, st in orderer_states(lab).items()}

    # 1. enter maintenance, system channel first
    for ch in (SYS, APP):
        proc = step(ch, step1_enter_maintenance)
        assert proc.returncode == 0, proc.stderr
    for cfg in configs().values():
        assert {ch: (cfg[ch]["type"], cfg[ch]["state"]) for ch in (SYS, APP)} == \
            {SYS: ("kafka", STATE_MAINTENANCE), APP: ("kafka", STATE_MAINTENANCE)}
    # normal transactions are refused in maintenance
    invoke = subprocess.run([*cli.docker, "exec", cli.container, "peer", "chaincode", "invoke", "-o", cli.orderer(),
                             "-C", APP, "-n", "opskitcc", "-c", '{"Args":["put","k","v"]}'],
                            capture_output=True, text=True, timeout=60)
    assert invoke.returncode == 1
    assert "got unexpected status: SERVICE_UNAVAILABLE -- normal transactions are rejected: maintenance mode" \
        in invoke.stderr
    # in maintenance only orderer orgs may read (/Channel/Orderer/Readers)
    proc, _ = cli.fetch("org1", APP, "config", "orderer2")
    assert proc.returncode == 1 and "Error: can't read the block: &{FORBIDDEN}" in proc.stderr
    proc, _ = cli.fetch("ordererorg4", APP, "config", "orderer2")
    assert proc.returncode == 0, proc.stderr

    # state and type in one update: rejected by the maintenance filter
    def both(current):
        out = clone(current)
        set_consensus(out, type="etcdraft", state=STATE_NORMAL, metadata=metadata)
        return out

    proc = step(APP, both)
    assert proc.returncode == 1
    assert "BAD_REQUEST -- error applying config update to existing channel 'mychannel': config transaction " \
           "inspection failed: attempted to change ConsensusType.Type from kafka to etcdraft, but " \
           "ConsensusType.State is changing from STATE_MAINTENANCE to STATE_NORMAL" in proc.stderr

    # 2. switch the type (in maintenance), system channel first; each channel halts after its type-change block
    for ch in (SYS, APP):
        proc = step(ch, lambda c: step2_switch_to_etcdraft(c, metadata))
        assert proc.returncode == 0, proc.stderr
    heights = {n: st["heights"] for n, st in orderer_states(lab).items()}
    for name, cfg in configs().items():
        for ch in (SYS, APP):
            assert (cfg[ch]["type"], cfg[ch]["state"], cfg[ch]["halted"], cfg[ch]["sequence"]) == \
                ("etcdraft", STATE_MAINTENANCE, True, 2), (name, ch, cfg[ch])
            assert heights[name][ch] == 3
    # until the orderers restart, the halted channels refuse every broadcast
    proc = step(APP, step3_exit_maintenance)
    assert proc.returncode == 1
    assert "got unexpected status: SERVICE_UNAVAILABLE -- channel halted after consensus-type change: restart " \
           "required" in proc.stderr
    # ... but deliver still works: the type switch can be verified on every orderer
    for o in lab.topology.orderers:
        assert get_consensus(cli.config(APP, orderer=o.name)).type == "etcdraft"

    # 3. a restart without the Raft cluster settings: the etcdraft chains cannot start
    assert docker_on(lab, "orderer1", "restart", lab.node("orderer1").container).returncode == 0
    wait_answering(lab, ["orderer1"])
    st = state(lab, "orderer1")
    for ch in (SYS, APP):
        assert st["config"][ch]["raft"] is False and "ORDERER_CONSENSUS_WALDIR" in st["config"][ch]["failed"]
        assert not st["config"][ch]["halted"]
    text = metrics(lab, "orderer1")
    assert "consensus_etcdraft" not in text and sample(text, "participation_status", APP) == 3
    from opskit_lab.standin.launch import get

    code, body = get(lab.operations_url("orderer1"), "/healthz")
    assert code == 503 and {c["component"] for c in json.loads(body)["failed_checks"]} == \
        {f"etcdraft:{SYS}", f"etcdraft:{APP}"}
    logs = docker_on(lab, "orderer1", "logs", lab.node("orderer1").container)
    assert "[orderer.commmon.multichannel] newChainSupport -> ERRO" in logs.stdout + logs.stderr

    # 4. restart every orderer with the Raft cluster settings: Raft metrics, exactly one leader per channel
    t0 = time.monotonic()
    for o in lab.topology.orderers:
        lab.start_standin(o.name, env=RAFT_ENV, replace=True)
    wait_answering(lab, [o.name for o in lab.topology.orderers])
    print(f"\nrestart of 4 orderers as Raft: {time.monotonic() - t0:.2f}s")
    leaders = {SYS: 0.0, APP: 0.0}
    for o in lab.topology.orderers:
        st = state(lab, o.name)
        assert st["raft_settings"]["ORDERER_CONSENSUS_WALDIR"] == RAFT_ENV["ORDERER_CONSENSUS_WALDIR"]
        assert get(lab.operations_url(o.name), "/healthz")[0] == 200
        text = metrics(lab, o.name)
        assert "consensus_kafka" not in text
        for ch in (SYS, APP):
            assert st["config"][ch]["raft"] and not st["config"][ch]["halted"] and not st["config"][ch]["failed"]
            assert sample(text, "consensus_etcdraft_cluster_size", ch) == 4
            leaders[ch] += sample(text, "consensus_etcdraft_is_leader", ch)
    assert leaders == {SYS: 1.0, APP: 1.0}

    # 5. exit maintenance, system channel first; normal transactions flow again
    for ch in (SYS, APP):
        proc = step(ch, step3_exit_maintenance, orderer="orderer3")
        assert proc.returncode == 0, proc.stderr
    for cfg in configs().values():
        for ch in (SYS, APP):
            assert (cfg[ch]["type"], cfg[ch]["state"], cfg[ch]["sequence"], cfg[ch]["raft"]) == \
                ("etcdraft", STATE_NORMAL, 3, True)
    invoke = subprocess.run([*cli.docker, "exec", cli.container, "peer", "chaincode", "invoke", "-o", cli.orderer(),
                             "-C", APP, "-n", "opskitcc", "-c", '{"Args":["put","k","v"]}', "--waitForEvent"],
                            capture_output=True, text=True, timeout=60)
    assert invoke.returncode == 0, invoke.stderr
    print(f"whole migration: {time.monotonic() - t_start:.2f}s")


@pytest.mark.lab
def test_orderer_that_was_down_pulls_the_newer_config_at_start(kafka_lab) -> None:
    from opskit.orderer.config import STATE_MAINTENANCE
    from opskit.orderer.migration import step1_enter_maintenance

    lab = kafka_lab
    cli = Cli(lab)
    container = lab.node("orderer4").container
    assert docker_on(lab, "orderer4", "stop", container).returncode == 0
    current = cli.config(APP)
    proc = cli.submit(APP, update_envelope(current, step1_enter_maintenance(current), APP),
                      ["ordererorg1", "ordererorg2"], "ordererorg3", orderer="orderer2")
    assert proc.returncode == 0, proc.stderr
    assert docker_on(lab, "orderer4", "start", container).returncode == 0
    wait_answering(lab, ["orderer4"])
    st = state(lab, "orderer4")
    assert (st["config"][APP]["state"], st["config"][APP]["sequence"]) == (STATE_MAINTENANCE, 1)
    assert st["config_updates"]["pulled"] == 1 and st["heights"][APP] == 2
    assert state(lab, "orderer4")["config"][SYS]["sequence"] == 0  # nothing newer there: nothing pulled


@pytest.mark.lab
def test_reset_fleet_brings_the_kafka_lab_back(kafka_lab) -> None:
    from opskit.orderer.migration import step1_enter_maintenance

    lab = kafka_lab
    cli = Cli(lab)
    current = cli.config(SYS)
    assert cli.submit(SYS, update_envelope(current, step1_enter_maintenance(current), SYS),
                      ["ordererorg1", "ordererorg2"], "ordererorg3").returncode == 0
    lab.start_standin("orderer2", env=RAFT_ENV, replace=True)
    # leftovers of an interrupted recreate (opskit.container.recreate names them so)
    o3 = lab.node("orderer3").container
    assert docker_on(lab, "orderer3", "create", "--name", o3 + "-opskit-failed", "-v", "orderer3-ledger-old:/data",
                     "opskit-lab/standin:1", "--kind", "kafka").returncode == 0
    assert docker_on(lab, "orderer3", "stop", o3).returncode == 0
    assert docker_on(lab, "orderer3", "rename", o3, o3 + "-opskit-old").returncode == 0
    lab.start_standin("orderer3")
    times = lab.reset_fleet()
    print(f"\nreset_fleet: {times}")
    assert times["total"] < 20
    for o in lab.topology.orderers:
        st = state(lab, o.name)
        assert st["heights"] == {SYS: 1, APP: 1} and not st["raft_settings"]
        for ch in (SYS, APP):
            assert (st["config"][ch]["type"], st["config"][ch]["state"], st["config"][ch]["sequence"]) == \
                ("kafka", "STATE_NORMAL", 0)
    names = docker_on(lab, "orderer3", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert o3 in names and not [n for n in names if "-opskit-" in n]
    volumes = docker_on(lab, "orderer3", "volume", "ls", "-q").stdout.split()
    assert "orderer3-ledger-old" not in volumes and "orderer3-ledger" in volumes
    assert not lab.problems()
