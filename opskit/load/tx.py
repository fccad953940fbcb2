"""``load.tx``: keep a long-term test fleet loaded with chaincode transactions, and check that they land.

Every transaction runs through the fleet's tools (cli) container on its host, over the remote engine:

1. ``docker exec CLI peer chaincode invoke -o ORDERER:PORT -C CH -n CC -c '{"Args":[...]}'`` where ORDERER is
   the next orderer of the channel in round-robin order (the order continues across runs: a cron job that
   sends one transaction a minute still spreads them over every orderer);
2. ``docker exec CLI peer chaincode query -C CH -n CC -c '{"Args":[...]}'`` until the value differs from the
   value before the invoke, or ``confirm_timeout`` passes.

Each transaction ends as exactly one of: ``ok`` (invoked, value changed), ``failed`` (the invoke failed),
``unchanged`` (the invoke said success but the query still shows the old value) or ``query_failed``.
Counts are kept per orderer. A daily budget caps the number of transactions per UTC day so that the ledger
growth stays inside the forecast's allowance (see :func:`budget_tx_per_day`). See docs/load.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from opskit.errors import OpskitError
from opskit.inventory.model import Chaincode, Host, Inventory, NodeKind
from opskit.output.report import Finding, Report, Severity
from opskit.probe.plan import listen_port

#: usual listen (gRPC) port per kind, used to tell it from the operations port in ``Node.ports``
DEFAULT_LISTEN_PORT = {NodeKind.ORDERER: 7050, NodeKind.PEER: 7051}
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
INVOKE_OK_RE = re.compile(r"Chaincode invoke successful\. result: status:200\b")
#: docker itself failed (not the peer command): no point in trying the next transaction
DOCKER_ERROR_RE = re.compile(r"Error response from daemon|Cannot connect to the Docker daemon|No such container|"
                             r"is not running|docker: command not found|executable file not found")
#: transactions kept in the report (the newest ones)
SAMPLE_LIMIT = 50


class LoadError(OpskitError):
    """The load cannot run: no chaincode, no orderers, no cli container, bad rate/duration."""


# ------------------------------------------------------------------------------------------ parsing
def parse_rate(text: str | float | int) -> float:
    """``"6/min"``, ``"1/s"``, ``"120/h"`` or a plain number (per minute) -> transactions per minute."""
    if isinstance(text, (int, float)):
        value, unit = float(text), "min"
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*", str(text))
        if not m:
            raise LoadError(f"rate {text!r}: use N/min, N/s or N/h (e.g. 6/min)")
        value, unit = float(m.group(1)), (m.group(2) or "min")
    per_min = value * {"s": 60.0, "sec": 60.0, "second": 60.0, "m": 1.0, "min": 1.0, "minute": 1.0,
                       "h": 1 / 60.0, "hour": 1 / 60.0}[unit]
    if not 0 < per_min <= 6000:
        raise LoadError(f"rate {text!r} must be more than 0 and at most 100/s")
    return per_min


def parse_duration(text: str | float | int) -> float:
    """``"55s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a plain number of seconds -> seconds."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|min|h|d)?\s*", str(text))
        if not m:
            raise LoadError(f"duration {text!r}: use e.g. 55s, 10m, 2h")
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400,
                                       None: 1}[m.group(2)]
    if seconds <= 0:
        raise LoadError(f"duration {text!r} must be positive")
    return seconds


# ------------------------------------------------------------------------------------------ plan
@dataclass
class OrdererTarget:
    """One orderer as the cli reaches it: ``endpoint`` is what goes after ``-o``."""

    name: str
    host: str
    endpoint: str
    tls_ca: str | None = None   #: this orderer's TLS CA inside the cli (orderers of different orgs differ)

    @property
    def tls_args(self) -> list[str]:
        return ["--tls", "--cafile", self.tls_ca] if self.tls_ca else []


@dataclass
class LoadPlan:
    channel: str
    chaincode: str
    invoke_args: list[str]
    query_args: list[str]
    cli: str            #: node name
    cli_container: str
    cli_host: str
    orderers: list[OrdererTarget]


def plan_load(inv: Inventory, *, chaincode: str | None = None, channel: str | None = None,
              invoke_args: list[str] | None = None, query_args: list[str] | None = None,
              cli: str | None = None, orderer_address: str = "host") -> LoadPlan:
    """What to invoke where: the inventory's ``chaincode:`` with any overrides, the channel's orderers, the cli."""
    base = inv.chaincode
    if base is None and not (chaincode and channel):
        raise LoadError("the inventory has no `chaincode:` section; add one (name, channel, invoke_args, query_args) "
                        "or give --chaincode and --channel")
    cc = Chaincode(name=chaincode or base.name, channel=channel or base.channel,  # type: ignore[union-attr]
                   invoke_args=list(invoke_args if invoke_args is not None else (base.invoke_args if base else [])),
                   query_args=list(query_args if query_args is not None else (base.query_args if base else [])))
    if not cc.invoke_args or not cc.query_args:
        raise LoadError("the chaincode needs invoke_args and query_args (inventory `chaincode:` or "
                        "--invoke-args/--query-args)")
    ch = inv.channels.get(cc.channel)
    if ch is None:
        raise LoadError(f"channel {cc.channel!r} of the chaincode is not in the inventory's channels")
    if not ch.orderers:
        raise LoadError(f"channel {cc.channel!r} lists no orderers")
    if orderer_address not in ("host", "hostname"):
        raise LoadError("orderer_address must be 'host' (the host's address) or 'hostname' (the node's hostname)")
    targets = []
    for name in ch.orderers:
        node = inv.nodes[name]
        port = listen_port(node) or DEFAULT_LISTEN_PORT.get(node.kind)
        if port is None:
            raise LoadError(f"orderer {name} has no listen port in the inventory (ports: [...])")
        address = inv.hosts[node.host].address
        if orderer_address == "hostname" and node.hostname:
            address = node.hostname
        targets.append(OrdererTarget(name, node.host, f"{address}:{port}", node.tls_ca_file))
    clis = [n for n in inv.nodes.values() if n.kind == NodeKind.CLI]
    if cli:
        if cli not in inv.nodes or inv.nodes[cli].kind != NodeKind.CLI:
            raise LoadError(f"{cli!r} is not a node of kind cli in the inventory")
        cli_node = inv.nodes[cli]
    elif len(clis) == 1:
        cli_node = clis[0]
    elif not clis:
        raise LoadError("the inventory has no node of kind cli (the tools container that runs `peer`)")
    else:
        raise LoadError(f"several cli nodes ({', '.join(n.name for n in clis)}): choose one with --cli")
    return LoadPlan(cc.channel, cc.name, cc.invoke_args, cc.query_args, cli_node.name, cli_node.container_name,
                    cli_node.host, targets)


# ------------------------------------------------------------------------------------------ state across runs
def _state_path(inv: Inventory, plan: LoadPlan) -> Path:
    from opskit.runlock import state_dir

    source = os.path.abspath(inv.source or inv.name)
    key = hashlib.sha256(source.encode()).hexdigest()[:12]
    return state_dir() / "load" / f"{Path(source).stem}-{key}-{plan.channel}-{plan.chaincode}.json"


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def read_state(path: Path) -> dict[str, Any]:
    """``{"next_orderer": int, "day": "YYYY-MM-DD", "tx_today": int}`` (a new day starts at 0 tx)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc.setdefault("next_orderer", 0)
    if doc.get("day") != _today():
        doc["day"], doc["tx_today"] = _today(), 0
    doc.setdefault("tx_today", 0)
    return doc


def write_state(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n")
    tmp.replace(path)


# ------------------------------------------------------------------------------------------ lock
@contextlib.contextmanager
def load_lock(inventory_source: str, task: str = "load.tx") -> Iterator[str]:
    """Hold the fleet lock of scope ``load``. Yields ``"held"``, or ``"parent"`` when the cron wrapper that
    started us holds it for us (it passes the lock down through ``$OPSKIT_LOCK_HELD``)."""
    from opskit.runlock import INHERITED_ENV, fleet_lock, lock_path

    inherited = os.environ.get(INHERITED_ENV) == str(lock_path(inventory_source, "load"))
    with fleet_lock(inventory_source, task, scope="load"):
        yield "parent" if inherited else "held"


# ------------------------------------------------------------------------------------------ budget
@dataclass
class BudgetOptions:
    """A cap on transactions per UTC day: given directly, or computed from the disks of the channel's hosts."""

    tx_per_day: float | None = None     #: explicit cap
    days: float | None = None           #: target: the ledger disks must stay under ``limit_pct`` this long
    block_bytes: float = 5000.0         #: average block size (bytes) of one load transaction's block
    txs_per_block: float = 1.0
    limit_pct: float = 90.0

    @property
    def active(self) -> bool:
        return self.tx_per_day is not None or self.days is not None


_DF_SCRIPT = r"""
for p in "$@"; do
  if [ -e "$p" ]; then echo "@@df $p"; df -P -k "$p" 2>/dev/null | tail -n 1; fi
done
"""


def budget_tx_per_day(inv: Inventory, plan: LoadPlan, opts: BudgetOptions, engine: Any) -> tuple[float, dict[str, Any]]:
    """The tightest daily transaction allowance over the hosts of the channel's nodes, and how it was found.

    Per host: the filesystems of its ledger paths (or its docker data root) from ``df``; the allowance is
    :func:`opskit.health.forecast.budget` (headroom under ``limit_pct`` spread over ``days``) divided by
    ``block_bytes`` per block and multiplied by ``txs_per_block``.
    """
    from opskit.health.forecast import budget
    from opskit.remote.command import script

    if opts.tx_per_day is not None:
        return float(opts.tx_per_day), {"source": "explicit", "tx_per_day": float(opts.tx_per_day)}
    assert opts.days is not None
    ch = inv.channels[plan.channel]
    host_names = sorted({inv.nodes[n].host for n in ch.orderers + ch.peers})
    hosts = [inv.hosts[h] for h in host_names]

    def paths(h: Host) -> list[str]:
        return list(h.ledger_paths) or [inv.docker_root_of(h)]

    def work(session: Any) -> list[tuple[str, int, int]]:
        res = session.run(script(_DF_SCRIPT, *paths(inv.hosts[session.name])), check=False)
        out, lines = [], res.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("@@df ") and i + 1 < len(lines):
                cols = lines[i + 1].split()
                if len(cols) >= 6 and cols[2].isdigit() and cols[3].isdigit():
                    out.append((cols[-1], int(cols[2]) * 1024, int(cols[3]) * 1024))
        return out

    results = engine.run(hosts, work)
    per_host: dict[str, Any] = {}
    best: float | None = None
    for r in results:
        if not r.ok or not r.value:
            per_host[r.host] = {"error": r.error or "no df output"}
            continue
        for mount, used, avail in dict.fromkeys(r.value):
            b = budget(used, used + avail, opts.days, opts.limit_pct, opts.block_bytes, opts.txs_per_block)
            tx = float(b.tx_per_day or 0.0)
            per_host.setdefault(r.host, {})[mount] = {"used_bytes": used, "size_bytes": used + avail,
                                                      "bytes_per_day": round(b.bytes_per_day), "tx_per_day": round(tx, 1)}
            best = tx if best is None else min(best, tx)
    if best is None:
        raise LoadError("daily budget: no disk figures from any host of the channel: "
                        + "; ".join(f"{h}: {d.get('error')}" for h, d in per_host.items()))
    return best, {"source": "disk", "days": opts.days, "limit_pct": opts.limit_pct, "block_bytes": opts.block_bytes,
                  "txs_per_block": opts.txs_per_block, "hosts": per_host, "tx_per_day": round(best, 1)}


# ------------------------------------------------------------------------------------------ running
@dataclass
class LoadOptions:
    rate_per_min: float = 1.0
    duration_s: float | None = None     #: None with no count: one minute
    count: int | None = None            #: stop after this many transactions
    confirm_timeout: float = 10.0       #: how long a query may take to show the new value
    confirm_interval: float = 0.3
    command_timeout: float = 60.0
    extra_flags: list[str] = field(default_factory=list)   #: added to `peer chaincode invoke` (e.g. --tls --cafile F)
    env: dict[str, str] = field(default_factory=dict)      #: `docker exec -e K=V` (e.g. CORE_PEER_ADDRESS)
    budget: BudgetOptions = field(default_factory=BudgetOptions)


@dataclass
class TxResult:
    seq: int
    orderer: str
    outcome: str            #: ok | failed | unchanged | query_failed
    before: str | None
    after: str | None
    invoke_s: float
    confirm_s: float
    error: str | None = None


@dataclass
class OrdererStats:
    name: str
    host: str
    endpoint: str
    attempted: int = 0
    ok: int = 0
    failed: int = 0
    unchanged: int = 0
    query_failed: int = 0
    invoke_s_total: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, tx: TxResult) -> None:
        self.attempted += 1
        setattr(self, tx.outcome, getattr(self, tx.outcome) + 1)
        self.invoke_s_total += tx.invoke_s
        if tx.error and tx.error not in self.errors and len(self.errors) < 3:
            self.errors.append(tx.error)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["invoke_s_avg"] = round(self.invoke_s_total / self.attempted, 3) if self.attempted else None
        del d["invoke_s_total"]
        return d


def _clean(text: str) -> str:
    return ANSI_RE.sub("", text or "")


def _error_line(stdout: str, stderr: str, code: int) -> str:
    lines = [ln.strip() for ln in (_clean(stderr) + "\n" + _clean(stdout)).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("Error"):
            return ln[:300]
    return (lines[-1][:300] if lines else f"exit code {code}")


def _substitute(args: list[str], seq: int) -> list[str]:
    """Placeholders in chaincode args: ``{seq}`` (transaction number of the day), ``{ts}`` (unix ms), ``{uuid}``."""
    now = str(int(time.time() * 1000))
    return [a.replace("{seq}", str(seq)).replace("{ts}", now).replace("{uuid}", uuid.uuid4().hex) for a in args]


class _CliRunner:
    """`peer` commands in the cli container, over one session of the cli's host."""

    def __init__(self, session: Any, plan: LoadPlan, opts: LoadOptions) -> None:
        self.session, self.plan, self.opts = session, plan, opts

    def _exec(self, peer_args: list[str]) -> Any:
        argv = ["docker", "exec"]
        for k, v in self.opts.env.items():
            argv += ["-e", f"{k}={v}"]
        return self.session.run([*argv, self.plan.cli_container, "peer", *peer_args], check=False,
                                timeout=self.opts.command_timeout)

    def invoke(self, endpoint: str, args: list[str], tls: list[str] | None = None) -> tuple[bool, str | None]:
        """``peer chaincode invoke -o endpoint``; ``tls`` (that orderer's ``--tls --cafile``) unless the user's
        extra flags already name a CA file."""
        own = [] if "--cafile" in self.opts.extra_flags else list(tls or [])
        res = self._exec(["chaincode", "invoke", "-o", endpoint, "-C", self.plan.channel, "-n", self.plan.chaincode,
                          "-c", json.dumps({"Args": args}), *own, *self.opts.extra_flags])
        text = _clean(res.stdout) + "\n" + _clean(res.stderr)
        if res.exit_code == 0 and INVOKE_OK_RE.search(text):
            return True, None
        err = _error_line(res.stdout, res.stderr, res.exit_code)
        if DOCKER_ERROR_RE.search(text):
            raise LoadError(f"the cli container {self.plan.cli_container} on {self.plan.cli_host} cannot run peer: {err}")
        return False, err

    def query(self, args: list[str]) -> tuple[str | None, str | None]:
        res = self._exec(["chaincode", "query", "-C", self.plan.channel, "-n", self.plan.chaincode,
                          "-c", json.dumps({"Args": args})])
        if res.exit_code == 0:
            lines = [ln for ln in _clean(res.stdout).splitlines() if ln.strip()]
            return (lines[-1].strip() if lines else ""), None
        err = _error_line(res.stdout, res.stderr, res.exit_code)
        if DOCKER_ERROR_RE.search(_clean(res.stdout) + _clean(res.stderr)):
            raise LoadError(f"the cli container {self.plan.cli_container} on {self.plan.cli_host} cannot run peer: {err}")
        return None, err


def run_load(inv: Inventory, plan: LoadPlan, opts: LoadOptions, *, engine: Any = None,
             stop: threading.Event | None = None, progress: Callable[[TxResult], None] | None = None) -> Report:
    """Send the load and report per orderer. The caller holds the ``load`` lock (:func:`load_lock`)."""
    from opskit.remote.engine import Engine

    report = Report("load.tx", inventory=inv.source)
    stop = stop or threading.Event()
    interval = 60.0 / opts.rate_per_min
    if opts.count is None and opts.duration_s is None:
        duration = 60.0
    else:
        duration = opts.duration_s if opts.duration_s is not None else math.inf
    slots = math.ceil(duration / interval - 1e-9) if math.isfinite(duration) else math.inf
    planned = int(min(slots, opts.count if opts.count is not None else math.inf))
    state_path = _state_path(inv, plan)
    state = read_state(state_path)
    stats = {o.name: OrdererStats(o.name, o.host, o.endpoint) for o in plan.orderers}
    report.meta.update({"channel": plan.channel, "chaincode": plan.chaincode, "cli": plan.cli,
                        "cli_host": plan.cli_host, "rate_per_min": opts.rate_per_min,
                        "duration_s": None if not math.isfinite(duration) else duration,
                        "planned": planned, "orderers": [o.name for o in plan.orderers],
                        "invoke_args": plan.invoke_args, "query_args": plan.query_args})
    own_engine = engine is None
    elapsed = 0.0
    engine = engine or Engine(inv)
    try:
        if opts.budget.active:
            allowed, info = budget_tx_per_day(inv, plan, opts.budget, engine)
            cap = int(math.floor(allowed))
            left = max(0, cap - int(state["tx_today"]))
            info.update({"tx_per_day_cap": cap, "tx_today_before": int(state["tx_today"]), "left_before": left})
            report.meta["budget"] = info
            if left < planned:
                planned = left
                report.meta["planned"] = planned
            if cap == 0:
                report.add(Finding("load.budget", Severity.WARNING,
                                   "no daily budget at all: the channel's ledger disks leave no room under "
                                   f"{opts.budget.limit_pct:g}% for {opts.budget.days or 0:g} days; no transaction sent",
                                   data=info))
            elif left == 0:
                midnight = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
                report.add(Finding("load.budget", Severity.OK,
                                   f"daily budget spent: {state['tx_today']} of {cap} tx today (UTC); "
                                   f"no transaction until {midnight}", data=info))
        results: list[TxResult] = []

        def work(session: Any) -> None:
            cli = _CliRunner(session, plan, opts)
            value, _ = cli.query(_substitute(plan.query_args, int(state["tx_today"])))
            t0 = time.monotonic()
            for i in range(planned):
                target = t0 + i * interval
                now = time.monotonic()
                if now - t0 >= duration or stop.is_set():
                    break
                if target > now and stop.wait(target - now):  # pacing to the rate, not waiting for a condition
                    break
                k = int(state["next_orderer"]) % len(plan.orderers)
                orderer = plan.orderers[k]
                seq = int(state["tx_today"]) + 1
                ts = time.monotonic()
                ok, err = cli.invoke(orderer.endpoint, _substitute(plan.invoke_args, seq), orderer.tls_args)
                invoke_s = time.monotonic() - ts
                state["next_orderer"] = (k + 1) % len(plan.orderers)
                state["tx_today"] = seq
                write_state(state_path, state)
                if not ok:
                    tx = TxResult(seq, orderer.name, "failed", value, None, invoke_s, 0.0, err)
                else:
                    tc = time.monotonic()
                    deadline = tc + opts.confirm_timeout
                    after, qerr = cli.query(_substitute(plan.query_args, seq))
                    while after == value and qerr is None and time.monotonic() < deadline and not stop.is_set():
                        stop.wait(opts.confirm_interval)  # polling the query for the commit, with a deadline
                        after, qerr = cli.query(_substitute(plan.query_args, seq))
                    confirm_s = time.monotonic() - tc
                    if qerr is not None:
                        tx = TxResult(seq, orderer.name, "query_failed", value, None, invoke_s, confirm_s, qerr)
                    elif after == value:
                        tx = TxResult(seq, orderer.name, "unchanged", value, after, invoke_s, confirm_s,
                                      f"invoke ok but query still shows {after!r} after {opts.confirm_timeout:g}s")
                    else:
                        tx = TxResult(seq, orderer.name, "ok", value, after, invoke_s, confirm_s)
                    if after is not None:
                        value = after
                results.append(tx)
                stats[orderer.name].add(tx)
                if progress:
                    progress(tx)

        started = time.monotonic()
        window = min(duration, planned * interval)
        # a safety deadline only: every command has its own timeout
        timeout = window + planned * (opts.confirm_timeout + opts.command_timeout) + 60
        if planned > 0:
            [res] = engine.run([inv.hosts[plan.cli_host]], work, host_timeout=timeout)
            report.hosts.append(res.outcome())
            if not res.ok:
                report.add(Finding("load.cli", Severity.CRITICAL, f"load stopped: {res.error}", host=plan.cli_host,
                                   node=plan.cli))
        elapsed = time.monotonic() - started
    finally:
        if own_engine:
            engine.close()
    _findings(report, plan, stats, results, elapsed if planned > 0 else 0.0)
    report.meta["state"] = {"file": str(state_path), "next_orderer": plan.orderers[int(state["next_orderer"]) %
                                                                                    len(plan.orderers)].name,
                            "tx_today": int(state["tx_today"])}
    if opts.budget.active and "budget" in report.meta:
        cap = report.meta["budget"]["tx_per_day_cap"]
        left = max(0, cap - int(state["tx_today"]))
        report.meta["budget"]["left_after"] = left
        if left == 0 and not any(f.check == "load.budget" for f in report.findings):
            report.add(Finding("load.budget", Severity.OK,
                               f"daily budget spent with this run: {state['tx_today']} of {cap} tx today (UTC)",
                               data=report.meta["budget"]))
        elif left > 0:
            report.add(Finding("load.budget", Severity.OK,
                               f"daily budget: {state['tx_today']} of {cap} tx used today (UTC), {left} left",
                               data=report.meta["budget"]))
    return report.finish()


def _findings(report: Report, plan: LoadPlan, stats: dict[str, OrdererStats], results: list[TxResult],
              elapsed: float) -> None:
    for o in plan.orderers:
        st = stats[o.name]
        d = st.to_dict()
        if st.attempted == 0:
            report.add(Finding("load.orderer", Severity.OK, f"{o.endpoint}: no transaction this run", host=o.host,
                               node=o.name, data=d))
            continue
        parts = [f"{st.ok}/{st.attempted} ok"]
        if st.failed:
            parts.append(f"{st.failed} failed")
        if st.unchanged:
            parts.append(f"{st.unchanged} invoke ok but query unchanged")
        if st.query_failed:
            parts.append(f"{st.query_failed} query failed")
        msg = f"{o.endpoint}: " + ", ".join(parts)
        if st.errors:
            msg += f" ({st.errors[0]})"
        if st.unchanged or st.failed == st.attempted:
            sev = Severity.CRITICAL
        elif st.failed or st.query_failed:
            sev = Severity.WARNING
        else:
            sev = Severity.OK
        report.add(Finding("load.orderer", sev, msg, host=o.host, node=o.name, data=d))
    totals = {k: sum(getattr(s, k) for s in stats.values()) for k in ("attempted", "ok", "failed", "unchanged",
                                                                       "query_failed")}
    counts = [stats[o.name].attempted for o in plan.orderers]
    spread = (max(counts) - min(counts)) if counts else 0
    rate = (totals["attempted"] / elapsed * 60.0) if elapsed > 0 else 0.0
    report.meta.update({"totals": totals, "per_orderer": {n: s.to_dict() for n, s in stats.items()},
                        "elapsed_s": round(elapsed, 3), "achieved_rate_per_min": round(rate, 2),
                        "transactions": [asdict(t) for t in results[-SAMPLE_LIMIT:]]})
    sev = Severity.OK if spread <= 1 else Severity.WARNING
    report.add(Finding("load.spread", sev,
                       f"{totals['attempted']} tx over {len(counts)} orderers: " +
                       ", ".join(f"{o.name} {c}" for o, c in zip(plan.orderers, counts)) +
                       ("" if spread <= 1 else f" (uneven by {spread})"),
                       data={"per_orderer": dict(zip([o.name for o in plan.orderers], counts)), "spread": spread}))
    report.add(Finding("load.summary", Severity.OK,
                       f"{totals['attempted']} tx in {elapsed:.1f}s ({rate:.1f}/min): {totals['ok']} ok, "
                       f"{totals['failed']} failed, {totals['unchanged']} invoke ok but query unchanged, "
                       f"{totals['query_failed']} query failed", host=plan.cli_host, node=plan.cli, data=totals))
