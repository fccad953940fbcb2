"""Channel configuration online: fetch, sign and submit through the fleet's Fabric tools container.

This is how these fleets are operated by hand, and opskit does exactly the same, over one SSH connection to
the tools (cli) container's host:

1. ``docker exec -e CORE_PEER_LOCALMSPID=... -e CORE_PEER_MSPCONFIGPATH=<orderer admin MSP> cli
   peer channel fetch config FILE -o ORDERER:PORT -c CHANNEL`` and the block is copied out (``docker cp``);
2. the new config is computed here (:mod:`opskit.orderer.update`), the CONFIG_UPDATE envelope is copied in;
3. ``peer channel signconfigtx -f FILE`` once per orderer-org admin MSP of the inventory;
4. before submitting, the signed envelope is read back and checked with the orderer's own rules
   (:mod:`opskit.orderer.rules`), so a missing signature gives a clear error instead of a BAD_REQUEST;
5. ``peer channel update -f FILE -c CHANNEL -o ORDERER:PORT`` and the result is verified by fetching the config
   from every orderer of the channel until each shows it (with a deadline).

Fetches use an orderer admin identity: during maintenance only ``/Channel/Orderer/Readers`` may deliver.
Every command is an argv list; file contents travel base64-encoded through ``docker cp`` tar streams.
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fabric_protos.common import common_pb2, configtx_pb2

from opskit.change.progress import ProgressFn
from opskit.wait import Poller
from opskit.errors import CommandTimeout, InventoryError, OpskitError, SelectorError
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.orderer.config import LoadedConfig, parse_config_bytes
from opskit.orderer.update import wrap_update
from opskit.remote.command import script
from opskit.remote.session import BaseSession, CommandResult

FETCH_TIMEOUT = 60.0
UPDATE_TIMEOUT = 120.0


class OnlineError(OpskitError):
    """A fetch, signature or update through the tools container failed (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class UpdateRefused(OnlineError):
    """The orderer answered the update with a status other than SUCCESS (``status`` holds it)."""

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message)
        self.status = status


class NotEnoughSigners(OpskitError):
    """The inventory's admin MSPs cannot satisfy the update's mod_policy: nothing was submitted (exit 3)."""


@dataclass(frozen=True)
class Identity:
    """An org admin as the tools container knows it (the MSP directory is a path inside the container)."""

    org: str
    msp_id: str
    msp_path: str
    tls_cert: str | None = None   #: the admin's TLS client pair, for orderers that require client certificates
    tls_key: str | None = None

    @property
    def env(self) -> list[str]:
        return ["-e", f"CORE_PEER_LOCALMSPID={self.msp_id}", "-e", f"CORE_PEER_MSPCONFIGPATH={self.msp_path}"]

    @property
    def client_args(self) -> list[str]:
        """``--clientauth --certfile --keyfile`` when the inventory gives the admin's TLS client pair."""
        if self.tls_cert and self.tls_key:
            return ["--clientauth", "--certfile", self.tls_cert, "--keyfile", self.tls_key]
        return []


@dataclass(frozen=True)
class OrdererRef:
    """An orderer as the tools container reaches it: ``address`` goes after ``-o``."""

    node: str
    host: str
    address: str
    tls_ca: str | None = None

    @property
    def tls_args(self) -> list[str]:
        return ["--tls", "--cafile", self.tls_ca] if self.tls_ca else []


# --------------------------------------------------------------------------------------------------- inventory


def tools_node(inv: Inventory, name: str | None = None) -> Node:
    """The tools (cli) container: ``name`` or the inventory's only/first node of kind cli."""
    if name:
        node = inv.nodes.get(name)
        if node is None:
            raise SelectorError(f"unknown node {name!r} for --cli (nodes: {', '.join(sorted(inv.nodes))})")
        return node
    clis = [n for n in inv.nodes.values() if n.kind == NodeKind.CLI]
    if not clis:
        raise InventoryError(f"{inv.source or 'inventory'}: no node of kind cli: the channel tasks run "
                             "`peer channel ...` in the fleet's tools container")
    return clis[0]


def channel_orderers(inv: Inventory, channel: str) -> list[OrdererRef]:
    """The orderers serving ``channel`` (inventory order), each with the address the tools container uses."""
    if channel not in inv.channels:
        raise SelectorError(f"unknown channel {channel!r} (channels: {', '.join(sorted(inv.channels)) or 'none'})")
    names = inv.channels[channel].orderers or [n.name for n in inv.nodes.values() if n.kind == NodeKind.ORDERER]
    out = []
    for name in names:
        node = inv.nodes[name]
        hostname = node.hostname or node.container_name
        port = node.listen_port or 7050
        out.append(OrdererRef(name, node.host, f"{hostname}:{port}", node.tls_ca_file))
    if not out:
        raise InventoryError(f"channel {channel} has no orderers in the inventory")
    return out


def org_admins(inv: Inventory, kind: str = "orderer") -> list[Identity]:
    """Admin identities of every org of ``kind`` that has ``admin_msp_path`` (inventory order)."""
    return [Identity(name, org.msp_id, org.admin_msp_path, org.admin_tls_cert, org.admin_tls_key)
            for name, org in inv.orgs.items() if org.kind == kind and org.admin_msp_path]


def orderer_admins(inv: Inventory) -> list[Identity]:
    admins = org_admins(inv, "orderer")
    if not admins:
        raise InventoryError("no orderer org has admin_msp_path in the inventory: channel config changes need the "
                             "orderer org admins' MSP directories (paths inside the tools container)")
    return admins


# --------------------------------------------------------------------------------------------------- the container


def _last_error_line(res: CommandResult) -> str:
    lines = [ln.strip() for ln in (res.stderr + "\n" + res.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    return (errors or lines or [f"exit code {res.exit_code}"])[-1]


_GET = 'docker cp "$1":"$2" - | base64'
#: fetch WHICH from several orderers in one SSH command: "$1" container, "$2" dir, "$3" channel, "$4" which,
#: "$5" msp id, "$6" msp path, "$7"/"$8" TLS client cert/key ("" = none), then node, address, cafile per orderer;
#: a tar of the dir follows "@@tar"
_FETCH_MANY = r"""
c="$1"; d="$2"; ch="$3"; which="$4"; mspid="$5"; msp="$6"; cert="$7"; key="$8"; shift 8
docker exec "$c" mkdir -p "$d" || exit 1
while [ $# -ge 3 ]; do
  node="$1"; addr="$2"; ca="$3"; shift 3
  if [ -n "$ca" ]; then
    out=$(docker exec -e CORE_PEER_LOCALMSPID="$mspid" -e CORE_PEER_MSPCONFIGPATH="$msp" "$c" peer channel fetch \
          "$which" "$d/$node.block" -o "$addr" -c "$ch" --tls --cafile "$ca" \
          ${cert:+--clientauth --certfile "$cert" --keyfile "$key"} 2>&1)
  else
    out=$(docker exec -e CORE_PEER_LOCALMSPID="$mspid" -e CORE_PEER_MSPCONFIGPATH="$msp" "$c" peer channel fetch \
          "$which" "$d/$node.block" -o "$addr" -c "$ch" 2>&1)
  fi
  if [ $? -eq 0 ]; then echo "@@ok $node"; else
    echo "@@err $node $(printf '%s\n' "$out" | grep '^Error:' | tail -n 1 | tr -d '\r')"; fi
done
echo "@@tar"
docker cp "$c":"$d" - | base64
docker exec "$c" rm -rf "$d" >/dev/null 2>&1
exit 0
"""
_PUT = 'base64 -d | docker cp - "$1":"$2"'


class ToolsContainer:
    """The fleet's tools container on an open session of its host. Files live in a private work dir."""

    def __init__(self, session: BaseSession, container: str, env: dict[str, str] | None = None) -> None:
        self.session = session
        self.container = container
        self.env = env
        self.workdir = f"/tmp/opskit-{uuid.uuid4().hex[:10]}"
        self._made = False

    def _run(self, argv: list[str], *, timeout: float, stdin: str | None = None, check: bool = True) -> CommandResult:
        return self.session.run(argv, timeout=timeout, env=self.env, stdin=stdin, check=check)

    def peer(self, identity: Identity, *args: str, timeout: float = FETCH_TIMEOUT) -> CommandResult:
        """``peer ARGS`` as ``identity`` (never raises on exit code: callers read the CLI's Error line)."""
        argv = ["docker", "exec", *identity.env, "-w", self.workdir if self._made else "/", self.container,
                "peer", *args]
        return self._run(argv, timeout=timeout, check=False)

    # -- files
    def put(self, name: str, data: bytes) -> str:
        """Copy ``data`` into the work dir as ``name``; return its path in the container."""
        buf = io.BytesIO()
        base = self.workdir.rsplit("/", 1)[1]
        with tarfile.open(fileobj=buf, mode="w") as tar:
            if not self._made:
                d = tarfile.TarInfo(base)
                d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
                tar.addfile(d)
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        payload = base64.b64encode(buf.getvalue()).decode()
        res = self._run(script(_PUT, self.container, "/tmp/"), timeout=60, stdin=payload, check=False)
        if res.exit_code != 0:
            raise OnlineError(f"{self.session.name}: cannot copy {name} into {self.container}: {_last_error_line(res)}")
        self._made = True
        return f"{self.workdir}/{name}"

    def get(self, path: str) -> bytes:
        """The bytes of file ``path`` in the container."""
        res = self._run(script(_GET, self.container, path), timeout=60, check=False)
        data = base64.b64decode(res.stdout) if res.exit_code == 0 else b""
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next(m for m in tar.getmembers() if m.isfile())
                fh = tar.extractfile(member)
                assert fh is not None
                return fh.read()
        except (tarfile.TarError, StopIteration):
            raise OnlineError(f"{self.session.name}: cannot read {path} from {self.container}: "
                              f"{_last_error_line(res)}") from None

    def ensure_workdir(self) -> None:
        if not self._made:
            self.put(".opskit", b"")

    def cleanup(self) -> None:
        if self._made:
            self._run(["docker", "exec", self.container, "rm", "-rf", self.workdir], timeout=30, check=False)
            self._made = False

    # -- peer channel ...
    def fetch(self, channel: str, orderer: OrdererRef, identity: Identity, which: str = "config") -> bytes:
        """``peer channel fetch WHICH`` from ``orderer``; the block's bytes."""
        self.ensure_workdir()
        path = f"{self.workdir}/{channel}_{which}.block"
        res = self.peer(identity, "channel", "fetch", which, path, "-o", orderer.address, "-c", channel,
                        *orderer.tls_args, *(identity.client_args if orderer.tls_ca else []))
        if res.exit_code != 0:
            raise OnlineError(f"fetch {which} block of {channel} from {orderer.node} ({orderer.address}) as "
                              f"{identity.msp_id}: {_last_error_line(res)}")
        return self.get(path)

    def fetch_many(self, channel: str, orderers: list[OrdererRef], identity: Identity,
                   which: str = "config") -> dict[str, bytes | OnlineError]:
        """``peer channel fetch WHICH`` from every orderer in one SSH command: node -> block bytes or the error."""
        self.ensure_workdir()
        self._calls = getattr(self, "_calls", 0) + 1
        d = f"{self.workdir}/f{self._calls}"
        specs = [x for o in orderers for x in (o.node, o.address, o.tls_ca or "")]
        try:
            res = self._run(script(_FETCH_MANY, self.container, d, channel, which, identity.msp_id,
                                   identity.msp_path, (identity.tls_cert or "") if identity.client_args else "",
                                   (identity.tls_key or "") if identity.client_args else "", *specs),
                            timeout=FETCH_TIMEOUT * max(1, len(orderers)), check=False)
        except CommandTimeout:
            # an orderer that is still starting can hold a deliver call open: "not yet" for the caller's wait
            why = f"no answer within {FETCH_TIMEOUT * max(1, len(orderers)):g}s (orderer starting?)"
            return {o.node: OnlineError(f"fetch {which} block of {channel} from {o.node}: {why}") for o in orderers}
        head, _, b64 = res.stdout.partition("@@tar\n")
        files: dict[str, bytes] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(base64.b64decode(b64))) as tar:
                for m in tar.getmembers():
                    fh = tar.extractfile(m) if m.isfile() else None
                    if fh is not None:
                        files[m.name.rsplit("/", 1)[-1]] = fh.read()
        except tarfile.TarError:
            pass
        out: dict[str, bytes | OnlineError] = {}
        by_node = {o.node: o for o in orderers}
        for line in head.splitlines():
            kind, _, rest = line.partition(" ")
            node, _, why = rest.partition(" ")
            o = by_node.get(node)
            if o is None:
                continue
            if kind == "@@ok" and f"{node}.block" in files:
                out[node] = files[f"{node}.block"]
            else:
                out[node] = OnlineError(f"fetch {which} block of {channel} from {node} ({o.address}) as "
                                        f"{identity.msp_id}: {why or 'no block came back'}")
        for o in orderers:
            out.setdefault(o.node, OnlineError(f"fetch {which} block of {channel} from {o.node}: "
                                               f"{_last_error_line(res)}"))
        return out

    def sign(self, path: str, identity: Identity) -> None:
        res = self.peer(identity, "channel", "signconfigtx", "-f", path)
        if res.exit_code != 0:
            raise OnlineError(f"signconfigtx as {identity.msp_id} ({identity.msp_path}): {_last_error_line(res)}")

    def update(self, path: str, channel: str, orderer: OrdererRef, identity: Identity) -> None:
        res = self.peer(identity, "channel", "update", "-f", path, "-c", channel, "-o", orderer.address,
                        *orderer.tls_args, *(identity.client_args if orderer.tls_ca else []), timeout=UPDATE_TIMEOUT)
        if res.exit_code != 0:
            line = _last_error_line(res)
            status = ""
            if "unexpected status:" in line:
                status = line.split("unexpected status:", 1)[1].split("--", 1)[0].strip()
            raise UpdateRefused(f"{channel}: {orderer.node} refused the update: {line}", status)


# --------------------------------------------------------------------------------------------------- channel admin


@dataclass
class FetchedConfig:
    """A channel config as one orderer returned it."""

    orderer: str
    loaded: LoadedConfig

    @property
    def config(self) -> configtx_pb2.Config:
        return self.loaded.config

    @property
    def block_number(self) -> int | None:
        return self.loaded.block_number


@dataclass
class SubmittedUpdate:
    channel: str
    orderer: str
    signers: list[str]
    sequence: int          #: the config sequence the orderers show afterwards
    block: int | None      #: the config block that holds it (as fetched back)
    verified_on: list[str] = field(default_factory=list)


class ChannelAdmin:
    """Read and change channel configs of a fleet through its tools container (one SSH session).

    ``session_for(host_name)`` gives an open session of a host (an :class:`opskit.remote.Engine`'s
    ``session``); only the tools container's host is used.
    """

    def __init__(self, inv: Inventory, session_for: Callable[[str], BaseSession], *, cli: str | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.inv = inv
        self.node = tools_node(inv, cli)
        host = inv.hosts[self.node.host]
        env = {"DOCKER_HOST": host.docker_host} if host.docker_host else None
        self.tools = ToolsContainer(session_for(host.name), self.node.container_name, env)
        self.admins = orderer_admins(inv)
        self.progress = progress or (lambda _msg: None)

    def close(self) -> None:
        try:
            self.tools.cleanup()
        except OpskitError:
            pass

    # -- reads
    def orderers(self, channel: str) -> list[OrdererRef]:
        return channel_orderers(self.inv, channel)

    def fetch_config(self, channel: str, orderer: OrdererRef | None = None) -> FetchedConfig:
        """The current config of ``channel`` from ``orderer`` (default: the first orderer that answers)."""
        candidates = [orderer] if orderer else self.orderers(channel)
        errors = []
        for o in candidates:
            try:
                data = self.tools.fetch(channel, o, self.admins[0], "config")
            except OnlineError as exc:
                errors.append(str(exc))
                continue
            loaded = parse_config_bytes(data, f"{o.node}:{channel}")
            if loaded.channel_id and loaded.channel_id != channel:
                raise OnlineError(f"{o.node} returned a config block of channel {loaded.channel_id}, not {channel}")
            return FetchedConfig(o.node, loaded)
        raise OnlineError("; ".join(errors))

    def fetch_all(self, channel: str) -> dict[str, FetchedConfig | OnlineError]:
        """The config of ``channel`` as every one of its orderers shows it (an error per orderer that fails)."""
        return self._fetch_configs(channel, self.orderers(channel))

    def _fetch_configs(self, channel: str, orderers: list[OrdererRef]) -> dict[str, FetchedConfig | OnlineError]:
        out: dict[str, FetchedConfig | OnlineError] = {}
        for node, got in self.tools.fetch_many(channel, orderers, self.admins[0], "config").items():
            if isinstance(got, OnlineError):
                out[node] = got
                continue
            try:
                loaded = parse_config_bytes(got, f"{node}:{channel}")
            except OpskitError as exc:
                out[node] = OnlineError(f"{node} returned something that is not a config block: {exc}")
                continue
            if loaded.channel_id and loaded.channel_id != channel:
                out[node] = OnlineError(f"{node} returned a config block of channel {loaded.channel_id}, not {channel}")
                continue
            out[node] = FetchedConfig(node, loaded)
        return out

    def newest_block_numbers(self, channel: str) -> dict[str, int | OnlineError]:
        """The newest block number every orderer of ``channel`` has."""
        out: dict[str, int | OnlineError] = {}
        for node, got in self.tools.fetch_many(channel, self.orderers(channel), self.admins[0], "newest").items():
            if isinstance(got, OnlineError):
                out[node] = got
            else:
                blk = common_pb2.Block()
                blk.ParseFromString(got)
                out[node] = blk.header.number
        return out

    # -- changes
    def check_signers(self, channel: str, current: configtx_pb2.Config, envelope: bytes) -> list[str]:
        """Raise :class:`NotEnoughSigners` unless the signatures on ``envelope`` satisfy every mod_policy."""
        from opskit.orderer.rules import UpdateRejected, _as_config_update_envelope, authorize

        env = common_pb2.Envelope()
        env.ParseFromString(envelope)
        try:
            cue = _as_config_update_envelope(env, channel)
            _, _, signers = authorize(current, channel, cue)
        except UpdateRejected as exc:
            have = ", ".join(a.msp_id for a in self.admins)
            raise NotEnoughSigners(f"{channel}: the update would be refused ({exc}); signed by the inventory's "
                                   f"orderer org admins: {have}") from None
        return [s.mspid for s in signers]

    def submit(self, channel: str, current: configtx_pb2.Config, update: configtx_pb2.ConfigUpdate, *,
               expect: Callable[[configtx_pb2.Config], bool], timeout: float = 60.0, name: str = "update") -> SubmittedUpdate:
        """Sign ``update`` with every orderer-org admin, check, submit to the first orderer that takes it, and
        wait until every orderer of the channel shows a config for which ``expect(config)`` is true."""
        env = wrap_update(update, channel)
        path = self.tools.put(f"{channel}-{name}.pb", env.SerializeToString())
        for admin in self.admins:
            self.progress(f"{channel}: signconfigtx as {admin.msp_id}")
            self.tools.sign(path, admin)
        signers = self.check_signers(channel, current, self.tools.get(path))
        submitter = self.admins[-1]
        refused: list[str] = []
        used = None
        for o in self.orderers(channel):
            self.progress(f"{channel}: peer channel update -o {o.address}")
            try:
                self.tools.update(path, channel, o, submitter)
            except UpdateRefused as exc:
                if exc.status in ("BAD_REQUEST", "FORBIDDEN", "NOT_FOUND"):
                    raise  # another orderer would say the same
                refused.append(str(exc))
                continue
            except OnlineError as exc:
                refused.append(str(exc))
                continue
            used = o
            break
        if used is None:
            raise OnlineError(f"{channel}: no orderer took the update: " + "; ".join(refused))
        verified = self.wait_all(channel, expect, timeout=timeout)
        first = verified[used.node]
        return SubmittedUpdate(channel, used.node, signers, first.config.sequence, first.block_number,
                               sorted(verified))

    def wait_all(self, channel: str, expect: Callable[[configtx_pb2.Config], bool], *, timeout: float = 60.0,
                 orderers: Iterable[OrdererRef] | None = None) -> dict[str, FetchedConfig]:
        """Until every orderer of ``channel`` returns a config for which ``expect`` holds; raise with what each
        one shows at the deadline."""
        want = list(orderers or self.orderers(channel))
        good: dict[str, FetchedConfig] = {}
        last: dict[str, str] = {}

        def look() -> dict[str, FetchedConfig] | None:
            pending = [o for o in want if o.node not in good]
            for node, got in self._fetch_configs(channel, pending).items():
                if isinstance(got, OnlineError):
                    last[node] = str(got)
                    continue
                if expect(got.config):
                    good[node] = got
                else:
                    last[node] = f"{node} shows config sequence {got.config.sequence} (not yet the new one)"
            return good if len(good) == len(want) else None

        def late(_waited: float) -> OnlineError:
            missing = [last.get(o.node, o.node) for o in want if o.node not in good]
            return OnlineError(f"{channel}: not every orderer shows the change within {timeout:g}s: "
                               + "; ".join(missing))

        return Poller[dict[str, FetchedConfig]](timeout, 0.2, backoff=2.0, max_interval=2.0).run(look, late)


def summary_of(fetched: FetchedConfig, channel: str) -> dict[str, Any]:
    """The summary document ``orderer.config`` prints (same keys offline and online)."""
    from opskit.orderer.config import summary

    return {"channel": channel, "source": f"orderer {fetched.orderer}", "kind": fetched.loaded.kind,
            "block": fetched.block_number, **summary(fetched.config)}
