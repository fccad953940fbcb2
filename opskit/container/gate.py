"""The health gate after a container change: running, healthy, and its ledger back within N blocks.

A recreated node passes when, before the deadline:
* its container runs, has not restarted, and its Docker healthcheck (if any) says healthy;
* it has been up for ``settle`` seconds (a container whose entrypoint exits at once fails fast, not at the
  deadline: an exited container fails the gate at the first look);
* for nodes with an operations endpoint: ``/healthz`` answers 200 and ``/metrics`` parses, every channel's
  height is at least what the node had before the change (it did not come back empty) and within
  ``max_lag`` blocks of the channel's best over the other members (``chains.lag_findings``);
* Kafka and ZooKeeper: the service port (``listen_port``, else 9092/2181 or the node's first port) accepts TCP
  connections on the node's host (checked on that host, over the run's SSH session); ZooKeeper is also asked
  ``srvr`` (and ``ruok`` when ``srvr`` is not allowed): "not currently serving requests" (no quorum yet) keeps
  the gate waiting, ``Mode: ...`` or ``imok`` is recorded, no answer (four-letter words disabled) is skipped.
Heights are fetched on the node hosts themselves (``facts.collect``), as fleet.health does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opskit.container.docker import DockerHost, lost
from opskit.errors import HostUnreachable, OpskitError
from opskit.health.chains import Height, lag_findings
from opskit.health.fabric_metrics import NodeOutputError, parse_healthz, parse_metrics
from opskit.health.facts import EndpointSpec, collect, endpoint_of
from opskit.inventory.model import Inventory, Node, NodeKind, Thresholds
from opskit.remote.engine import map_hosts
from opskit.wait import Poller


class GateFailed(OpskitError):
    """The new container did not become healthy (or fell over) before the gate's deadline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass
class GateOptions:
    timeout: float = 120.0        #: deadline for the node to be healthy and caught up
    max_lag: int = 2              #: blocks behind the channel's best that still pass
    settle: float = 2.0           #: seconds the container must stay up (restart loops, crashing entrypoints)
    poll: float = 0.5
    #: a Raft orderer passes only once each of its channels has a leader; off where a caller waits for that
    #: itself (the Kafka-to-Raft migration restarts orderers one by one: no leader before a quorum runs Raft)
    wait_for_leader: bool = True


@dataclass
class Probe:
    """One look at a node's operations endpoint."""

    answered: bool = False
    healthy: bool = False
    heights: dict[str, int] = field(default_factory=dict)
    error: str = ""
    raft_channels: set[str] = field(default_factory=set)   #: channels with Raft gauges (etcdraft orderers)
    leader_of: set[str] = field(default_factory=set)       #: channels this orderer leads


def probe_nodes(dh: DockerHost, nodes: list[Node], timeout: float = 20.0) -> dict[str, Probe]:
    """Fetch /metrics and /healthz of ``nodes`` (all on ``dh``'s host) on that host."""
    eps: dict[str, EndpointSpec | str] = {n.name: endpoint_of(n) for n in nodes if n.operations}
    if not eps:
        return {}
    with dh.lock:
        session = dh.session()
        session.deadline = time.monotonic() + timeout * dh.scale
        try:
            facts = collect(session, [], eps)
        except OpskitError as exc:
            dh._drop()
            raise lost(f"{dh.name}: {exc}") from None
        except Exception as exc:  # a transport dying mid-read
            dh._drop()
            raise lost(f"{dh.name} stopped answering: {type(exc).__name__}: {exc}") from None
        finally:
            session.deadline = None
    if not facts.complete:
        raise lost(f"{dh.name}: the endpoint check did not complete")
    out: dict[str, Probe] = {}
    for name in eps:
        p = Probe()
        ep = facts.endpoints.get((name, "metrics"))
        if ep is not None and ep.http_code == 200:
            try:
                m = parse_metrics(ep.body)
                p.heights = dict(m.heights)
                p.raft_channels = set(m.is_leader)
                p.leader_of = {ch for ch, lead in m.is_leader.items() if lead}
                p.answered = True
            except NodeOutputError as exc:
                p.error = str(exc)
        else:
            p.error = f"/metrics: {'HTTP ' + str(ep.http_code) if ep and ep.http_code else 'no answer'}"
        hz = facts.endpoints.get((name, "healthz"))
        if hz is not None and hz.http_code:
            try:
                h = parse_healthz(hz.http_code, hz.body)
                p.healthy = h.ok
                if not h.ok:
                    p.error = "healthz: " + ("; ".join(f"{c}: {r}" for c, r in h.failed_checks) or h.status)
            except NodeOutputError as exc:
                p.error = str(exc)
        out[name] = p
    return out


#: the client port of kinds that have no operations endpoint, when the inventory names none
SERVICE_PORTS = {NodeKind.KAFKA: 9092, NodeKind.ZOOKEEPER: 2181}
#: ZooKeeper four-letter words asked once the port is open (ruok only when srvr is answered but refused)
ZK_WORDS = ("srvr", "ruok")


def service_port(node: Node) -> int | None:
    """The port a Kafka broker or ZooKeeper node serves clients on (None for other kinds)."""
    default = SERVICE_PORTS.get(node.kind)
    if default is None:
        return None
    if node.listen_port:
        return node.listen_port
    if not node.ports or default in node.ports:
        return default
    return node.ports[0]


@dataclass
class ServiceProbe:
    """One look at a service port on the node's host."""

    checked: bool = True       #: False: the host has no bash (or timeout) to look with
    open_at: str = ""          #: the address that accepted the connection ("" = none did)
    tried: list[str] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)  #: four-letter word -> answer ("" = none)


def probe_service(dh: DockerHost, node: Node, port: int, words: tuple[str, ...] = (),
                  timeout: float = 15.0) -> ServiceProbe:
    """Does ``port`` accept TCP connections on the node's host (loopback, then the host's address)?

    ``words`` are sent one at a time once the port is open (ZooKeeper's four-letter words); the next word is
    only tried when the previous one got a non-empty answer without ``Mode:`` (e.g. "not in the whitelist")."""
    addresses = ["127.0.0.1"] + ([dh.host.address] if dh.host.address not in ("127.0.0.1", "localhost") else [])
    res = dh.sh(_PORT_PROBE, str(port), " ".join(words), *addresses, timeout=timeout, check=False)
    probe = ServiceProbe(tried=addresses)
    for line in res.stdout.splitlines():
        if line == "@@nobash":
            probe.checked = False
        elif line.startswith("@@open "):
            probe.open_at = line[7:].strip()
        elif line.startswith("@@reply "):
            word, _, text = line[8:].partition(" ")
            probe.replies[word] = text.replace("|", "\n").strip()
    return probe


def _service_verdict(node: Node, port: int, probe: ServiceProbe) -> tuple[bool, str, dict[str, Any]]:
    """(ready, why not, what to record) for one :class:`ServiceProbe`."""
    seen: dict[str, Any] = {"port": port}
    if not probe.checked:
        seen["note"] = "not checked: no bash or timeout(1) on the host"
        return True, "", seen
    if not probe.open_at:
        return False, (f"port {port} is not accepting connections on {node.host} (tried "
                       f"{', '.join(probe.tried)})"), seen
    seen["address"] = probe.open_at
    for word, reply in probe.replies.items():
        if reply:
            seen[word] = reply[:300]
        if "not currently serving requests" in reply:
            return False, f"port {port} is open but ZooKeeper says: {reply[:200]}", seen
    if node.kind is NodeKind.ZOOKEEPER and not any(probe.replies.values()):
        seen["note"] = "four-letter words not answered (disabled?): port checked only"
    return True, "", seen


def channel_members(inv: Inventory, node: Node) -> list[Node]:
    """Other nodes with an operations endpoint that share a channel with ``node``."""
    chans = set(inv.channels_of(node))
    return [n for n in inv.nodes.values()
            if n.name != node.name and n.operations and chans & set(inv.channels_of(n))]


def reference_probes(inv: Inventory, node: Node, hosts: Callable[[str], DockerHost],
                     kinds: tuple[NodeKind, ...] | None = None) -> dict[str, tuple[str, Probe]]:
    """Probes of the other members of the node's channels (of ``kinds``): name -> (host, probe). Unreachable
    members simply do not count."""
    by_host: dict[str, list[Node]] = {}
    for m in channel_members(inv, node):
        if kinds is None or m.kind in kinds:
            by_host.setdefault(m.host, []).append(m)
    out: dict[str, tuple[str, Probe]] = {}

    def one(item: tuple[str, list[Node]]) -> dict[str, tuple[str, Probe]]:
        host, members = item
        try:
            return {name: (host, p) for name, p in probe_nodes(hosts(host), members).items()}
        except OpskitError:  # HostUnreachable included
            return {}

    for got in map_hosts(inv, list(by_host.items()), one):
        out.update(got)
    return out


def reference_heights(inv: Inventory, node: Node, hosts: Callable[[str], DockerHost]) -> list[Height]:
    """Heights of the other members of the node's channels (unreachable members simply do not count)."""
    return [Height(name, ch, h, "operations", host)
            for name, (host, p) in reference_probes(inv, node, hosts).items() for ch, h in p.heights.items()]


def leaderless_channels(inv: Inventory, node: Node, mine: Probe, hosts: Callable[[str], DockerHost]) -> list[str]:
    """Raft channels of ``node`` that no orderer (this one or another member) leads right now.

    A recreated orderer can be healthy and caught up while its channel is still electing (it was the leader, or
    its return started an election): the next node of a rollout must not go down before the channel has a
    leader again, or two restarts in a row can cost the quorum.
    """
    if not mine.raft_channels:
        return []
    others = reference_probes(inv, node, hosts, (NodeKind.ORDERER,))
    led = set(mine.leader_of).union(*(p.leader_of for _, p in others.values()))
    return sorted(mine.raft_channels - led)


def wait_healthy(inv: Inventory, node: Node, dh: DockerHost, hosts: Callable[[str], DockerHost],
                 baseline: dict[str, int], opts: GateOptions, *, expect_id: str | None = None,
                 on_wait: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Block until ``node`` passes the gate (returns what was seen) or raise :class:`GateFailed`."""
    started = time.monotonic()
    up_since: float | None = None
    last_reason = "not looked at yet"
    name = node.container_name
    first_restarts: int | None = None
    ref: list[Height] | None = None
    port = service_port(node)
    words = ZK_WORDS if node.kind is NodeKind.ZOOKEEPER else ()

    def look() -> dict[str, Any] | None:
        """One look at the node: what was seen once it passes, None for "not yet", GateFailed when it cannot."""
        nonlocal up_since, last_reason, first_restarts, ref, words
        raw = dh.inspect_raw(name)
        if raw is None:
            raise GateFailed(f"{node.name}: container {name} disappeared on {node.host}")
        state = raw.get("State") or {}
        status = state.get("Status", "")
        restarts = int(raw.get("RestartCount") or 0)
        if first_restarts is None:
            first_restarts = restarts
        if expect_id and raw.get("Id") != expect_id:
            raise GateFailed(f"{node.name}: container {name} was replaced by someone else during the gate")
        if status in ("exited", "dead") or (status == "created" and time.monotonic() - started > 5):
            raise GateFailed(f"{node.name}: new container {status} (exit code {state.get('ExitCode')}"
                             f"{', ' + state['Error'] if state.get('Error') else ''}); last log lines: "
                             f"{dh.logs_tail(name) or '(none)'}")
        if status == "restarting" or restarts > first_restarts:
            raise GateFailed(f"{node.name}: new container is restarting ({restarts} restarts); last log lines: "
                             f"{dh.logs_tail(name) or '(none)'}")
        health = (state.get("Health") or {}).get("Status", "")
        if health == "unhealthy":
            raise GateFailed(f"{node.name}: Docker healthcheck says unhealthy")
        ok = status == "running" and health in ("", "healthy")
        if not ok:
            last_reason = f"container {status}{', health ' + health if health else ''}"
            up_since = None
        else:
            up_since = up_since or time.monotonic()
            last_reason = ""
        seen: dict[str, Any] = {"status": status, "health": health}
        if ok and node.operations:
            probe = probe_nodes(dh, [node]).get(node.name, Probe(error="not probed"))
            seen["heights"] = probe.heights
            if not (probe.answered and probe.healthy):
                ok, last_reason = False, probe.error or "operations endpoint not answering yet"
            else:
                for ch, before in baseline.items():
                    now = probe.heights.get(ch)
                    if now is None or now < before:
                        ok = False
                        last_reason = (f"channel {ch}: height {now} is below the {before} it had before the change "
                                       "(came back without its ledger?)")
                        break
                if ok and probe.heights:
                    mine = [Height(node.name, ch, h, "operations", node.host) for ch, h in probe.heights.items()]
                    if ref is None:
                        ref = reference_heights(inv, node, hosts)
                    th = Thresholds(lag_warning_blocks=0, lag_critical_blocks=max(1, opts.max_lag + 1))
                    lags = [f for f in lag_findings(mine + ref, th) if f.node == node.name]
                    seen["lag"] = {f.data["channel"]: f.data["lag"] for f in lags}
                    for f in lags:
                        if f.data["lag"] > opts.max_lag:
                            ok = False
                            ref = None  # look at the others again next time: the best may have moved
                            last_reason = (f"channel {f.data['channel']}: {f.data['lag']} blocks behind the best "
                                           f"{f.data['best']} (max {opts.max_lag})")
                            break
                if ok and node.kind is NodeKind.ORDERER and opts.wait_for_leader:
                    waiting = leaderless_channels(inv, node, probe, hosts)
                    if waiting:
                        ok, last_reason = False, f"no Raft leader yet on {', '.join(waiting)}"
        if ok and port is not None:
            svc = probe_service(dh, node, port, words)
            if svc.open_at and words and not any(svc.replies.values()):
                words = ()  # no four-letter words on this node: do not ask again at every look
            ok, why, seen["service"] = _service_verdict(node, port, svc)
            if not ok:
                last_reason = why
        if ok and up_since is not None and time.monotonic() - up_since >= opts.settle:
            seen["seconds"] = round(time.monotonic() - started, 2)
            return seen
        if on_wait and last_reason:
            on_wait(last_reason)
        return None

    return Poller(opts.timeout, opts.poll).run(look, lambda _w: GateFailed(
        f"{node.name}: not healthy within {opts.timeout:g}s: {last_reason or 'settling'}"))


def as_served(dh: DockerHost, node: Node) -> Node:
    """``node`` with its operations endpoint as the running container serves it now.

    The inventory's URL when that answers; else, when the other scheme answers (http <-> https), a copy of the
    node with that URL. A change that turns operations TLS on is usually made with the inventory already saying
    https: the old container still serves HTTP, and a rollback must judge it the way it served before the change.
    """
    if not node.operations:
        return node
    p = probe_nodes(dh, [node]).get(node.name)
    if p is not None and p.answered:
        return node
    scheme, sep, rest = node.operations.partition("://")
    if not sep or scheme not in ("http", "https"):
        return node
    alt = node.model_copy(update={"operations": f"{'http' if scheme == 'https' else 'https'}://{rest}"})
    q = probe_nodes(dh, [alt]).get(node.name)
    return alt if q is not None and q.answered else node


def baseline_heights(dh: DockerHost, node: Node) -> dict[str, int]:
    """The node's heights now (before a change), or {} when it does not answer."""
    if not node.operations:
        return {}
    try:
        p = probe_nodes(dh, [node]).get(node.name)
    except HostUnreachable:
        raise
    return dict(p.heights) if p and p.answered else {}


#: is PORT accepting TCP connections at one of the addresses ("$3".. )? Then, optionally, four-letter words ("$2",
#: space-separated) one at a time: the answer to each, newlines as '|'. bash's /dev/tcp, bounded by timeout(1).
_PORT_PROBE = r"""
port="$1"; words="$2"; shift 2
{ command -v bash && command -v timeout; } >/dev/null 2>&1 || { echo "@@nobash"; exit 0; }
for a in "$@"; do
  if timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$a" "$port" 2>/dev/null; then
    echo "@@open $a"
    for w in $words; do
      reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "%s" "$2" >&3; timeout 1 cat <&3' \
              "$a" "$port" "$w" 2>/dev/null | head -c 2000 | tr -d '\000' | tr '\n' '|')
      echo "@@reply $w $reply"
      case "$reply" in ""|*Mode:*|imok*) break ;; esac
    done
    exit 0
  fi
done
echo "@@closed"
"""
