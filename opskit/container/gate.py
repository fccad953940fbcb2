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
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opskit.container.docker import DockerHost, HostTrouble
from opskit.errors import OpskitError
from opskit.health.chains import Height, lag_findings
from opskit.health.fabric_metrics import NodeOutputError, parse_healthz, parse_metrics
from opskit.health.facts import collect
from opskit.inventory.model import Inventory, Node, NodeKind, Thresholds


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


@dataclass
class Probe:
    """One look at a node's operations endpoint."""

    answered: bool = False
    healthy: bool = False
    heights: dict[str, int] = field(default_factory=dict)
    error: str = ""


def probe_nodes(dh: DockerHost, nodes: list[Node], timeout: float = 20.0) -> dict[str, Probe]:
    """Fetch /metrics and /healthz of ``nodes`` (all on ``dh``'s host) on that host."""
    eps = {n.name: n.operations for n in nodes if n.operations}
    if not eps:
        return {}
    with dh.lock:
        session = dh.session()
        session.deadline = time.monotonic() + timeout * dh.scale
        try:
            facts = collect(session, [], eps)
        except OpskitError as exc:
            dh._drop()
            raise HostTrouble(f"{dh.name}: {exc}") from None
        except Exception as exc:  # a transport dying mid-read
            dh._drop()
            raise HostTrouble(f"{dh.name} stopped answering: {type(exc).__name__}: {exc}") from None
        finally:
            session.deadline = None
    if not facts.complete:
        raise HostTrouble(f"{dh.name}: the endpoint check did not complete")
    out: dict[str, Probe] = {}
    for name in eps:
        p = Probe()
        ep = facts.endpoints.get((name, "metrics"))
        if ep is not None and ep.http_code == 200:
            try:
                p.heights = dict(parse_metrics(ep.body).heights)
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


def reference_heights(inv: Inventory, node: Node, hosts: Callable[[str], DockerHost]) -> list[Height]:
    """Heights of the other members of the node's channels (unreachable members simply do not count)."""
    by_host: dict[str, list[Node]] = {}
    for m in channel_members(inv, node):
        by_host.setdefault(m.host, []).append(m)
    out: list[Height] = []

    def one(item: tuple[str, list[Node]]) -> list[Height]:
        host, members = item
        try:
            probes = probe_nodes(hosts(host), members)
        except (HostTrouble, OpskitError):
            return []
        return [Height(name, ch, h, "operations", host) for name, p in probes.items() for ch, h in p.heights.items()]

    if by_host:
        with ThreadPoolExecutor(max_workers=min(16, len(by_host))) as pool:
            for got in pool.map(one, list(by_host.items())):
                out += got
    return out


def wait_healthy(inv: Inventory, node: Node, dh: DockerHost, hosts: Callable[[str], DockerHost],
                 baseline: dict[str, int], opts: GateOptions, *, expect_id: str | None = None,
                 on_wait: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Block until ``node`` passes the gate (returns what was seen) or raise :class:`GateFailed`."""
    started = time.monotonic()
    deadline = started + opts.timeout
    up_since: float | None = None
    last_reason = "not looked at yet"
    name = node.container_name
    first_restarts: int | None = None
    ref: list[Height] | None = None
    port = service_port(node)
    words = ZK_WORDS if node.kind is NodeKind.ZOOKEEPER else ()
    while True:
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
                    for f in lag_findings(mine + ref, th):
                        if f.node == node.name and f.data["lag"] > opts.max_lag:
                            ok = False
                            ref = None  # look at the others again next time: the best may have moved
                            last_reason = (f"channel {f.data['channel']}: {f.data['lag']} blocks behind the best "
                                           f"{f.data['best']} (max {opts.max_lag})")
                            break
                    seen["lag"] = {f.data["channel"]: f.data["lag"] for f in lag_findings(mine + ref, th)
                                   if f.node == node.name}
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
        if time.monotonic() > deadline:
            raise GateFailed(f"{node.name}: not healthy within {opts.timeout:g}s: {last_reason or 'settling'}")
        if on_wait and last_reason:
            on_wait(last_reason)
        time.sleep(opts.poll)  # polling interval of the gate's condition (it has a deadline)


def baseline_heights(dh: DockerHost, node: Node) -> dict[str, int]:
    """The node's heights now (before a change), or {} when it does not answer."""
    if not node.operations:
        return {}
    try:
        p = probe_nodes(dh, [node]).get(node.name)
    except HostTrouble:
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
