"""Channel participation: which channels each orderer holds, and joining or leaving one (``osnadmin``).

Fabric 2.3+ orderers run without a system channel: an orderer joins a channel with a config block
(``osnadmin channel join --config-block``) and leaves it with ``osnadmin channel remove``. The admin endpoint
(``admin_port``) requires mutual TLS: opskit calls it from the fleet's tools (cli) container with the orderer's
TLS CA (``tls_ca_file``) and the orderer org admin's TLS client pair (``admin_tls_cert``/``admin_tls_key``), all
paths inside that container, over one SSH session to the container's host.

Reading every orderer's channels costs one command: ``osnadmin channel list`` per orderer, then
``osnadmin channel list --channelID CH`` for each channel it lists (status, consensus relation, height).
``osnadmin`` exits 0 whatever the HTTP status; the ``Status: NNN`` line and the JSON body tell what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opskit.change.progress import ProgressFn, silent
from opskit.change import Change, Plan
from opskit.wait import Poller
from opskit.errors import OpskitError
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.remote.session import BaseSession

from opskit.health.participation import (  # noqa: F401  (the reading half, re-exported)
    ParticipationError,
    QuorumRefused,
    OSNADMIN_TIMEOUT,
    AdminEndpoint,
    admin_endpoint,
    require_admin,
    tools_node,
    ChannelInfo,
    OrdererChannels,
    osnadmin_answer,
    parse_channel_list,
    parse_channel_info,
    osnadmin_error,
    parse_listing,
    read_participation,
    _LIST,
)


class Participation:
    """Channel participation of a fleet's orderers through its tools container (one SSH session).

    ``session_for(host)`` gives an open session (an :class:`opskit.remote.Engine`'s ``session``).
    """

    def __init__(self, inv: Inventory, session_for: Callable[[str], BaseSession], *, cli: str | None = None) -> None:
        from opskit.orderer.online import ToolsContainer

        self.inv = inv
        self.session_for = session_for
        self.node = tools_node(inv, cli)
        host = inv.hosts[self.node.host]
        self.env = {"DOCKER_HOST": host.docker_host} if host.docker_host else None
        self.session = session_for(host.name)
        self.tools = ToolsContainer(self.session, self.node.container_name, self.env)
        self._admin: Any = None
        self.cli = cli

    def close(self) -> None:
        try:
            self.tools.cleanup()
        except OpskitError:
            pass
        if self._admin is not None:
            self._admin.close()

    @property
    def channel_admin(self) -> Any:
        """An :class:`opskit.orderer.online.ChannelAdmin` on the same session (fetches as an orderer admin)."""
        if self._admin is None:
            from opskit.orderer.online import ChannelAdmin

            self._admin = ChannelAdmin(self.inv, self.session_for, cli=self.cli)
            self._admin.tools = self.tools
        return self._admin

    def _run(self, argv: list[str], timeout: float) -> Any:
        return self.session.run(argv, timeout=timeout, env=self.env, check=False)

    def read(self, endpoints: list[AdminEndpoint], channel: str | None = None) -> dict[str, OrdererChannels]:
        """Every endpoint's channels (only ``channel`` if given), in one command."""
        return read_participation(self.session, self.node.container_name, endpoints, channel, self.env)

    def _osnadmin(self, ep: AdminEndpoint, *args: str) -> tuple[int | None, str]:
        res = self._run(["docker", "exec", self.node.container_name, "osnadmin", *args, *ep.args],
                        timeout=OSNADMIN_TIMEOUT)
        text = res.stdout + "\n" + res.stderr
        if res.exit_code != 0:
            raise ParticipationError(f"osnadmin {' '.join(args[:2])} on {ep.node}: {osnadmin_error(text)}")
        return osnadmin_answer(text)[0], text

    def join(self, ep: AdminEndpoint, channel: str, block: bytes) -> ChannelInfo | None:
        """``osnadmin channel join`` with ``block`` (copied into the tools container); the channel as created."""
        path = self.tools.put(f"join-{channel}.block", block)
        status, text = self._osnadmin(ep, "channel", "join", "--channelID", channel, "--config-block", path)
        if status != 201:
            raise ParticipationError(f"{ep.node}: osnadmin channel join {channel}: {osnadmin_error(text)}")
        return parse_channel_info(ep.node, text.replace(f"Status: {status}", "Status: 200", 1))

    def remove(self, ep: AdminEndpoint, channel: str) -> None:
        status, text = self._osnadmin(ep, "channel", "remove", "--channelID", channel)
        if status not in (200, 204):
            raise ParticipationError(f"{ep.node}: osnadmin channel remove {channel}: {osnadmin_error(text)}")

    def fetch_config_block(self, channel: str, sources: list[str]) -> tuple[str, bytes]:
        """The latest config block of ``channel`` from the first of ``sources`` (orderer names) that answers
        (``peer channel fetch config`` as an orderer org admin)."""
        from opskit.orderer.online import OnlineError, channel_orderers

        admin = self.channel_admin
        refs = [r for r in channel_orderers(self.inv, channel) if r.node in sources]
        errors = []
        for ref in refs:
            try:
                return ref.node, self.tools.fetch(channel, ref, admin.admins[0], "config")
            except OnlineError as exc:
                errors.append(str(exc))
        raise ParticipationError(f"{channel}: no orderer gave its config block: " + ("; ".join(errors) or
                                                                                     "no orderer holds the channel"))

    def consenters(self, channel: str, sources: list[str]) -> list[str]:
        """The consenters (``host:port``) of ``channel``'s config, fetched from one of ``sources``."""
        from opskit.orderer.config import parse_config_bytes, summary

        node, data = self.fetch_config_block(channel, sources)
        loaded = parse_config_bytes(data, f"{node}:{channel}")
        return list(summary(loaded.config)["consensus"].get("consenters") or [])


# --------------------------------------------------------------------------------------------------- plans


def quorum(size: int) -> int:
    """Raft quorum of a consenter set of ``size``: a majority."""
    return size // 2 + 1


def consenter_endpoint(inv: Inventory, node: Node) -> str:
    return f"{node.hostname or node.container_name}:{node.listen_port or 7050}"


@dataclass
class LeaveCheck:
    """The quorum arithmetic of leaving ``channel`` on ``orderer``."""

    channel: str
    orderer: str
    consenters: list[str]             #: host:port of every consenter in the channel config
    active_after: list[str]           #: inventory orderers still active consenters after the leave
    size: int
    needed: int

    @property
    def ok(self) -> bool:
        return len(self.active_after) >= self.needed

    def describe(self) -> str:
        return (f"{len(self.active_after)} of {self.size} consenters of {self.channel} would stay active "
                f"({', '.join(self.active_after) or 'none'}); quorum is {self.needed}")


def leave_check(inv: Inventory, channel: str, orderer: str, listing: dict[str, OrdererChannels],
                consenters: list[str]) -> LeaveCheck:
    """Whether ``orderer`` may leave ``channel``: the active consenters left must still be a quorum of the channel
    config's consenter set. An orderer counts as active when its participation API lists the channel as
    ``active`` with relation ``consenter`` (an orderer that could not be read does not count)."""
    by_endpoint = {consenter_endpoint(inv, n): n.name for n in inv.nodes.values() if n.kind is NodeKind.ORDERER}
    size = len(consenters)
    active = []
    for ep in consenters:
        name = by_endpoint.get(ep)
        if name is None or name == orderer:
            continue
        oc = listing.get(name)
        info = oc.channels.get(channel) if oc is not None else None
        if info is not None and info.status == "active" and info.consensus_relation == "consenter":
            active.append(name)
    return LeaveCheck(channel, orderer, consenters, active, size, quorum(size) if size else 0)


def inventory_consenters(inv: Inventory, channel: str, listing: dict[str, OrdererChannels]) -> list[str]:
    """The consenter set when the channel config cannot be fetched (no orderer admin MSP in the inventory): every
    inventory orderer of the channel, except those that list it as a follower. Conservative: an orderer that left
    the channel still counts as a consenter (the config still names it) but not as an active one."""
    from opskit.orderer.online import channel_orderers

    out = []
    for ref in channel_orderers(inv, channel):
        oc = listing.get(ref.node)
        info = oc.channels.get(channel) if oc is not None else None
        if info is None or info.consensus_relation == "consenter":
            out.append(consenter_endpoint(inv, inv.nodes[ref.node]))
    return out


def read_block_file(path: str, channel: str) -> bytes:
    """A local config block for ``osnadmin channel join``, checked to be a block of ``channel`` (exit 3 if not)."""
    from opskit.orderer.config import parse_config_bytes

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise OpskitError(f"--block {path}: {exc.strerror or exc}") from None
    loaded = parse_config_bytes(data, path)
    if loaded.kind != "block":
        raise OpskitError(f"--block {path} is a {loaded.kind}, not a config block (osnadmin channel join needs a block)")
    if loaded.channel_id and loaded.channel_id != channel:
        raise OpskitError(f"--block {path} is a block of channel {loaded.channel_id!r}, not {channel!r}")
    return data


def wait_caught_up(part: Participation, target: AdminEndpoint, others: list[AdminEndpoint], channel: str,
                   timeout: float, progress: ProgressFn = silent) -> tuple[ChannelInfo, int, float]:
    """Poll the participation API until ``target``'s height on ``channel`` reaches the highest of ``others``
    and its status is active; returns (its info, the others' height, seconds waited)."""
    t0 = time.monotonic()
    last = "not read yet"

    def look() -> tuple[ChannelInfo, int, float] | None:
        nonlocal last
        listing = part.read([target, *others], channel)
        mine = listing[target.node].channels.get(channel)
        heights = [oc.channels[channel].height for oc in listing.values()
                   if oc.node != target.node and channel in oc.channels]
        best = max(heights) if heights else 0
        if mine is None:
            last = listing[target.node].error or f"{target.node} does not list {channel}"
            return None
        last = f"{target.node} at height {mine.height} ({mine.status}), others at {best}"
        if mine.status == "active" and mine.height >= best:
            return mine, best, time.monotonic() - t0
        progress(last)
        return None

    return Poller[tuple[ChannelInfo, int, float]](timeout, 0.2, backoff=2.0, max_interval=2.0).run(
        look, lambda _w: ParticipationError(f"{channel}: {target.node} has not caught up within {timeout:g}s: {last}"))


# ------------------------------------------------------------------------------ join / leave on the change contract

def participation_target(inv: Inventory, channel: str, orderer: str) -> tuple[AdminEndpoint, list[AdminEndpoint]]:
    """(``orderer``'s admin endpoint, those of the channel's other orderers that have one); checked against the
    inventory before any host is contacted (an unknown channel or an orderer without an admin port is exit 3)."""
    from opskit.errors import SelectorError
    from opskit.orderer.online import channel_orderers

    if channel not in inv.channels:
        raise SelectorError(f"unknown channel {channel!r} (channels: {', '.join(sorted(inv.channels)) or 'none'})")
    ep = require_admin(inv, orderer)
    others = [admin_endpoint(inv, inv.nodes[r.node]) for r in channel_orderers(inv, channel) if r.node != orderer]
    return ep, [o for o in others if o is not None]


@dataclass
class _Membership:
    """What a join/leave plan read: the endpoints, and for a join the config block it will join with."""

    target: AdminEndpoint
    others: list[AdminEndpoint]
    block: bytes | None = None


class _MembershipChange:
    """The reads both directions share: the target's listing and the channel's other orderers'."""

    operation = "participation"

    def __init__(self, part: Participation, channel: str, orderer: str, *,
                 progress: ProgressFn = silent) -> None:
        self.part = part
        self.inv = part.inv
        self.channel = channel
        self.orderer = orderer
        self.progress = progress
        self.target, self.others = participation_target(self.inv, channel, orderer)

    def _listing(self) -> dict[str, OrdererChannels]:
        listing = self.part.read([self.target, *self.others], self.channel)
        if listing[self.target.node].error:
            raise ParticipationError(f"{self.orderer}: {listing[self.target.node].error}")
        return listing


class ChannelJoin(_MembershipChange):
    """``orderer.join``: the orderer joins ``channel`` with ``block`` (bytes of a checked block file) or, by
    default, with the latest config block fetched from another orderer of the channel; applied means joined and
    caught up with the others' height within ``timeout``."""

    def __init__(self, part: Participation, channel: str, orderer: str, *, block: bytes | None = None,
                 block_source: str | None = None, timeout: float = 120.0,
                 progress: ProgressFn = silent) -> None:
        super().__init__(part, channel, orderer, progress=progress)
        self.block = block
        self.block_source = block_source
        self.timeout = timeout

    def plan(self) -> Plan:
        from opskit.orderer.config import parse_config_bytes

        listing = self._listing()
        plan = Plan(self.operation)
        have = listing[self.target.node].channels.get(self.channel)
        if have is not None:
            plan.notes.append(f"{self.channel}: {self.orderer} has already joined ({have.status}, "
                              f"{have.consensus_relation}, height {have.height}): nothing to do")
            return plan
        holders = [o.node for o in self.others if self.channel in listing[o.node].channels]
        best = max((listing[h].channels[self.channel].height for h in holders), default=0)
        if self.block is not None:
            data, source = self.block, self.block_source or "the given block"
        elif not holders:
            raise OpskitError(f"{self.channel}: no other orderer holds the channel to fetch its config block from; "
                              "give --block FILE")
        else:
            self.progress(f"fetching the latest config block of {self.channel} from {holders[0]}")
            src_node, data = self.part.fetch_config_block(self.channel, holders)
            source = f"the latest config block fetched from {src_node}"
        number = parse_config_bytes(data, source).block_number
        plan.state = _Membership(self.target, self.others, data)
        plan.changes.append(Change(
            "join", f"{self.channel}: join {self.orderer} with {source} (block {number}); the others are at height "
                    f"{best}",
            before=f"{self.channel}: not joined", after=f"{self.channel}: joined with block {number} (the others at "
                                                         f"height {best})",
            host=self.target.host, node=self.orderer,
            data={"channel": self.channel, "block": number, "others_height": best}))
        return plan

    def apply(self, plan: Plan) -> None:
        state: _Membership = plan.state
        change = plan.changes[0]
        self.progress(change.describe())
        assert state.block is not None
        self.part.join(self.target, self.channel, state.block)
        info, others_height, secs = wait_caught_up(self.part, self.target, self.others, self.channel, self.timeout,
                                                   progress=self.progress)
        change.data.update(info.to_dict(), others_height=others_height, seconds=round(secs, 2))
        plan.notes.append(f"{self.channel}: {self.orderer} joined (block {change.data['block']}); height "
                          f"{info.height} ({info.status}, {info.consensus_relation}) reached the others' "
                          f"{others_height} in {secs:.1f}s")

    def verify(self, plan: Plan) -> None:
        """Nothing more to read: :meth:`apply` returns only once the orderer is active at the others' height."""


class ChannelLeave(_MembershipChange):
    """``orderer.leave``: remove ``channel`` from the orderer, refused (before anything changes) when a consenter
    leaving would put the channel's active consenters below quorum."""

    def plan(self) -> Plan:
        from opskit.errors import InventoryError

        listing = self._listing()
        plan = Plan(self.operation)
        have = listing[self.target.node].channels.get(self.channel)
        if have is None:
            plan.notes.append(f"{self.channel}: {self.orderer} does not hold the channel: nothing to do")
            return plan
        holders = [self.target.node] + [o.node for o in self.others if self.channel in listing[o.node].channels]
        try:
            consenters, source = self.part.consenters(self.channel, holders), "channel config"
        except InventoryError:   # no orderer admin MSP to fetch the config with
            consenters, source = inventory_consenters(self.inv, self.channel, listing), "inventory"
        lc = leave_check(self.inv, self.channel, self.orderer, listing, consenters)
        if have.consensus_relation == "consenter" and not lc.ok:
            raise QuorumRefused(f"{self.channel}: refusing to remove it from {self.orderer}: {lc.describe()}; "
                                "nothing changed")
        plan.state = _Membership(self.target, self.others)
        plan.changes.append(Change(
            "leave", f"{self.channel}: remove from {self.orderer} ({have.status}, {have.consensus_relation}, height "
                     f"{have.height}); {lc.describe()}",
            before=f"{self.channel}: {have.status}, {have.consensus_relation}, height {have.height}",
            after=f"{self.channel}: not held", host=self.target.host, node=self.orderer,
            data={**have.to_dict(), "consenters": lc.consenters, "consenters_from": source,
                  "active_after": lc.active_after, "quorum": lc.needed}))
        return plan

    def apply(self, plan: Plan) -> None:
        self.progress(plan.changes[0].describe())
        self.part.remove(self.target, self.channel)

    def verify(self, plan: Plan) -> None:
        """The orderer's own listing must no longer hold the channel (osnadmin exits 0 whatever happened)."""
        after = self.part.read([self.target], self.channel)[self.target.node]
        if after.error or self.channel in after.channels:
            raise ParticipationError(f"{self.channel}: {self.orderer} still lists the channel after osnadmin channel "
                                     f"remove: {after.error or after.channels[self.channel]}")
