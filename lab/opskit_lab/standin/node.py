#!/usr/bin/python3
"""A small stand-in for a Hyperledger Fabric node, for the opskit lab only (stdlib only).

Runs as a local process in tests or inside a busybox container that bind-mounts the host's
/usr, /lib and /lib64 read-only. See docs/lab-standins.md for what it imitates and what it does not.

Kinds ``orderer`` and ``peer`` serve the operations endpoint (``/metrics``, ``/healthz``, ``/version``,
``/logspec``) and keep real-format ledger block files at the real paths; the height metrics are computed
from those files on every scrape. Kinds ``kafka``, ``zookeeper``, ``couchdb`` and ``cli`` only log and stay up
(and answer HTTP on a port if one is given).

Harness control (POST): ``/lab/advance?blocks=N[&channel=CH]``, ``/lab/stall``, ``/lab/resume``,
``/lab/garbage[?value=0]``, ``/lab/healthz?fail=component:reason`` (no ``fail`` = healthy again),
``/lab/log?bytes=N``, ``/lab/leader?value=0|1[&channel=CH]``, ``/lab/cluster?active=N[&size=N]``,
``/lab/auto?interval=SECONDS``, ``GET /lab/state``.

Transactions (for the tools-container stand-in ``peer_cli.py``; see docs/lab-standins.md): an orderer takes
``POST /lab/tx?channel=CH`` (JSON body with ``txid``) like a broadcast and writes one block holding the tx;
``GET /lab/tx?channel=CH&txid=ID`` says in which block the tx is (the deliver analogue); ``GET /lab/getinfo?channel=CH``
gives what ``peer channel getinfo`` prints. Fault: ``POST /lab/txmode?mode=normal|refuse|drop`` (refuse = answer
SERVICE_UNAVAILABLE; drop = answer SUCCESS but never write the tx into a block; a stalled orderer drops too).

Channel configs (orderers; needs the protobuf libraries, see ``channels.py``): ``POST /lab/broadcast?channel=CH``
(body: a ``common.Envelope``; CONFIG_UPDATE envelopes are validated with ``opskit.orderer.rules`` and committed
as real CONFIG blocks), ``GET /lab/block?channel=CH&which=config|newest|oldest|N`` (header ``X-Opskit-Creator``:
base64 ``msp.SerializedIdentity``; answers the ``common.Block`` bytes), ``POST /lab/replicate?channel=CH`` (a CONFIG
envelope pushed by the orderer that accepted the update; ``--cluster URL`` names the other orderers).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

FABRIC_VERSION = "2.5.12"
COMMIT_SHA = "af0b647"
MAX_BLOCKFILE_SIZE = 64 * 1024 * 1024
LEDGER_KINDS = ("orderer", "peer")
#: ports that imitate gRPC/Kafka/ZooKeeper: a plain HTTP/1.0 request is closed unanswered (set in main)
PROTOCOL_PORTS: set[int] = set()
TRIVIAL_KINDS = ("kafka", "zookeeper", "couchdb", "cli")
HERE = os.path.dirname(os.path.abspath(__file__))
#: seconds for one request to another orderer of the lab (replication push, config pull at start)
CLUSTER_TIMEOUT = float(os.environ.get("OPSKIT_STANDIN_CLUSTER_TIMEOUT", "2"))
#: what a real orderer reads from orderer.yaml / ORDERER_* variables to run a channel as Raft (recorded only)
RAFT_ENV = ("ORDERER_CONSENSUS_WALDIR", "ORDERER_CONSENSUS_SNAPDIR")
RAFT_ENV_PREFIX = "ORDERER_GENERAL_CLUSTER_"


def _opskit_ledger_dir() -> str:
    """opskit's ledger package directory (blockfile.py lives there), found without importing opskit."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("opskit")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return os.path.join(list(spec.submodule_search_locations)[0], "ledger")
    # an interpreter without opskit (Debian's python3) running from a checkout: lab/opskit_lab/standin -> opskit/ledger
    return os.path.normpath(os.path.join(HERE, "..", "..", "..", "opskit", "ledger"))


# blockfile.py (opskit/ledger/blockfile.py, stdlib only) sits next to this file in the stand-in image; run from a
# checkout (the lab's local stand-ins), it comes from the installed opskit package.
sys.path[:0] = [HERE, _opskit_ledger_dir()]
import blockfile  # noqa: E402



class _Server(ThreadingHTTPServer):
    """HTTPServer.server_bind looks up the host's FQDN; in the lab that waits on DNS. Skip it."""

    daemon_threads = True

    def server_bind(self) -> None:
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

def ledger_chains_dir(kind: str, data_root: str) -> str:
    """Directory holding ``<channel>/blockfile_NNNNNN`` for this kind, at Fabric's real layout."""
    if kind == "orderer":
        return os.path.join(data_root, "orderer", "chains")
    return os.path.join(data_root, "ledgersData", "chains", "chains")


# ---------------------------------------------------------------- logging (Fabric's default layout)

class FabricLog:
    """``2026-11-21 21:40:30.722 UTC [module] func -> INFO 08f message`` lines on stdout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0

    def line(self, module: str, func: str, level: str, msg: str) -> str:
        self._seq += 1
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + ".%03d UTC" % int((now % 1) * 1000)
        return f"{stamp} [{module}] {func} -> {level[:4].upper()} {self._seq:03x} {msg}\n"

    def write(self, module: str, func: str, level: str, msg: str) -> None:
        with self._lock:
            sys.stdout.write(self.line(module, func, level, msg))
            sys.stdout.flush()

    def filler(self, nbytes: int, module: str, func: str) -> int:
        """Write at least ``nbytes`` of log lines (to grow a container's log fast); return bytes written."""
        written = 0
        pad = "x" * 100
        with self._lock:
            chunk: list[str] = []
            while written < nbytes:
                text = self.line(module, func, "DEBU", f"lab filler line {written} {pad}")
                chunk.append(text)
                written += len(text)
                if len(chunk) >= 512:
                    sys.stdout.write("".join(chunk))
                    chunk = []
            sys.stdout.write("".join(chunk))
            sys.stdout.flush()
        return written


LOG = FabricLog()


# ---------------------------------------------------------------- ledger (opskit/ledger/blockfile.py)

class Chain:
    """One channel's block files, read through ``blockfile``. The state is re-read whenever the files
    change (size or mtime), so the height follows the data, not this process's memory."""

    def __init__(self, channel: str, chain_dir: str, style: str) -> None:
        self.channel = channel
        self.dir = chain_dir
        self.style = style
        self._sig: tuple | None = None
        self.height = 0
        self.current_hash = ""

    def files(self) -> list[str]:
        try:
            return [path for _, path in blockfile.list_blockfiles(self.dir)]
        except blockfile.NoLedger:
            return []

    def refresh(self) -> None:
        sig = tuple((p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in self.files())
        if sig == self._sig:
            return
        if sig:
            info = blockfile.height(self.dir)
            self.height, self.current_hash = info["height"], info["currentBlockHash"]
        else:
            self.height, self.current_hash = 0, ""
        self._sig = sig

    def append_envelope(self, envelope: bytes):
        """Append one block holding ``envelope`` (a real transaction sent by the cli stand-in); return its BlockInfo."""
        if self.files():
            blockfile.truncate_partial_tail(self.dir)
        info = blockfile.ChainWriter(self.dir, style=self.style).append([envelope])
        self._sig = None
        self.refresh()
        return info

    def append(self, blocks: int, mspid: str) -> list:
        """Append ``blocks`` hash-chained blocks of one (unsigned) transaction each; return their BlockInfos."""
        if self.files():
            cut = blockfile.truncate_partial_tail(self.dir)
            if cut:
                LOG.write("blkstorage", "syncCheckpointInfoFromFS", "WARN",
                          f"Truncated a partial block record ({cut['bytes']} bytes at offset {cut['offset']} "
                          f"of {cut['file']}) channel={self.channel}")
        writer = blockfile.ChainWriter(self.dir, style=self.style)
        out = []
        for _ in range(blocks):
            tx_id = hashlib.sha256(os.urandom(24) + mspid.encode()).hexdigest()
            envelope = blockfile.make_envelope(self.channel, b"opskit lab transaction", tx_id=tx_id)
            out.append(writer.append([envelope]))
        self._sig = None
        self.refresh()
        return out


def seed_chain(seed_dir: str | None, channel: str, chain_dir: str, style: str) -> str:
    """Fill an empty channel directory: copy the seed's block files (``<seed>/<channel>/blockfile_N``), or write
    the seed's real block (``<seed>/<channel>.block``, e.g. a genesis block, header hash kept), else write a lab
    genesis block."""
    chain = Chain(channel, chain_dir, style)
    if chain.files():
        return "existing"
    os.makedirs(chain_dir, exist_ok=True)
    src = os.path.join(seed_dir, channel) if seed_dir else ""
    if src and os.path.isdir(src) and any(n.startswith("blockfile_") for n in os.listdir(src)):
        for name in sorted(os.listdir(src)):
            if name.startswith("blockfile_"):
                shutil.copyfile(os.path.join(src, name), os.path.join(chain_dir, name))
        return f"seed {src}"
    if src and os.path.isfile(src + ".block"):
        with open(src + ".block", "rb") as fh:
            raw = blockfile.RawBlock.from_proto(fh.read())
        blockfile.ChainWriter(chain_dir, style=style).append_raw(raw)
        return f"seed {src}.block"
    envelope = blockfile.make_envelope(channel, b"opskit lab genesis block for " + channel.encode())
    blockfile.append_block(chain_dir, [envelope], style=style)
    return "lab genesis block"


# ---------------------------------------------------------------- node state

class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.kind = args.kind
        self.lock = threading.RLock()
        self.stalled = False
        self.garbage = False
        self.failed_checks: list[dict[str, str]] = []
        self.logspec = "info"
        self.start_time = time.time()
        self.auto_interval = float(args.auto_advance)
        self.cluster_size = args.cluster_size
        self.active_nodes = args.active_nodes if args.active_nodes is not None else args.cluster_size
        #: True once the harness set cluster numbers (--active-nodes or /lab/cluster): they then win over the
        #: consenter count of the channel config
        self.cluster_set = args.active_nodes is not None
        # channel configs (orderers with the protobuf libraries; channels.py)
        self.chmod = None                          # the channels module, None = no channel-config features
        self.config_error = ""                     # why the channel-config features are off
        self.configs: dict[str, object] = {}       # channel -> channels.ChannelConfig
        self.mode: dict[str, str] = {}             # channel -> etcdraft | kafka | failed | <other type>
        self.halted: set[str] = set()              # consensus type changed by a committed block: restart required
        self.failed: dict[str, str] = {}           # channel -> why its chain could not start
        self.identity = b""                        # this orderer's serialized identity (pull requests)
        self.raft_settings = {k: v for k, v in sorted(os.environ.items())
                              if k in RAFT_ENV or k.startswith(RAFT_ENV_PREFIX)}
        self.config_counts = {"accepted": 0, "rejected": 0, "replicated_in": 0, "pulled": 0}
        self.chains: dict[str, Chain] = {}
        self.tx_mode = "normal"          # orderers: normal | refuse | drop (POST /lab/txmode)
        self.tx_counts = {"received": 0, "ordered": 0, "refused": 0, "dropped": 0}
        self.tx_blocks: dict[str, dict[str, int]] = {}   # channel -> txid -> block number (this process's txs)
        self.leader: dict[str, int] = {}
        self.leader_changes: dict[str, int] = {}
        self.module = {"orderer": "orderer.consensus.etcdraft", "peer": "kvledger"}.get(self.kind, self.kind)
        if self.kind in LEDGER_KINDS:
            root = ledger_chains_dir(self.kind, args.data_root)
            seed_dir = resolve_seed(args.seed, self.kind, args.seed_dir)
            style = "peer" if self.kind == "peer" else "orderer"
            for ch in args.channels:
                how = seed_chain(seed_dir, ch, os.path.join(root, ch), style)
                chain = Chain(ch, os.path.join(root, ch), style)
                chain.refresh()
                self.chains[ch] = chain
                self.leader[ch] = 1 if args.leader else 0
                self.leader_changes[ch] = 1
                LOG.write("blkstorage", "newBlockfileMgr", "INFO",
                          f"Getting block information from block storage channel={ch} ({how})")
                LOG.write("blkstorage", "syncCheckpointInfoFromFS", "INFO",
                          f"[{ch}] ledger height {chain.height} from {chain.dir}")
        if self.kind == "orderer":
            self._init_channel_configs()

    # -- channel configs (orderers)
    def _init_channel_configs(self) -> None:
        """Read every channel's config from its ledger, pull newer ones from the cluster, decide how each runs."""
        source_root = os.path.normpath(os.path.join(HERE, "..", "..", ".."))  # a source tree: opskit is there
        if os.path.isdir(os.path.join(source_root, "opskit", "orderer")) and source_root not in sys.path:
            sys.path.append(source_root)
        try:
            import channels  # noqa: PLC0415 - protobuf libraries: optional, see channels.py
        except Exception as exc:  # ImportError, or a protobuf runtime that does not fit this interpreter
            self.config_error = f"{type(exc).__name__}: {exc}"
            LOG.write("orderer.common.server", "Main", "WARN",
                      f"lab: channel config features disabled (cannot import fabric_protos/opskit.orderer: "
                      f"{self.config_error}); no config updates, deliver checks or consensus-type migration")
            for ch in self.chains:
                self.mode[ch] = self.args.consensus
            return
        self.chmod = channels
        self.identity = channels.serialized_identity(self.args.mspid,
                                                     f"opskit lab stand-in orderer {self.args.name}".encode())
        for ch, chain in self.chains.items():
            try:
                cfg = channels.load(chain.dir, ch)
            except Exception as exc:  # a config block that does not decode: run without it, say so
                LOG.write("orderer.common.server", "Main", "WARN", f"lab: cannot read the config of channel {ch}: {exc}")
                cfg = None
            if cfg is not None:
                self.configs[ch] = cfg
        self._pull_configs()
        if self.raft_settings:
            LOG.write("orderer.common.server", "Main", "INFO", "Raft cluster settings: " + " ".join(
                f"{k}={'<set>' if 'KEY' in k or 'PRIVATE' in k else v}" for k, v in self.raft_settings.items()))
        for ch in self.chains:
            self.mode[ch] = self._start_mode(ch)

    def _start_mode(self, ch: str) -> str:
        """How a channel runs after this start: by its config's consensus type (``--consensus`` without one)."""
        cfg = self.configs.get(ch)
        ctype = cfg.type if cfg is not None else self.args.consensus
        if ctype != "etcdraft":
            return ctype
        waldir = os.environ.get("ORDERER_CONSENSUS_WALDIR", "")
        if self.args.consensus == "etcdraft" or waldir:
            for path in (waldir, os.environ.get("ORDERER_CONSENSUS_SNAPDIR", "")):
                if path:
                    try:
                        os.makedirs(os.path.join(path, ch), exist_ok=True)  # a real orderer keeps a dir per channel
                    except OSError:
                        pass
            return "etcdraft"
        reason = ("etcdraft: no Raft cluster settings: Consensus.WALDir (ORDERER_CONSENSUS_WALDIR) is not set; "
                  "restart the orderer with the Raft cluster settings (General.Cluster.*, Consensus.WALDir, "
                  "Consensus.SnapDir)")
        self.failed[ch] = reason
        LOG.write("orderer.commmon.multichannel", "newChainSupport", "ERRO",
                  f"[channel: {ch}] Error creating consenter of type etcdraft: {reason}")
        return "failed"

    def _fetch_config(self, url: str, ch: str) -> tuple[bytes, object]:
        req = urllib.request.Request(f"{url.rstrip('/')}/lab/block?channel={quote(ch)}&which=config",
                                     headers={"X-Opskit-Creator": base64.b64encode(self.identity).decode()})
        with urllib.request.urlopen(req, timeout=CLUSTER_TIMEOUT) as resp:
            raw = blockfile.RawBlock.from_proto(resp.read())
        config, channel = self.chmod.config_of_envelope(raw.data[0])
        if channel != ch:
            raise ValueError(f"block is for channel {channel}")
        return raw.data[0], config

    def _pull_configs(self) -> None:
        """Best effort at start: adopt a newer config (higher sequence) that another orderer has committed
        while this one was down, by appending that config envelope as a new block."""
        jobs = [(url, ch) for ch in self.configs for url in self.args.cluster]
        if not jobs:
            return

        def one(job: tuple[str, str]) -> object:
            try:
                return self._fetch_config(*job)
            except Exception as exc:  # unreachable, refused, not a config block: nothing to adopt from it
                return exc

        with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
            results = list(pool.map(one, jobs))
        for ch in list(self.configs):
            mine = self.configs[ch]
            best = None
            for (url, c), res in zip(jobs, results):
                if c != ch or isinstance(res, Exception):
                    continue
                env, config = res
                if config.sequence > mine.sequence and (best is None or config.sequence > best[2].sequence):
                    best = (url, env, config)
            if best is None:
                continue
            url, env, config = best
            info = self.chains[ch].append_envelope(env)
            self.configs[ch] = self.chmod.ChannelConfig(ch, config, info.number)
            self.config_counts["pulled"] += 1
            LOG.write("orderer.commmon.multichannel", "lab", "INFO",
                      f"[channel: {ch}] lab: pulled config sequence {config.sequence} from {url} (had "
                      f"{mine.sequence}); written as block [{info.number}]")
        for (url, ch), res in zip(jobs, results):
            if isinstance(res, Exception):
                LOG.write("orderer.commmon.multichannel", "lab", "INFO",
                          f"[channel: {ch}] lab: no config from {url} ({type(res).__name__}: {res})")

    def _commit_config(self, channel: str, envelope: bytes, config: object, how: str) -> object:
        """Append a CONFIG block and adopt its config (caller holds the lock). Halts the channel when the block
        changes the consensus type (a Kafka chain stops after the migration block; the orderer must restart)."""
        before = self.configs.get(channel)
        info = self.chains[channel].append_envelope(envelope)
        now = self.chmod.ChannelConfig(channel, config, info.number)
        self.configs[channel] = now
        LOG.write("orderer.commmon.multichannel", "WriteConfigBlock", "INFO",
                  f"[channel: {channel}] Wrote config block [{info.number}] ({how}): sequence {now.sequence}, "
                  f"consensus {now.type}/{now.state}")
        if before is not None and before.type != now.type:
            self.halted.add(channel)
            LOG.write(f"orderer.consensus.{before.type}", "processConfig", "WARN",
                      f"[channel: {channel}] Consensus-type migration: config block [{info.number}] changed the "
                      f"consensus type from {before.type} to {now.type}; halting the chain, restart required")
        return info

    def _refusal(self, channel: str) -> tuple[str, str] | None:
        if channel in self.failed:
            return "SERVICE_UNAVAILABLE", f"channel {channel} is not serviced: {self.failed[channel]}"
        if channel in self.halted:
            return "SERVICE_UNAVAILABLE", self.chmod.HALTED_INFO if self.chmod else "halted"
        return None

    def broadcast(self, channel: str, body: bytes) -> tuple[int, dict]:
        """``POST /lab/broadcast``: a CONFIG_UPDATE envelope, validated and committed like an orderer does."""
        if channel not in self.chains:
            return 404, {"status": "NOT_FOUND", "info": f"channel {channel} not found"}
        ch = self.chmod
        if ch is None:
            return 503, {"status": "SERVICE_UNAVAILABLE",
                         "info": f"lab: channel config features unavailable ({self.config_error})"}
        htype = ch.header_type(body)
        if htype != 2:
            return 400, {"status": "BAD_REQUEST",
                         "info": f"lab: /lab/broadcast takes CONFIG_UPDATE (2) envelopes, got header type {htype}"}
        with self.lock:
            refusal = self._refusal(channel)
            if refusal is None and self.tx_mode == "refuse":
                refusal = ("SERVICE_UNAVAILABLE", "lab: this orderer refuses transactions")
            if refusal is None and channel not in self.configs:
                refusal = ("SERVICE_UNAVAILABLE", f"lab: channel {channel} has no config block")
            if refusal is not None:
                self.config_counts["rejected"] += 1
                LOG.write("orderer.common.broadcast", "ProcessMessage", "WARN",
                          f"[channel: {channel}] Rejecting broadcast of config message because of error: {refusal[1]}")
                return ch.HTTP_CODE.get(refusal[0], 503), {"status": refusal[0], "info": refusal[1]}
            try:
                nxt = ch.apply_config_update(self.configs[channel], body)
            except ch.Refused as exc:
                self.config_counts["rejected"] += 1
                LOG.write("orderer.common.broadcast", "ProcessMessage", "WARN",
                          f"[channel: {channel}] Rejecting broadcast of config message because of error: {exc.info}")
                return exc.http, {"status": exc.status, "info": exc.info}
            if self.tx_mode == "drop" or self.stalled:
                self.tx_counts["dropped"] += 1  # acknowledged, never ordered
                return 200, {"status": "SUCCESS", "info": ""}
            envelope = ch.config_envelope(channel, nxt, body, self.identity)
            info = self._commit_config(channel, envelope, nxt, "config update")
            self.config_counts["accepted"] += 1
        replicated = self._replicate(channel, envelope)
        return 200, {"status": "SUCCESS", "info": "", "block": info.number, "replicated": replicated}

    def _replicate(self, channel: str, envelope: bytes) -> dict[str, str]:
        """Push a committed config envelope to the other orderers (what consensus would do); who answered what."""
        urls = list(self.args.cluster)
        if not urls:
            return {}

        def push(url: str) -> str:
            req = urllib.request.Request(f"{url.rstrip('/')}/lab/replicate?channel={quote(channel)}", data=envelope,
                                         method="POST", headers={"Content-Type": "application/octet-stream"})
            try:
                with urllib.request.urlopen(req, timeout=CLUSTER_TIMEOUT) as resp:
                    return str(json.loads(resp.read() or b"{}").get("status", "?"))
            except urllib.error.HTTPError as exc:
                try:
                    doc = json.loads(exc.read() or b"{}")
                    return f"{doc.get('status', exc.code)}: {doc.get('info', '')}"
                except ValueError:
                    return f"HTTP {exc.code}"
            except OSError as exc:
                return f"unreachable: {exc}"

        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            out = dict(zip(urls, pool.map(push, urls)))
        for url, res in out.items():
            if res != "SUCCESS":
                LOG.write("orderer.commmon.multichannel", "lab", "WARN",
                          f"[channel: {channel}] lab: config block not replicated to {url}: {res}")
        return out

    def replicate_in(self, channel: str, body: bytes) -> tuple[int, dict]:
        """``POST /lab/replicate``: append the pushed CONFIG envelope and adopt its config (no re-validation)."""
        if channel not in self.chains:
            return 404, {"status": "NOT_FOUND", "info": f"channel {channel} not found"}
        if self.chmod is None:
            return 503, {"status": "SERVICE_UNAVAILABLE",
                         "info": f"lab: channel config features unavailable ({self.config_error})"}
        try:
            config, chid = self.chmod.config_of_envelope(body)
        except ValueError as exc:
            return 400, {"status": "BAD_REQUEST", "info": str(exc)}
        if chid != channel:
            return 400, {"status": "BAD_REQUEST", "info": f"envelope is for channel {chid}"}
        with self.lock:
            refusal = self._refusal(channel) or (("SERVICE_UNAVAILABLE", "lab: chain stalled") if self.stalled else None)
            if refusal is not None:
                return 503, {"status": refusal[0], "info": refusal[1]}
            cur = self.configs.get(channel)
            if cur is not None and config.sequence <= cur.sequence:
                return 200, {"status": "SUCCESS", "info": f"already at sequence {cur.sequence}"}
            info = self._commit_config(channel, body, config, "replicated")
            self.config_counts["replicated_in"] += 1
        return 200, {"status": "SUCCESS", "info": "", "block": info.number}

    def deliver(self, channel: str, which: str, creator: str | None) -> tuple[int, object, dict[str, str]]:
        """``GET /lab/block``: (http code, block bytes or a status dict, extra headers)."""
        if channel not in self.chains:
            return 404, {"status": "NOT_FOUND", "info": f"channel {channel} not found"}, {}
        if self.chmod is not None:
            if channel in self.failed:
                return 503, {"status": "SERVICE_UNAVAILABLE", "info": self.failed[channel]}, {}
            cur = self.configs.get(channel)
            if cur is not None:
                try:
                    self.chmod.check_deliver(cur, creator)
                except self.chmod.Refused as exc:
                    LOG.write("common.deliver", "deliverBlocks", "WARN",
                              f"[channel: {channel}] Client is not authorized: {exc.info}")
                    return exc.http, {"status": exc.status, "info": exc.info}, {}
        try:
            return self._deliver_block(channel, which)
        except (blockfile.LedgerError, KeyError, OSError) as exc:
            return 503, {"status": "SERVICE_UNAVAILABLE", "info": f"lab: cannot read the ledger: {exc}"}, {}

    def _deliver_block(self, channel: str, which: str) -> tuple[int, object, dict[str, str]]:
        with self.lock:
            chain = self.chains[channel]
            height = blockfile.height(chain.dir)["height"]
            if which == "newest":
                number = height - 1
            elif which == "oldest":
                number = 0
            elif which == "config":
                cur = self.configs.get(channel)
                if cur is not None:
                    number = cur.block
                else:
                    blk = blockfile.last_config_block(chain.dir)
                    if blk is None:
                        return 404, {"status": "NOT_FOUND", "info": "no config block"}, {}
                    number = blk.number
            else:
                try:
                    number = int(which)
                except ValueError:
                    return 400, {"status": "BAD_REQUEST", "info": f"bad block position {which!r}"}, {}
            if not 0 <= number < height:
                return 404, {"status": "NOT_FOUND", "info": f"block {number} not found (height {height})"}, {}
            raw = blockfile.find_block(chain.dir, number)
        return 200, raw.to_proto(), {"X-Opskit-Height": str(height), "X-Opskit-Block": str(number)}

    def channel_state(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for ch in self.chains:
            cur = self.configs.get(ch)
            doc = self.chmod.summary(cur) if cur is not None else {
                "type": self.mode.get(ch, self.args.consensus if self.kind == "orderer" else None), "state": None,
                "sequence": None, "height_of_last_config": None, "consenters": None}
            doc.update({"raft": self.mode.get(ch) == "etcdraft", "halted": ch in self.halted,
                        "failed": self.failed.get(ch), "mode": self.mode.get(ch)})
            out[ch] = doc
        return out

    def cluster_numbers(self, ch: str) -> tuple[int, int]:
        """(cluster size, active nodes) of a Raft channel: the consenter count of its config unless the harness
        set them (``--active-nodes``, ``/lab/cluster``)."""
        cur = self.configs.get(ch)
        size = None if self.cluster_set or cur is None else cur.consenters
        if size is None:
            return self.cluster_size, self.active_nodes
        return size, size

    # -- ledger
    def advance(self, blocks: int, channel: str | None) -> dict:
        with self.lock:
            if self.stalled:
                LOG.write(self.module, "advance", "WARN", f"stalled: ignoring request to add {blocks} block(s)")
                return {"stalled": True, "appended": 0, "height": self.heights()}
            names = [channel] if channel else list(self.chains)
            for name in names:
                if name not in self.chains:
                    raise KeyError(f"unknown channel {name}")
            for name in names:
                self._append(self.chains[name], blocks)
            return {"stalled": False, "appended": blocks, "height": self.heights()}

    def _append(self, chain: Chain, blocks: int) -> None:
        infos = chain.append(blocks, self.args.mspid)
        for info in infos:
            if self.kind == "peer":
                LOG.write("kvledger", "commit", "INFO",
                          f"[{chain.channel}] Committed block [{info.number}] with {info.tx_count} transaction(s) in "
                          f"1ms (state_validation=0ms block_and_pvtdata_commit=1ms state_commit=0ms) "
                          f"commitHash=[{hashlib.sha256(info.header_hash).hexdigest()}]")
            else:
                self._log_block(chain.channel, info.number)

    def _log_block(self, channel: str, number: int) -> None:
        if self.mode.get(channel, self.args.consensus) == "etcdraft":
            LOG.write("orderer.consensus.etcdraft", "writeBlock", "INFO",
                      f"Writing block [{number}] (Raft index: {number + 5}) to ledger "
                      f"channel={channel} node={self.args.node_id}")
        else:
            LOG.write("orderer.commmon.multichannel", "commitBlock", "INFO", f"[channel: {channel}] Wrote block [{number}]")

    # -- transactions (orderers)
    def order_tx(self, channel: str, body: bytes) -> tuple[int, dict]:
        """A broadcast: ``(http_code, {"status": ..., "info": ...})`` with Fabric's status names."""
        try:
            tx = json.loads(body or b"{}")
            txid = str(tx["txid"])
        except (ValueError, KeyError, TypeError):
            return 400, {"status": "BAD_REQUEST", "info": "body must be JSON with a txid"}
        with self.lock:
            self.tx_counts["received"] += 1
            if channel not in self.chains:
                return 404, {"status": "NOT_FOUND", "info": f"channel {channel} not found"}
            refusal = self._refusal(channel)
            if refusal is None and self.chmod is not None and channel in self.configs:
                try:
                    self.chmod.check_normal_transaction(self.configs[channel])
                except self.chmod.Refused as exc:
                    refusal = (exc.status, exc.info)
            if refusal is not None:
                self.tx_counts["refused"] += 1
                LOG.write("orderer.common.broadcast", "ProcessMessage", "WARN",
                          f"[channel: {channel}] Rejecting broadcast of normal message because of error: {refusal[1]}")
                return 503 if refusal[0] == "SERVICE_UNAVAILABLE" else 400, {"status": refusal[0], "info": refusal[1]}
            if self.tx_mode == "refuse":
                self.tx_counts["refused"] += 1
                LOG.write("orderer.common.broadcast", "ProcessMessage", "WARN",
                          f"[channel: {channel}] Rejecting broadcast of normal message because of error: "
                          "lab: this orderer refuses transactions")
                return 503, {"status": "SERVICE_UNAVAILABLE", "info": "lab: this orderer refuses transactions"}
            if self.tx_mode == "drop" or self.stalled:
                self.tx_counts["dropped"] += 1   # acknowledged, never ordered
                return 200, {"status": "SUCCESS", "info": ""}
            envelope = blockfile.make_envelope(channel, json.dumps(tx, sort_keys=True).encode(), tx_id=txid)
            info = self.chains[channel].append_envelope(envelope)
            self.tx_blocks.setdefault(channel, {})[txid] = info.number
            self.tx_counts["ordered"] += 1
            self._log_block(channel, info.number)
            return 200, {"status": "SUCCESS", "info": ""}

    def tx_block(self, channel: str, txid: str) -> int | None:
        with self.lock:
            return self.tx_blocks.get(channel, {}).get(txid)

    def getinfo(self, channel: str) -> dict:
        with self.lock:
            if channel not in self.chains:
                raise KeyError(f"channel {channel} not found")
            info = blockfile.height(self.chains[channel].dir)
        return {"height": info["height"], "currentBlockHash": info["currentBlockHash"],
                "previousBlockHash": info["previousBlockHash"]}

    def heights(self) -> dict[str, int]:
        with self.lock:  # a scrape during an advance sees the height before or after it, never half of it
            out = {}
            for name, chain in self.chains.items():
                chain.refresh()
                out[name] = chain.height
            return out

    # -- controls
    def set_leader(self, value: int, channel: str | None) -> None:
        with self.lock:
            for ch in [channel] if channel else list(self.chains):
                if ch not in self.chains:
                    raise KeyError(f"unknown channel {ch}")
                if self.leader[ch] != value:
                    self.leader[ch] = value
                    self.leader_changes[ch] += 1
                    me, other = self.args.node_id, (self.args.node_id % max(self.cluster_size, 2)) + 1
                    if self.kind == "orderer":
                        old, new = (other, me) if value else (me, other)
                        LOG.write("orderer.consensus.etcdraft", "run", "INFO",
                                  f"Raft leader changed: {old} -> {new} channel={ch} node={me}")
                    else:
                        LOG.write("gossip.election", "beLeader" if value else "stopBeingLeader", "INFO",
                                  f"{self.args.name} : {'Becoming a leader' if value else 'Stepping down as a leader'}"
                                  f" channel={ch}")

    # -- endpoints
    def metrics(self) -> str:
        if self.garbage:
            return "ledger_blockchain_height{channel=mychannel 4 3\n<html>garbage</html>\n\x00{{{\n"
        heights = self.heights()
        out: list[str] = []

        def family(name: str, mtype: str, help_: str, samples: list[tuple[str, float | int]]) -> None:
            out.append(f"# HELP {name} {help_}\n# TYPE {name} {mtype}\n")
            for labels, value in samples:
                out.append(f"{name}{labels} {value}\n")

        def per_channel(values: dict[str, int]) -> list[tuple[str, int]]:
            return [(f'{{channel="{ch}"}}', v) for ch, v in sorted(values.items())]

        # per channel by how it runs: Raft channels get the etcdraft family, Kafka channels the kafka one, a
        # channel whose chain failed to start neither (see _start_mode)
        mode = {ch: self.mode.get(ch, self.args.consensus) for ch in heights}
        raft = {ch: h for ch, h in heights.items() if mode[ch] == "etcdraft"}
        kafka = {ch: h for ch, h in heights.items() if mode[ch] == "kafka"}
        if self.kind == "orderer" and raft:
            numbers = {ch: self.cluster_numbers(ch) for ch in raft}
            family("consensus_etcdraft_active_nodes", "gauge", "Number of active nodes in this channel.",
                   per_channel({ch: numbers[ch][1] for ch in raft}))
            family("consensus_etcdraft_cluster_size", "gauge", "Number of nodes in this channel.",
                   per_channel({ch: numbers[ch][0] for ch in raft}))
            family("consensus_etcdraft_committed_block_number", "gauge",
                   "The block number of the latest block committed.",
                   per_channel({ch: max(h - 1, 0) for ch, h in raft.items()}))
            family("consensus_etcdraft_is_leader", "gauge",
                   "The leadership status of the current node: 1 if it is the leader else 0.",
                   per_channel({ch: self.leader[ch] for ch in raft}))
            family("consensus_etcdraft_leader_changes", "counter", "The number of leader changes since process start.",
                   per_channel({ch: self.leader_changes[ch] for ch in raft}))
        if self.kind == "orderer" and kafka:
            family("consensus_kafka_last_offset_persisted", "gauge",
                   "The offset specified in the block metadata of the most recently committed block.",
                   per_channel({ch: h + 2 for ch, h in kafka.items()}))
        family("fabric_version", "gauge", "The active version of Fabric.", [(f'{{version="{FABRIC_VERSION}"}}', 1)])
        if self.kind == "peer":
            family("gossip_leader_election_leader", "gauge", "Peer is leader (1) or follower (0)",
                   per_channel(self.leader))
            family("gossip_state_height", "gauge", "Current ledger height", per_channel(heights))
        family("ledger_blockchain_height", "gauge", "Height of the chain in blocks.", per_channel(heights))
        if self.kind == "orderer":
            family("participation_status", "gauge", "The channel participation status of the node: "
                   "0 if inactive, 1 if active, 2 if onboarding, 3 if failed.",
                   per_channel({c: 3 if c in self.failed else 1 for c in heights}))
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               [("", "%.11g" % self.start_time)])
        return "".join(out)

    def healthz(self) -> tuple[int, dict]:
        ns = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
        frac = ("%09d" % (ns % 1_000_000_000)).rstrip("0")
        stamp += ("." + frac if frac else "") + "Z"
        failed = list(self.failed_checks) + [{"component": f"etcdraft:{ch}", "reason": why}
                                             for ch, why in sorted(self.failed.items())]
        if failed:
            return 503, {"status": "Service Unavailable", "time": stamp, "failed_checks": failed}
        return 200, {"status": "OK", "time": stamp}


def resolve_seed(seed: str | None, kind: str, seed_dir: str) -> str | None:
    """``None``/"" -> the default seed for the kind; "none" -> no seed; a name -> seed_dir/name; a path -> itself."""
    if seed is None or seed == "":
        seed = {"orderer": "orderer1_h43", "peer": "peer0.org1_h43"}[kind]
    if seed == "none":
        return None
    return seed if os.path.isabs(seed) else os.path.join(seed_dir, seed)


# ---------------------------------------------------------------- HTTP

def make_handler(node: Node):
    class Handler(BaseHTTPRequestHandler):
        server_version = "opskit-standin"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
            pass  # request lines are not Fabric log lines

        def _send(self, code: int, body: str | bytes, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, code: int, obj: object) -> None:
            self._send(code, json.dumps(obj) + "\n")

        def parse_request(self) -> bool:
            """The stand-in's own protocol on a node's listen port is HTTP/1.1 (config updates, replication). A real
            gRPC, Kafka or ZooKeeper port never answers a plain HTTP/1.0 request: it closes the connection, and so
            does the stand-in (what fleet.probe sees on a real node, docs/lab-standins.md)."""
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/1.0" and self.server.server_port in PROTOCOL_PORTS:
                self.close_connection = True
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            path = url.path
            ops = node.kind in LEDGER_KINDS
            if path == "/metrics" and ops:
                self._send(200, node.metrics(), "text/plain; version=0.0.4; charset=utf-8; escaping=values")
            elif path == "/healthz":
                code, body = node.healthz()
                self._json(code, body)
            elif path == "/version" and ops:
                self._json(200, {"CommitSHA": COMMIT_SHA, "Version": FABRIC_VERSION})
            elif path == "/logspec" and ops:
                self._json(200, {"spec": node.logspec})
            elif path == "/lab/state":
                doc = {"name": node.args.name, "kind": node.kind, "stalled": node.stalled,
                       "garbage": node.garbage, "heights": node.heights(), "leader": node.leader,
                       "failed_checks": node.failed_checks, "auto_interval": node.auto_interval,
                       "tx_mode": node.tx_mode, "tx": dict(node.tx_counts)}
                if node.kind == "orderer":
                    with node.lock:
                        doc.update({"config": node.channel_state(), "config_features": node.chmod is not None,
                                    "config_error": node.config_error, "config_updates": dict(node.config_counts),
                                    "raft_settings": node.raft_settings, "cluster": list(node.args.cluster)})
                self._json(200, doc)
            elif path == "/lab/tx" and node.kind == "orderer":
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                block = node.tx_block(q.get("channel", ""), q.get("txid", ""))
                self._json(200, {"found": block is not None, "block": block})
            elif path == "/lab/block" and ops:
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                code, body, headers = node.deliver(q.get("channel", ""), q.get("which", "newest"),
                                                   self.headers.get("X-Opskit-Creator"))
                if isinstance(body, bytes):
                    self._send(code, body, "application/octet-stream", headers)
                else:
                    self._json(code, body)
            elif path == "/lab/getinfo" and ops:
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                try:
                    self._json(200, node.getinfo(q.get("channel", "")))
                except KeyError as exc:
                    self._json(404, {"error": str(exc.args[0])})
            elif path == "/" and not ops:
                self._json(200, {"name": node.args.name, "kind": node.kind, "standin": True})
            else:
                self._json(404, {"error": f"no such path {path}"})

        do_HEAD = do_GET

        def do_PUT(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/logspec" or node.kind not in LEDGER_KINDS:
                return self._json(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                node.logspec = str(json.loads(self.rfile.read(length))["spec"])
            except (ValueError, KeyError, TypeError):
                return self._json(400, {"Error": "invalid request body"})
            LOG.write("flogging", "ActivateSpec", "INFO", f"Changed logging spec to {node.logspec}")
            self._send(204, b"")

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fails = parse_qs(url.query).get("fail", [])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            action = url.path.removeprefix("/lab/")
            if action == "tx" and node.kind == "orderer":
                code, answer = node.order_tx(q.get("channel", ""), body)
                return self._json(code, answer)
            if action == "broadcast" and node.kind == "orderer":
                code, answer = node.broadcast(q.get("channel", ""), body)
                return self._json(code, answer)
            if action == "replicate" and node.kind == "orderer":
                code, answer = node.replicate_in(q.get("channel", ""), body)
                return self._json(code, answer)
            try:
                result = self._control(action, q, fails)
            except (KeyError, ValueError) as exc:
                return self._json(400, {"error": str(exc)})
            if result is None:
                return self._json(404, {"error": f"no such control {url.path}"})
            self._json(200, result)

        def _control(self, action: str, q: dict[str, str], fails: list[str]) -> dict | None:
            ledger = node.kind in LEDGER_KINDS
            if action == "advance" and ledger:
                blocks = int(q.get("blocks", "1"))
                if not 0 < blocks <= 10000:
                    raise ValueError("blocks must be 1..10000")
                return node.advance(blocks, q.get("channel"))
            if action == "stall" and ledger:
                with node.lock:  # an append under way finishes first: nothing is written after this answer
                    node.stalled = True
                LOG.write(node.module, "lab", "WARN", "lab: node stalled, no more blocks will be written")
                return {"stalled": True}
            if action == "resume" and ledger:
                node.stalled = False
                LOG.write(node.module, "lab", "INFO", "lab: node resumed")
                return {"stalled": False}
            if action == "garbage" and ledger:
                node.garbage = q.get("value", "1") not in ("0", "false", "off")
                LOG.write("operations", "lab", "WARN", f"lab: garbage /metrics {'on' if node.garbage else 'off'}")
                return {"garbage": node.garbage}
            if action == "healthz":
                checks = []
                for item in fails:
                    component, _, reason = item.partition(":")
                    checks.append({"component": component, "reason": reason or "failed"})
                node.failed_checks = checks
                for c in checks:
                    LOG.write("healthz", "RunChecks", "ERRO",
                              f"HealthChecker for component {c['component']} failed: {c['reason']}")
                if not checks:
                    LOG.write("healthz", "RunChecks", "INFO", "lab: all health checks pass again")
                return {"failed_checks": checks}
            if action == "log":
                n = int(q.get("bytes", "0"))
                if not 0 <= n <= 512 * 1024 * 1024:
                    raise ValueError("bytes must be 0..512MiB")
                return {"written": LOG.filler(n, node.module, "lab")}
            if action == "leader" and ledger:
                value = int(q.get("value", "1"))
                if value not in (0, 1):
                    raise ValueError("value must be 0 or 1")
                node.set_leader(value, q.get("channel"))
                return {"leader": node.leader, "leader_changes": node.leader_changes}
            if action == "cluster" and node.kind == "orderer":
                node.cluster_size = int(q.get("size", node.cluster_size))
                node.active_nodes = int(q.get("active", node.active_nodes))
                node.cluster_set = True
                LOG.write("orderer.consensus.etcdraft", "lab", "INFO",
                          f"lab: active nodes {node.active_nodes} of {node.cluster_size}")
                return {"active_nodes": node.active_nodes, "cluster_size": node.cluster_size}
            if action == "txmode" and node.kind == "orderer":
                mode = q.get("mode", "normal")
                if mode not in ("normal", "refuse", "drop"):
                    raise ValueError("mode must be normal, refuse or drop")
                node.tx_mode = mode
                LOG.write("orderer.common.broadcast", "lab", "WARN" if mode != "normal" else "INFO",
                          f"lab: transactions mode {mode}")
                return {"tx_mode": mode, "tx": dict(node.tx_counts)}
            if action == "auto" and ledger:
                node.auto_interval = float(q.get("interval", "0"))
                LOG.write(node.module, "lab", "INFO", f"lab: auto-advance every {node.auto_interval:g}s")
                return {"auto_interval": node.auto_interval}
            return None

    return Handler


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=LEDGER_KINDS + TRIVIAL_KINDS)
    p.add_argument("--name", default=os.environ.get("HOSTNAME", "standin"))
    p.add_argument("--port", type=int, default=None, help="operations port (default 8443 orderer, 9443 peer)")
    p.add_argument("--listen", default="0.0.0.0")
    p.add_argument("--extra-port", type=int, action="append", default=[],
                   help="also answer HTTP on this port (e.g. 7050/7051), so port checks see it open")
    p.add_argument("--channels", default="mychannel", help="comma-separated")
    p.add_argument("--data-root", default="/var/hyperledger/production")
    p.add_argument("--seed", default=None, help="seed name under --seed-dir, an absolute path, or 'none'")
    p.add_argument("--seed-dir", default=os.path.join(HERE, "seed"))
    p.add_argument("--mspid", default="Org1MSP")
    p.add_argument("--consensus", default="etcdraft", choices=("etcdraft", "kafka"),
                   help="what the orderer is configured for (orderer.yaml): etcdraft = Raft cluster settings present; "
                        "kafka = none unless ORDERER_CONSENSUS_WALDIR is set. Channels run by their config's type")
    p.add_argument("--cluster", action="append", default=[],
                   help="(orderer) base URL of another orderer of the lab (its listen port), for config replication")
    p.add_argument("--node-id", type=int, default=1)
    p.add_argument("--leader", type=int, default=0, choices=(0, 1))
    p.add_argument("--cluster-size", type=int, default=4)
    p.add_argument("--active-nodes", type=int, default=None)
    p.add_argument("--heartbeat", type=float, default=5.0, help="seconds between heartbeat log lines (0 = off)")
    p.add_argument("--auto-advance", type=float, default=0.0, help="append a block every N seconds (0 = off)")
    p.add_argument("--touch", action="append", default=[],
                   help="(kafka/zookeeper/couchdb) keep a small data file in this directory, so backups see data")
    args = p.parse_args(argv)
    args.channels = [c for c in args.channels.split(",") if c]
    if args.port is None:
        args.port = {"orderer": 8443, "peer": 9443}.get(args.kind, 0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        LOG.write("nodeCmd" if args.kind == "peer" else "orderer.common.server", "handleSignals", "INFO",
                  f"Received signal: {signum} ({signal.Signals(signum).name}), shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)  # PID 1 in a container ignores TERM without a handler
    signal.signal(signal.SIGINT, on_signal)
    if args.kind in LEDGER_KINDS:
        module, func, what = {"orderer": ("orderer.common.server", "Main", "orderer"),
                              "peer": ("nodeCmd", "serve", "peer")}[args.kind]
        LOG.write(module, func, "INFO", f"Starting {what}:\n Version: {FABRIC_VERSION}\n Commit SHA: {COMMIT_SHA}\n"
                  f" Go version: go1.23.5\n OS/Arch: linux/amd64 (opskit lab stand-in {args.name})")
    else:
        LOG.write(args.kind, "main", "INFO", f"Starting {args.kind} (opskit lab stand-in {args.name})")
    node = Node(args)
    for directory in args.touch:
        path = os.path.join(directory, f"opskit-standin-{args.kind}.dat")
        if not os.path.exists(path):
            os.makedirs(directory, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(os.urandom(4096))
        LOG.write(args.kind, "main", "INFO", f"data file {path}")
    # the ports that stand for a non-HTTP protocol: a ledger node's listen ports, a Kafka/ZooKeeper's only port
    PROTOCOL_PORTS.update(args.extra_port if args.kind in LEDGER_KINDS else
                          [args.port] if args.kind in ("kafka", "zookeeper") and args.port else [])
    servers = []
    for port in [args.port, *args.extra_port]:
        if not port:
            continue
        server = _Server((args.listen, port), make_handler(node))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
    if servers and args.kind in LEDGER_KINDS:
        LOG.write("operations.runner", "Start", "INFO",
                  f"Operations server listening on {args.listen}:{args.port} (TLS disabled)")
    elif servers:
        LOG.write(args.kind, "main", "INFO", f"listening on {args.listen}:{args.port}")
    if args.kind == "orderer":
        for ch in node.chains:
            mode = node.mode.get(ch, args.consensus)
            if mode == "etcdraft":
                new = args.node_id if args.leader else (args.node_id % max(args.cluster_size, 2)) + 1
                LOG.write("orderer.consensus.etcdraft", "Start", "INFO", f"Starting Raft node channel={ch} node={args.node_id}")
                LOG.write("orderer.consensus.etcdraft", "run", "INFO",
                          f"Raft leader changed: 0 -> {new} channel={ch} node={args.node_id}")
            elif mode == "kafka":
                LOG.write("orderer.consensus.kafka", "startThread", "INFO",
                          f"[channel: {ch}] Channel consumer set up successfully")
                LOG.write("orderer.consensus.kafka", "startThread", "INFO",
                          f"[channel: {ch}] Start phase completed successfully")
    last_beat = last_block = time.monotonic()
    while not stop.wait(0.1):  # the main loop's tick; nothing here waits for a condition
        now = time.monotonic()
        if args.heartbeat and now - last_beat >= args.heartbeat:
            last_beat = now
            heights = " ".join(f"{c}={h}" for c, h in node.heights().items()) if node.chains else ""
            LOG.write(node.module, "heartbeat", "INFO",
                      f"lab heartbeat {args.name} kind={args.kind}{' ' + heights if heights else ''}"
                      f"{' stalled' if node.stalled else ''}")
        if node.auto_interval > 0 and now - last_block >= node.auto_interval:
            last_block = now
            if not node.stalled:
                node.advance(1, None)
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
