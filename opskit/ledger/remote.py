"""Read a node's ledger on its own host, through the remote engine, running or stopped.

Ansible-style: the stdlib-only reader (:mod:`opskit.ledger.blockfile`) is shipped with each command and
run by the host's ``python3``, so only a small JSON answer crosses the network. The source travels as
a compressed ``python3 -c`` argument rather than over stdin: the SSH session pumps stdin one byte per
10 ms (invoke's ``Runner.input_sleep``), far too slow for a 30 KB program. Hosts without a usable
``python3`` (3.7+) get the fallback: the block files are copied (base64 over the session) into a local
temporary directory and read here; for a height only the last file is copied.

Where the channel directory is on the host:
1. ``node.ledger_path`` from the inventory (the host directory holding the node's production data; the
   usual layouts under it are tried: ``chains/<ch>``, ``ledgersData/chains/chains/<ch>``, ...);
2. else the container's mounts (``docker inspect``, works for a stopped container);
3. else the named volumes of ``node.volumes`` (``docker volume inspect``).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from opskit.errors import OpskitError
from opskit.inventory.model import Host, Inventory, Node, NodeKind
from opskit.ledger import blockfile
from opskit.remote.command import script
from opskit.remote.session import BaseSession

#: the node's production root inside its container, and the chains dir relative to it
CONTAINER_ROOT = {
    NodeKind.PEER: ("/var/hyperledger/production", "ledgersData/chains/chains"),
    NodeKind.ORDERER: ("/var/hyperledger/production/orderer", "chains"),
}

READER_TIMEOUT = 600.0


class LedgerReadError(OpskitError):
    """The ledger of a node could not be found or read."""


class NoPython(LedgerReadError):
    """The host has no usable python3 (3.7 or later)."""


@lru_cache(maxsize=1)
def reader_source() -> str:
    """The exact source shipped to hosts (this repository's ``blockfile.py``)."""
    with open(blockfile.__file__, encoding="utf-8") as f:
        return f.read()


@lru_cache(maxsize=1)
def _bootstrap() -> str:
    blob = base64.b64encode(zlib.compress(reader_source().encode(), 9)).decode()
    return ("import sys,zlib,base64\n"
            "if sys.version_info<(3,7):sys.exit(126)\n"
            f"exec(compile(zlib.decompress(base64.b64decode('{blob}')),'opskit-blockfile','exec'))\n")


def reader_argv(command: str, *args: str, python: str = "python3") -> list[str]:
    """argv that runs the shipped reader: ``python3 -c <bootstrap> COMMAND ARGS... --json``."""
    return [python, "-c", _bootstrap(), command, *args, "--json"]


def container_chain_dir(node: Node, channel: str) -> str:
    if node.kind not in CONTAINER_ROOT:
        raise LedgerReadError(f"node {node.name} is a {node.kind.value}: only peers and orderers have block files")
    root, rel = CONTAINER_ROOT[node.kind]
    return posixpath.join(root, rel, channel)


def ledger_path_candidates(node: Node, channel: str) -> list[str]:
    """Channel directories to try under ``node.ledger_path`` (first existing wins)."""
    assert node.ledger_path
    lp = node.ledger_path.rstrip("/") or "/"
    if node.kind is NodeKind.PEER:
        rels = ["ledgersData/chains/chains", "production/ledgersData/chains/chains", "chains/chains", "."]
    else:
        rels = ["chains", "orderer/chains", "production/orderer/chains", "."]
    return [posixpath.normpath(posixpath.join(lp, r, channel)) for r in rels]


def map_mount(mounts: Sequence[dict[str, Any]], container_path: str) -> str | None:
    """Host path of ``container_path`` through the container mount with the longest matching destination."""
    best: tuple[int, str] | None = None
    for m in mounts:
        dest = (m.get("Destination") or "").rstrip("/")
        src = m.get("Source") or ""
        if not dest or not src:
            continue
        if container_path == dest or container_path.startswith(dest + "/"):
            if best is None or len(dest) > best[0]:
                rest = container_path[len(dest):].lstrip("/")
                best = (len(dest), posixpath.join(src, rest) if rest else src)
    return best[1] if best else None


def _docker_env(host: Host) -> dict[str, str] | None:
    return {"DOCKER_HOST": host.docker_host} if host.docker_host else None


def locate(session: BaseSession, inv: Inventory, node: Node, channel: str) -> tuple[list[str], str]:
    """(candidate host directories, how they were found) for ``node``'s ``channel``."""
    if node.ledger_path:
        return ledger_path_candidates(node, channel), "ledger_path"
    host = inv.hosts[node.host]
    cpath = container_chain_dir(node, channel)
    env = _docker_env(host)
    res = session.run(["docker", "inspect", "--type", "container", "--format", "{{json .Mounts}}", node.container_name],
                      check=False, env=env)
    if res.exit_code == 0 and res.stdout.strip():
        try:
            mounts = json.loads(res.stdout.strip().splitlines()[-1]) or []
        except json.JSONDecodeError:
            mounts = []
        hp = map_mount(mounts, cpath)
        if hp:
            return [hp], f"mounts of container {node.container_name}"
    for cdir, vol in sorted(node.volumes.items(), key=lambda kv: -len(kv[0])):
        cdir = cdir.rstrip("/")
        if cpath == cdir or cpath.startswith(cdir + "/"):
            vr = session.run(["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", vol], check=False, env=env)
            if vr.exit_code == 0 and vr.stdout.strip():
                mp = vr.stdout.strip().splitlines()[-1]
                rest = cpath[len(cdir):].lstrip("/")
                return [posixpath.join(mp, rest) if rest else mp], f"volume {vol}"
    why = res.stderr.strip().splitlines()[-1:] if res.stderr else []
    raise LedgerReadError(
        f"{node.name}: cannot find the ledger of channel {channel} on {node.host}: container {node.container_name} "
        f"has no mount for {cpath}{' (' + why[0] + ')' if why else ''}, and no volume or ledger_path is set in the inventory")


_LIST = r"""
for d in "$@"; do
  if [ -d "$d" ]; then
    echo "@@dir $d"
    for f in "$d"/blockfile_*; do
      [ -f "$f" ] && echo "$(wc -c < "$f") ${f##*/}"
    done
    exit 0
  fi
done
echo "@@none"
"""

_CAT = r"""
if command -v base64 >/dev/null 2>&1; then echo "@@b64"; base64 "$1"; else echo "@@hex"; od -An -v -tx1 "$1"; fi
"""


@dataclass
class NodeLedger:
    """One node's channel ledger as seen from its host (shipped reader, or copied files as a fallback)."""

    session: BaseSession
    inv: Inventory | None
    node: Node | None
    channel: str
    dirs: list[str] = field(default_factory=list)
    found_by: str = ""
    python: str = "python3"
    mode: str = "reader"  # "reader" (shipped python) or "copy" (files copied here)
    copied_bytes: int = 0
    _tmp: str | None = None
    _have: set[str] = field(default_factory=set)
    _dir: str | None = None

    @classmethod
    def for_node(cls, session: BaseSession, inv: Inventory, node: Node, channel: str,
                 python: str = "python3") -> "NodeLedger":
        dirs, how = locate(session, inv, node, channel)
        return cls(session, inv, node, channel, dirs, how, python)

    @classmethod
    def for_dir(cls, session: BaseSession, directory: str, python: str = "python3") -> "NodeLedger":
        return cls(session, None, None, posixpath.basename(directory.rstrip("/")), [directory], "path", python)

    @property
    def label(self) -> str:
        return self.node.name if self.node else self.dirs[0]

    # -- shipped reader -------------------------------------------------------------------------------
    def _run(self, command: str, *args: str) -> dict[str, Any]:
        res = self.session.run(reader_argv(command, *args, python=self.python), check=False, timeout=READER_TIMEOUT)
        lines = [l for l in res.stdout.splitlines() if l.strip()]
        doc = None
        if lines:
            try:
                doc = json.loads(lines[-1])
            except json.JSONDecodeError:
                doc = None
        if doc is None:
            if res.exit_code in (126, 127):  # 127: no such command; 126: not executable, or python < 3.7
                raise NoPython(f"{self.session.name}: no usable {self.python} (exit {res.exit_code})")
            tail = res.stderr.strip().splitlines()[-1:] if res.stderr else []
            raise LedgerReadError(f"{self.session.name}: ledger reader failed (exit {res.exit_code})"
                                  + (f": {tail[0]}" if tail else ""))
        if "error" in doc:
            raise LedgerReadError(f"{self.label}: {doc['error']}", exit_code=3)
        return doc

    def _with_fallback(self, command: str, *args: str) -> dict[str, Any]:
        if self.mode == "reader":
            try:
                return self._run(command, *args)
            except NoPython:
                self.mode = "copy"
        return self._local(command, *args)

    # -- copy fallback -------------------------------------------------------------------------------
    def _listing(self) -> tuple[str, list[tuple[int, str]]]:
        res = self.session.run(script(_LIST, *self.dirs), check=False)
        lines = res.stdout.splitlines()
        if not lines or not lines[0].startswith("@@dir "):
            raise LedgerReadError(f"{self.label}: none of {', '.join(self.dirs)} exists on {self.session.name}", exit_code=3)
        d = lines[0][6:]
        files = []
        for line in lines[1:]:
            size, _, name = line.strip().partition(" ")
            if size.isdigit() and name.startswith(blockfile.FILE_PREFIX):
                files.append((int(size), name))
        files.sort(key=lambda sf: int(sf[1][len(blockfile.FILE_PREFIX):] or 0))
        if not files:
            raise LedgerReadError(f"{self.label}: {d}: no blockfile_* here", exit_code=3)
        return d, files

    def _fetch(self, remote_dir: str, name: str, local_dir: str) -> None:
        if name in self._have:
            return
        res = self.session.run(script(_CAT, posixpath.join(remote_dir, name)), timeout=READER_TIMEOUT)
        head, _, body = res.stdout.partition("\n")
        data = base64.b64decode(body) if head.strip() == "@@b64" else bytes.fromhex(body.replace(" ", "").replace("\n", ""))
        with open(os.path.join(local_dir, name), "wb") as f:
            f.write(data)
        self.copied_bytes += len(data)
        self._have.add(name)

    def _local(self, command: str, *args: str) -> dict[str, Any]:
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="opskit-ledger-")
        local = os.path.join(self._tmp, self.channel or "channel")
        os.makedirs(local, exist_ok=True)
        remote_dir, files = self._listing()
        if command == "height":
            for _, name in reversed(files):  # the last file, and earlier ones only if it holds no block
                self._fetch(remote_dir, name, local)
                try:
                    doc = blockfile.height(local)
                    break
                except blockfile.NoLedger:
                    continue
            else:
                raise LedgerReadError(f"{self.label}: block files hold no complete block", exit_code=3)
        else:
            for _, name in files:
                self._fetch(remote_dir, name, local)
            if command == "verify":
                doc = blockfile.verify(local)
            elif command == "headers":
                doc = {"headers": {str(k): v for k, v in blockfile.headers_at(local, [int(a) for a in args]).items()}}
            else:
                raise LedgerReadError(f"unknown reader command {command}")
        doc["dir"] = remote_dir
        doc["channel"] = self.channel
        doc["copied_bytes"] = self.copied_bytes
        return doc

    def cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._have.clear()

    # -- public ----------------------------------------------------------------------------------------
    def _annotate(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc["channel"] = self.channel
        doc["host"] = self.session.name
        doc["node"] = self.node.name if self.node else None
        doc["found_by"] = self.found_by
        doc["mode"] = self.mode
        return doc

    def height(self) -> dict[str, Any]:
        return self._annotate(self._with_fallback("height", *self.dirs))

    def verify(self) -> dict[str, Any]:
        return self._annotate(self._with_fallback("verify", *self.dirs))

    def headers(self, numbers: Sequence[int]) -> dict[int, str]:
        if self.mode == "reader":
            try:
                doc = self._run("headers", self._resolved_dir(), *(str(n) for n in numbers))
                return {int(k): v for k, v in doc["headers"].items()}
            except NoPython:
                self.mode = "copy"
        doc = self._local("headers", *(str(n) for n in numbers))
        return {int(k): v for k, v in doc["headers"].items()}

    def _resolved_dir(self) -> str:
        if not self._dir:
            self._dir = self.height()["dir"]
        return self._dir


def compare_ledgers(a: "NodeLedger", b: "NodeLedger", fanout: int = 16) -> dict[str, Any]:
    """Heights, common prefix and first differing block of two remote ledgers, by header-hash lookups only.

    Costs one height per side plus, when neither chain is a prefix of the other, a few rounds of
    ``fanout`` header lookups (see :func:`blockfile.bisect_compare`).
    """
    return compare_targets(a, b)


# -- targets: a local directory or an inventory node --------------------------------------------------
@dataclass
class LocalLedger:
    """A channel directory on this machine, read in-process (same answers as the shipped reader)."""

    directory: str
    channel: str = ""

    def __post_init__(self) -> None:
        self.channel = self.channel or posixpath.basename(os.path.normpath(self.directory))

    @property
    def label(self) -> str:
        return self.directory

    def _annotate(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc.update({"channel": self.channel, "host": None, "node": None, "found_by": "path", "mode": "local"})
        return doc

    def height(self) -> dict[str, Any]:
        try:
            return self._annotate(blockfile.height(self.directory))
        except blockfile.LedgerError as exc:
            raise LedgerReadError(str(exc), exit_code=3) from None

    def verify(self) -> dict[str, Any]:
        try:
            return self._annotate(blockfile.verify(self.directory))
        except blockfile.LedgerError as exc:
            raise LedgerReadError(str(exc), exit_code=3) from None

    def headers(self, numbers: Sequence[int]) -> dict[int, str]:
        return blockfile.headers_at(self.directory, numbers)

    def cleanup(self) -> None:
        return None


Ledger = LocalLedger | NodeLedger


def resolve_targets(target: str, channel: str | None, inv: Inventory | None,
                    session_for: Any = None) -> list[Ledger]:
    """The ledgers ``target`` names: a local directory (``DIR`` or ``DIR/<channel>``), or an inventory node
    (every channel of the node unless ``channel`` is given). ``session_for(host)`` opens a session."""
    if os.path.isdir(target):
        d = target
        if channel and os.path.isdir(os.path.join(target, channel)):
            d = os.path.join(target, channel)
        return [LocalLedger(d, channel or "")]
    if inv is None:
        raise LedgerReadError(f"{target}: no such directory, and no inventory to look it up as a node")
    node = inv.nodes.get(target)
    if node is None:
        raise LedgerReadError(f"{target}: neither a local directory nor a node of inventory {inv.name}")
    if node.kind not in CONTAINER_ROOT:
        raise LedgerReadError(f"{target} is a {node.kind.value}: only peers and orderers have block files")
    channels = [channel] if channel else inv.channels_of(node)
    if not channels:
        raise LedgerReadError(f"{target}: the inventory lists no channel for this node; give --channel")
    session = session_for(inv.hosts[node.host])
    out: list[Ledger] = []
    for ch in channels:
        out.append(NodeLedger.for_node(session, inv, node, ch))
    return out


def compare_targets(a: Ledger, b: Ledger) -> dict[str, Any]:
    """Compare two ledgers: exact streaming when both are local, header-hash bisection otherwise."""
    if isinstance(a, LocalLedger) and isinstance(b, LocalLedger):
        try:
            res = blockfile.compare(a.directory, b.directory)
        except blockfile.LedgerError as exc:
            raise LedgerReadError(str(exc), exit_code=3) from None
        res["a"] = {"dir": a.directory, "channel": a.channel, "node": None, "host": None}
        res["b"] = {"dir": b.directory, "channel": b.channel, "node": None, "host": None}
        return res
    ha, hb = a.height(), b.height()
    if isinstance(a, NodeLedger):
        a._dir = ha["dir"]
    if isinstance(b, NodeLedger):
        b._dir = hb["dir"]
    res = blockfile.bisect_compare(ha["height"], hb["height"], a.headers, b.headers)
    keys = ("node", "host", "channel", "dir", "height", "currentBlockHash", "files", "mode")
    res["a"] = {k: ha.get(k) for k in keys}
    res["b"] = {k: hb.get(k) for k in keys}
    return res
