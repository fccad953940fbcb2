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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FABRIC_VERSION = "2.5.12"
COMMIT_SHA = "af0b647"
MAX_BLOCKFILE_SIZE = 64 * 1024 * 1024
LEDGER_KINDS = ("orderer", "peer")
TRIVIAL_KINDS = ("kafka", "zookeeper", "couchdb", "cli")
HERE = os.path.dirname(os.path.abspath(__file__))

# blockfile.py (opskit/ledger/blockfile.py, stdlib only) sits next to this file in the stand-in image;
# in a source tree it is two directories up.
sys.path[:0] = [HERE, os.path.normpath(os.path.join(HERE, "..", "..", "ledger"))]
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
    """Fill an empty channel directory: copy the seed's block files, else write a lab genesis block."""
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
                LOG.write("orderer.consensus.etcdraft", "writeBlock", "INFO",
                          f"Writing block [{info.number}] (Raft index: {info.number + 5}) to ledger "
                          f"channel={chain.channel} node={self.args.node_id}")

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
            LOG.write("orderer.consensus.etcdraft", "writeBlock", "INFO",
                      f"Writing block [{info.number}] (Raft index: {info.number + 5}) to ledger "
                      f"channel={channel} node={self.args.node_id}")
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

        if self.kind == "orderer" and self.args.consensus == "etcdraft":
            family("consensus_etcdraft_active_nodes", "gauge", "Number of active nodes in this channel.",
                   per_channel({ch: self.active_nodes for ch in heights}))
            family("consensus_etcdraft_cluster_size", "gauge", "Number of nodes in this channel.",
                   per_channel({ch: self.cluster_size for ch in heights}))
            family("consensus_etcdraft_committed_block_number", "gauge",
                   "The block number of the latest block committed.",
                   per_channel({ch: max(h - 1, 0) for ch, h in heights.items()}))
            family("consensus_etcdraft_is_leader", "gauge",
                   "The leadership status of the current node: 1 if it is the leader else 0.",
                   per_channel(self.leader))
            family("consensus_etcdraft_leader_changes", "counter", "The number of leader changes since process start.",
                   per_channel(self.leader_changes))
        if self.kind == "orderer" and self.args.consensus == "kafka":
            family("consensus_kafka_last_offset_persisted", "gauge",
                   "The offset specified in the block metadata of the most recently committed block.",
                   per_channel({ch: h + 2 for ch, h in heights.items()}))
        family("fabric_version", "gauge", "The active version of Fabric.", [(f'{{version="{FABRIC_VERSION}"}}', 1)])
        if self.kind == "peer":
            family("gossip_leader_election_leader", "gauge", "Peer is leader (1) or follower (0)",
                   per_channel(self.leader))
            family("gossip_state_height", "gauge", "Current ledger height", per_channel(heights))
        family("ledger_blockchain_height", "gauge", "Height of the chain in blocks.", per_channel(heights))
        if self.kind == "orderer":
            family("participation_status", "gauge", "The channel participation status of the node: "
                   "0 if inactive, 1 if active, 2 if onboarding, 3 if failed.", per_channel({c: 1 for c in heights}))
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               [("", "%.11g" % self.start_time)])
        return "".join(out)

    def healthz(self) -> tuple[int, dict]:
        ns = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
        frac = ("%09d" % (ns % 1_000_000_000)).rstrip("0")
        stamp += ("." + frac if frac else "") + "Z"
        if self.failed_checks:
            return 503, {"status": "Service Unavailable", "time": stamp, "failed_checks": list(self.failed_checks)}
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

        def _send(self, code: int, body: str | bytes, ctype: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, code: int, obj: object) -> None:
            self._send(code, json.dumps(obj) + "\n")

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
                self._json(200, {"name": node.args.name, "kind": node.kind, "stalled": node.stalled,
                                 "garbage": node.garbage, "heights": node.heights(), "leader": node.leader,
                                 "failed_checks": node.failed_checks, "auto_interval": node.auto_interval,
                                 "tx_mode": node.tx_mode, "tx": dict(node.tx_counts)})
            elif path == "/lab/tx" and node.kind == "orderer":
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                block = node.tx_block(q.get("channel", ""), q.get("txid", ""))
                self._json(200, {"found": block is not None, "block": block})
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
    p.add_argument("--consensus", default="etcdraft", choices=("etcdraft", "kafka"))
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
    if args.kind == "orderer" and args.consensus == "etcdraft":
        for ch in node.chains:
            new = args.node_id if args.leader else (args.node_id % max(args.cluster_size, 2)) + 1
            LOG.write("orderer.consensus.etcdraft", "run", "INFO",
                      f"Raft leader changed: 0 -> {new} channel={ch} node={args.node_id}")
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
