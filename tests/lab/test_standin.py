"""Stand-in Fabric nodes: real operations endpoint paths and metric formats, real block files, harness controls.

Most tests run node.py as a local process on loopback (fast); one test builds the image on a real dockerd
(started here, in the root namespace, stopped by its pid file) and runs a stand-in container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opskit_lab import procs
from opskit_lab.standin.launch import StandinSpec, get, ledger_dir, run_argv, start_local
from opskit_lab.wait import free_port, wait_for
from opskit.ledger import blockfile

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fabric-2.5" / "03_raft_network"
SNAP = FIX / "snapshots" / "phase1_all_up" / "metrics"
LAST_HASH_H43 = "xJAHgP8o7PZs5kyArglCNVKZscRetUHbLLe49QIsFVM="  # MANIFEST: header hash of block 42
LAST_HASH_H35 = "sq92PNAPXIeFE19cUc5uQ+YU8qpGqoAXHRdE1kXEvNY="


def families(text: str) -> dict[str, object]:
    """Parse Prometheus text format strictly (raises on garbage)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            # prometheus_client names counter samples NAME_total even when the text says NAME
            if s.name in (name, f"{name}_total") and fam.name in (name, name.removesuffix("_total")) and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError(f"{name}{labels} not in scrape")


def metrics(node) -> str:
    code, body = get(node.url, "/metrics")
    assert code == 200
    return body


def help_and_type(text: str) -> dict[str, tuple[str, str]]:
    """metric family -> (HELP, TYPE) as printed in a scrape."""
    helps: dict[str, str] = {}
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, text_ = line[7:].partition(" ")
            helps[name] = text_
        elif line.startswith("# TYPE "):
            name, _, mtype = line[7:].partition(" ")
            out[name] = (helps.get(name, ""), mtype)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standin")


@pytest.fixture(scope="module")
def orderer(workdir: Path):
    node = start_local(workdir, "orderer1", "orderer", free_port(),
                       args=["--channels", "mychannel,system-channel", "--leader", "1", "--heartbeat", "0"])
    yield node
    node.stop()


@pytest.fixture(scope="module")
def peer(workdir: Path):
    node = start_local(workdir, "peer0.org1", "peer", free_port(), args=["--heartbeat", "0"])
    yield node
    node.stop()


def test_orderer_metrics_are_real_names_and_height_equals_ledger(orderer) -> None:
    text = metrics(orderer)
    fams = families(text)  # parses
    real = help_and_type((SNAP / "orderer1.metrics.txt").read_text())
    ours = help_and_type(text)
    for name in ("ledger_blockchain_height", "consensus_etcdraft_is_leader", "consensus_etcdraft_cluster_size",
                 "consensus_etcdraft_active_nodes", "consensus_etcdraft_committed_block_number",
                 "consensus_etcdraft_leader_changes", "fabric_version", "participation_status"):
        assert name in fams
    for name, help_type in ours.items():  # every family we print, the real orderer prints the same way
        assert real[name] == help_type, name
    info = blockfile.height(str(orderer.ledger_dir("mychannel")))
    assert info["height"] == 43 and info["currentBlockHash"] == LAST_HASH_H43
    assert sample(text, "ledger_blockchain_height", channel="mychannel") == info["height"]
    assert sample(text, "consensus_etcdraft_committed_block_number", channel="mychannel") == 42
    # a channel without a seed starts with one lab genesis block
    assert sample(text, "ledger_blockchain_height", channel="system-channel") == \
        blockfile.height(str(orderer.ledger_dir("system-channel")))["height"] == 1
    assert sample(text, "consensus_etcdraft_is_leader", channel="mychannel") == 1
    assert sample(text, "fabric_version", version="2.5.12") == 1
    assert orderer.ledger_dir("mychannel").as_posix().endswith("production/orderer/chains/mychannel")


def test_peer_metrics_are_real_names_and_height_equals_ledger(peer) -> None:
    text = metrics(peer)
    real = help_and_type((SNAP / "peer0.org1.metrics.txt").read_text())
    ours = help_and_type(text)
    assert {"ledger_blockchain_height", "gossip_state_height", "fabric_version"} <= set(families(text))
    for name, help_type in ours.items():
        assert real[name] == help_type, name
    height = blockfile.height(str(peer.ledger_dir()))["height"]
    assert peer.ledger_dir().as_posix().endswith("production/ledgersData/chains/chains/mychannel")
    assert sample(text, "ledger_blockchain_height", channel="mychannel") == height == 43
    assert sample(text, "gossip_state_height", channel="mychannel") == 43


def test_endpoints_match_real_shapes(peer) -> None:
    code, body = get(peer.url, "/version")
    assert code == 200 and json.loads(body) == json.loads((SNAP / "peer0.org1.version.json").read_text())
    code, body = get(peer.url, "/logspec")
    assert code == 200 and json.loads(body) == json.loads((SNAP / "peer0.org1.logspec.json").read_text())
    code, body = get(peer.url, "/healthz")
    real = json.loads((SNAP / "peer0.org1.healthz.json").read_text())
    assert code == 200 and json.loads(body).keys() == real.keys() and json.loads(body)["status"] == "OK"


def test_healthz_failure_and_recovery(peer) -> None:
    peer.control("healthz", fail=["docker:failed to connect to Docker daemon", "couchdb:down"])
    code, body = get(peer.url, "/healthz")
    doc = json.loads(body)
    assert code == 503 and doc["status"] == "Service Unavailable"
    assert doc["failed_checks"] == [{"component": "docker", "reason": "failed to connect to Docker daemon"},
                                    {"component": "couchdb", "reason": "down"}]
    peer.control("healthz")
    code, body = get(peer.url, "/healthz")
    assert code == 200 and json.loads(body)["status"] == "OK"


def test_advance_appends_hash_chained_blocks_in_real_format(orderer, peer) -> None:
    for node in (orderer, peer):
        before = sample(metrics(node), "ledger_blockchain_height", channel="mychannel")
        answer = node.control("advance", blocks=5, channel="mychannel")
        assert answer["appended"] == 5 and answer["height"]["mychannel"] == before + 5
        chain = str(node.ledger_dir())
        check = blockfile.verify(chain)
        assert check["ok"], check["first_broken"]
        assert check["height"] == before + 5 and check["partial_tail"] is None
        # the real first blocks are still there and the new ones chain onto them
        real = FIX / "ledgers" / ("peer0.org1_h43" if node.kind == "peer" else "orderer1_h43") / "mychannel"
        cmp = blockfile.compare(str(real), chain)
        assert cmp["relation"] == "a_prefix_of_b" and cmp["common_prefix"] == 43
        assert blockfile.headers_at(chain, [42])[42] == LAST_HASH_H43
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == check["height"]
        if node.kind == "peer":
            assert sample(metrics(node), "gossip_state_height", channel="mychannel") == check["height"]
            tip = blockfile.height(chain)["last_block"]
            assert tip["metadataLens"][1:] == [4, 1, 0, 34]  # like the real peer: filter 00, 34-byte commit hash
            assert tip["lastConfig"] == 42  # the last real config block
        else:
            assert sample(metrics(node), "consensus_etcdraft_committed_block_number",
                          channel="mychannel") == check["height"] - 1
    log = orderer.log.read_text()
    assert "[orderer.consensus.etcdraft] writeBlock -> INFO" in log and "Writing block [43]" in log
    assert "Committed block [43] with 1 transaction(s)" in peer.log.read_text()
    # a fresh channel (lab genesis block) also verifies after advancing
    orderer.control("advance", blocks=2, channel="system-channel")
    assert blockfile.verify(str(orderer.ledger_dir("system-channel")))["height"] == 3


def test_garbage_metrics_do_not_parse(peer) -> None:
    peer.control("garbage")
    code, text = get(peer.url, "/metrics")
    assert code == 200
    with pytest.raises(Exception):
        families(text)
    peer.control("garbage", value=0)
    assert "ledger_blockchain_height" in families(metrics(peer))


def test_leader_change_updates_metrics_and_logs(orderer) -> None:
    orderer.control("leader", value=0, channel="mychannel")
    text = metrics(orderer)
    assert sample(text, "consensus_etcdraft_is_leader", channel="mychannel") == 0
    assert sample(text, "consensus_etcdraft_leader_changes", channel="mychannel") == 2
    assert sample(text, "consensus_etcdraft_is_leader", channel="system-channel") == 1
    assert "Raft leader changed: 1 -> 2 channel=mychannel node=1" in orderer.log.read_text()
    orderer.control("cluster", active=3)
    assert sample(metrics(orderer), "consensus_etcdraft_active_nodes", channel="mychannel") == 3


def test_log_growth_on_request(peer) -> None:
    size = peer.log.stat().st_size
    assert peer.control("log", bytes=300_000)["written"] >= 300_000
    assert peer.log.stat().st_size - size >= 300_000
    last = peer.log.read_text().splitlines()[-1]
    assert " [kvledger] lab -> DEBU " in last  # Fabric's log layout


def test_stall_stops_advance_and_auto_advance(workdir: Path) -> None:
    node = start_local(workdir, "orderer2", "orderer", free_port(),
                       args=["--auto-advance", "0.1", "--heartbeat", "0.3", "--node-id", "2"])
    try:
        h0 = 43
        wait_for(lambda: sample(metrics(node), "ledger_blockchain_height", channel="mychannel") >= h0 + 2,
                 timeout=10, what="auto-advance to add blocks")
        node.control("stall")
        stalled_at = sample(metrics(node), "ledger_blockchain_height", channel="mychannel")
        assert node.control("advance", blocks=3)["appended"] == 0
        beats = node.log.read_text().count(" stalled\n")
        # two heartbeats while stalled = 0.6 s in which auto-advance (every 0.1 s) would have added blocks
        wait_for(lambda: node.log.read_text().count(" stalled\n") >= beats + 2, timeout=10,
                 what="two heartbeats while stalled")
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == stalled_at
        node.control("resume")
        node.control("auto", interval=0)
        now = sample(metrics(node), "ledger_blockchain_height", channel="mychannel")
        assert node.control("advance", blocks=1)["appended"] == 1
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == now + 1
        assert blockfile.verify(str(node.ledger_dir()))["ok"]
    finally:
        node.stop()


def test_height_follows_the_data_and_partial_record_is_truncated(workdir: Path) -> None:
    """A replaced node reads whatever is on its volume: here the lagging orderer3 file, with a torn last write."""
    base = workdir / "orderer3"
    chain = base / "production" / "orderer" / "chains" / "mychannel"
    chain.mkdir(parents=True)
    shutil.copyfile(FIX / "ledgers" / "orderer3_lagging_h35" / "mychannel" / "blockfile_000000",
                    chain / "blockfile_000000")
    with open(chain / "blockfile_000000", "ab") as fh:
        fh.write(b"\xc8\x01" + b"\x00" * 50)  # a record of 200 bytes cut after 50: crash mid-write
    node = start_local(workdir, "orderer3", "orderer", free_port(), args=["--heartbeat", "0"])
    try:
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == 35
        assert blockfile.height(str(chain))["currentBlockHash"] == LAST_HASH_H35
        node.control("advance", blocks=1)
        check = blockfile.verify(str(chain))
        assert check["ok"] and check["height"] == 36 and check["partial_tail"] is None
        assert "Truncated a partial block record" in node.log.read_text()
    finally:
        node.stop()
    # outside writes (another process appending) show in the metric too
    blockfile.append_block(str(chain), [blockfile.make_envelope("mychannel", b"x")])
    node = start_local(workdir, "orderer3", "orderer", free_port(), args=["--heartbeat", "0"])
    try:
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == 37
        blockfile.append_block(str(chain), [blockfile.make_envelope("mychannel", b"y")])
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == 38
    finally:
        node.stop()


def test_trivial_kind_logs_and_answers(workdir: Path) -> None:
    data = workdir / "kafka-data"
    node = start_local(workdir, "kafka0", "kafka", free_port(), args=["--touch", str(data), "--heartbeat", "0.2"])
    try:
        code, body = get(node.url, "/")
        assert code == 200 and json.loads(body)["kind"] == "kafka"
        assert get(node.url, "/metrics")[0] == 404
        assert (data / "opskit-standin-kafka.dat").stat().st_size == 4096
        wait_for(lambda: "lab heartbeat kafka0 kind=kafka" in node.log.read_text(), timeout=5, what="heartbeat")
    finally:
        assert node.stop()


def test_kafka_orderer_has_kafka_metrics_not_raft(workdir: Path) -> None:
    # the chain must be a Kafka one too: a channel whose config says etcdraft does not start on a Kafka-configured
    # orderer (no Raft cluster settings); kafka_genesis holds the real Kafka genesis blocks
    node = start_local(workdir, "kafka-orderer", "orderer", free_port(),
                       args=["--consensus", "kafka", "--seed", "kafka_genesis", "--heartbeat", "0"])
    try:
        fams = families(metrics(node))
        assert "consensus_kafka_last_offset_persisted" in fams
        assert not [n for n in fams if n.startswith("consensus_etcdraft")]
        assert sample(metrics(node), "ledger_blockchain_height", channel="mychannel") == 1
    finally:
        node.stop()


def test_run_argv_defaults() -> None:
    spec = StandinSpec("peer0.org1.example.com", "peer", org="org1")
    argv = run_argv(spec)
    assert argv[:3] == ["run", "-d", "--name"] and "--restart" in argv and argv[argv.index("--restart") + 1] == "no"
    assert "opskit_lab=1" in argv and "opskit.node=peer0.org1.example.com" in argv
    assert "--log-opt" not in argv and argv[argv.index("--log-driver") + 1] == "json-file"
    for mount in ("/usr:/usr:ro", "/lib:/lib:ro", "/lib64:/lib64:ro", "peer0.org1.example.com-data:/var/hyperledger/production"):
        assert mount in argv
    assert "9443:9443" in argv
    assert ledger_dir("peer", "mychannel") == "/var/hyperledger/production/ledgersData/chains/chains/mychannel"
    rotated = run_argv(StandinSpec("o1", "orderer", log_opts={"max-size": "10m", "max-file": "3"}))
    assert "max-size=10m" in rotated and "8443:8443" in rotated


# ---------------------------------------------------------------- a real container on a real dockerd

@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory):
    """A private dockerd in the root namespace: own bridge, data root, exec root, socket and pid file."""
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        pytest.skip("needs root and dockerd")
    base = Path(f"/tmp/osd-{uuid.uuid4().hex[:6]}")  # short: unix socket paths are limited to 108 bytes
    base.mkdir()
    bridge = f"osd{uuid.uuid4().hex[:8]}"
    subnet = 200 + os.getpid() % 50
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"10.231.{subnet}.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    sock = base / "docker.sock"
    pidfile = base / "dockerd.pid"
    procs.spawn(["dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
                 "-H", f"unix://{sock}", "--pidfile", str(base / "dockerd.own.pid"), "--bridge", bridge,
                 "--iptables=false", "--ip-masq=false", "--ip-forward=false"],
                pidfile=pidfile, log=base / "dockerd.log")
    docker = ["docker", "-H", f"unix://{sock}"]
    try:
        wait_for(lambda: subprocess.run([*docker, "info"], capture_output=True).returncode == 0, timeout=60,
                 what="dockerd ready")
        yield docker
    finally:
        subprocess.run(f"{' '.join(docker)} ps -aq | xargs -r {' '.join(docker)} rm -f", shell=True,
                       capture_output=True)
        procs.stop(pidfile, timeout=20)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for sub in ("data", "exec"):  # in case dockerd left a mount behind (netns/default, overlays)
            subprocess.run(["umount", "-R", str(base / sub)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_standin_container_on_real_dockerd(dockerd: list[str]) -> None:
    from opskit_lab.images import build_standin_image

    t0 = time.monotonic()
    image_id = build_standin_image(dockerd)
    first_build = time.monotonic() - t0
    t0 = time.monotonic()
    assert build_standin_image(dockerd) == image_id  # unchanged inputs: nothing to do
    second_build = time.monotonic() - t0
    print(f"\nimage build {first_build:.2f}s, rebuild check {second_build:.2f}s")
    assert first_build < 5

    port = free_port()
    spec = StandinSpec("orderer1.ordererorg1.example.com", "orderer", container="o1", org="ordererorg1",
                       ops_port=port, publish_ip="127.0.0.1", volumes={"/var/hyperledger/production/orderer": "o1-ledger"},
                       leader=True, heartbeat=0.5)
    t0 = time.monotonic()
    subprocess.run([*dockerd, *run_argv(spec)], check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    text = wait_for(lambda: get(url, "/metrics", timeout=1)[1], timeout=30, what="stand-in container /metrics")
    print(f"container to first scrape {time.monotonic() - t0:.2f}s")
    assert sample(text, "ledger_blockchain_height", channel="mychannel") == 43
    assert sample(text, "consensus_etcdraft_is_leader", channel="mychannel") == 1

    def exec_height() -> int:
        out = subprocess.run([*dockerd, "exec", "o1", "/usr/bin/python3", "/opt/standin/blockfile.py", "verify",
                              ledger_dir("orderer", "mychannel"), "--json"], capture_output=True, text=True, check=True)
        doc = json.loads(out.stdout)
        assert doc["ok"]
        return doc["height"]

    from opskit_lab.standin.launch import control
    control(url, "advance", blocks=2)
    assert exec_height() == 45 == sample(get(url, "/metrics")[1], "ledger_blockchain_height", channel="mychannel")

    log_path = subprocess.run([*dockerd, "inspect", "--format", "{{.LogPath}}", "o1"], capture_output=True,
                              text=True, check=True).stdout.strip()
    logcfg = json.loads(subprocess.run([*dockerd, "inspect", "--format", "{{json .HostConfig.LogConfig}}", "o1"],
                                       capture_output=True, text=True, check=True).stdout)
    assert logcfg["Type"] == "json-file" and not logcfg.get("Config")  # no rotation configured
    before = os.path.getsize(log_path)
    control(url, "log", bytes=500_000)
    wait_for(lambda: os.path.getsize(log_path) >= before + 500_000, timeout=10, what="json log to grow")
    logs = subprocess.run([*dockerd, "logs", "o1"], capture_output=True, text=True, check=True).stdout
    assert "Writing block [44] (Raft index: 49) to ledger channel=mychannel node=1" in logs

    # stop is prompt (SIGTERM handled by PID 1), and a replacement container reads the same volume
    t0 = time.monotonic()
    subprocess.run([*dockerd, "stop", "o1"], check=True, capture_output=True)
    stop_s = time.monotonic() - t0
    print(f"docker stop {stop_s:.2f}s")
    assert stop_s < 5
    subprocess.run([*dockerd, "rm", "o1"], check=True, capture_output=True)
    subprocess.run([*dockerd, *run_argv(spec)], check=True, capture_output=True)
    text = wait_for(lambda: get(url, "/metrics", timeout=1)[1], timeout=30, what="replacement /metrics")
    assert sample(text, "ledger_blockchain_height", channel="mychannel") == 45


def _raw_http(port: int, version: str) -> bytes:
    """Send ``GET / <version>`` to 127.0.0.1:port and read until the server closes (what fleet.probe sends)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET / {version}\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out


def test_listen_ports_close_plain_http_like_grpc_and_kafka(workdir: Path) -> None:
    """A real gRPC, Kafka or ZooKeeper port closes a plain HTTP/1.0 request unanswered; the stand-ins do too (their
    own protocol on those ports is HTTP/1.1), so fleet.probe sees a fresh stand-in lab as it sees real nodes."""
    listen = free_port()
    node = start_local(workdir, "peer9.org1", "peer", free_port(), args=["--heartbeat", "0", "--extra-port",
                                                                          str(listen)])
    kafka = start_local(workdir, "kafka9", "kafka", free_port(), args=["--heartbeat", "0"])
    try:
        assert _raw_http(listen, "HTTP/1.0") == b""
        assert _raw_http(listen, "HTTP/1.1").startswith(b"HTTP/1.1 ")        # the stand-in's own protocol
        ops = int(node.url.rsplit(":", 1)[1])
        assert _raw_http(ops, "HTTP/1.0").startswith(b"HTTP/1.")             # operations: real HTTP
        assert _raw_http(int(kafka.url.rsplit(":", 1)[1]), "HTTP/1.0") == b""
    finally:
        node.stop()
        kafka.stop()


def test_lab_containers_rotate_their_logs_unless_told_not_to() -> None:
    from opskit_lab.lab import LAB_LOG_OPTS, Lab, LabConfig

    for rotate, want in ((True, LAB_LOG_OPTS), (False, None)):
        lab = Lab(LabConfig(name="rotchk", rotate_logs=rotate))
        peer = next(n for n in lab.topology.nodes if n.kind == "peer")
        assert lab.standin_spec(peer).log_opts == want
