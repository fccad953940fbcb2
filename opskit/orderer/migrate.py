"""Kafka -> Raft migration of a live fleet: the official procedure as a journaled state machine.

Steps, over every channel of the ordering service (system channel first in each config step):

1. ``precheck``: every orderer answers for every channel (config fetched through the tools container), the
   orderers agree, capabilities >= V1_4_2, >= 3 consenters with readable, unexpired TLS certs matching the
   orderers, Fabric >= 1.4.2 on every orderer and peer (``fabric_version`` of the operations endpoint), room for
   the backups on every host.
2. ``enter-maintenance/<ch>``: ConsensusType.state -> MAINTENANCE, verified on every orderer.
3. ``backup/*``: stop the orderers, then the Kafka brokers (a controlled shutdown with a long stop timeout:
   the orderers are already stopped, so the brokers flush what they hold) and ZooKeeper; copy every named volume
   of orderers, brokers and ZooKeeper nodes with the container engine (:mod:`opskit.container.datacopy`); start
   ZooKeeper, Kafka, orderers and wait until every orderer serves every channel again.
4. ``switch-type/<ch>``: type kafka -> etcdraft with the same metadata on every channel; verified on every orderer,
   and the config block must be the channel's newest block (the last transaction before the restart).
5. ``restart-raft/<orderer>``: recreate each orderer with its Raft settings (``ORDERER_CONSENSUS_WALDIR`` ...)
   through :mod:`opskit.container` (same container otherwise, ledger kept, health-gated), one at a time.
6. ``verify-leaders``: exactly one Raft leader on every channel (``consensus_etcdraft_is_leader``).
7. ``exit-maintenance/<ch>``: state -> NORMAL (system channel first), verified on every orderer.

Every step is written to the journal before and after it runs (``opskit.journal``). Step hooks (``on_step`` of one
:class:`Migration`, or :func:`add_step_hook` for every migration of the process) are called at each boundary,
``hook(step, "begin")`` and ``hook(step, "done")``, right after the journal entry is on disk: to record or report
progress, or (the tests) to kill the process exactly there and resume. ``resume`` skips steps the
journal shows done and re-runs the one that was under way: every step first looks at the fleet and does only what
is missing. ``abort`` before the type switch exits maintenance; after it, restores the backups and then exits
maintenance; once a channel has left maintenance on etcdraft it refuses (the point of no return).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from opskit.change import Change, Outcome, Plan
from opskit.change.progress import ProgressFn
from opskit.wait import Poller
from opskit.container.datacopy import BackupFile, backup, data_kib, free_kib, restore
from opskit.container.docker import DockerHost
from opskit.errors import OpskitError, SelectorError
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.journal import Journal
from opskit.orderer.config import render_update
from opskit.orderer.migration import (
    ChannelStep,
    MigrationError,
    abort_exit_maintenance,
    channel_step,
    check_node_versions,
    load_consenters,
    order_channels,
    plan_channel,
    precheck,
    raft_metadata,
    step1_enter_maintenance,
    step2_switch_to_etcdraft,
    step3_exit_maintenance,
)
from opskit.orderer.online import ChannelAdmin, FetchedConfig, OnlineError
from opskit.orderer.update import compute_update
from opskit.output.report import Finding, Report, Severity
from opskit.remote.engine import Engine, EngineOptions, map_hosts

OPERATION = "orderer.migrate-raft"
#: ``hook(step, phase)``: phase "begin" or "done", called once the journal holds that entry
StepHook = Callable[[str, str], None]
_STEP_HOOKS: list[StepHook] = []
DEFAULT_RAFT_ENV = {
    "ORDERER_CONSENSUS_WALDIR": "/var/hyperledger/production/orderer/etcdraft/wal",
    "ORDERER_CONSENSUS_SNAPDIR": "/var/hyperledger/production/orderer/etcdraft/snapshot",
}
BACKUP_MARGIN_KIB = 16 * 1024
T = TypeVar("T")


class MigrationInProgress(OpskitError):
    """A journal of an unfinished migration exists: continue it (--resume) or undo it (--abort)."""


class AbortRefused(OpskitError):
    """--abort is not possible any more (or not yet); the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass
class MigrateOptions:
    consenters: str | None = None                #: consenters YAML (load_consenters); needed to run or plan
    channels: list[str] | None = None            #: must name every channel of the orderers (checked)
    backup_dir: str = "/var/backups/opskit/migrate-raft"
    raft_env: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RAFT_ENV))
    timeout: float = 120.0                       #: deadline of every wait (orderers agree, leaders, restarts)
    stop_timeout: int = 30                       #: docker stop -t for orderers and ZooKeeper
    kafka_stop_timeout: int = 120                #: docker stop -t for brokers (controlled shutdown)
    cli: str | None = None


def add_step_hook(hook: StepHook) -> Callable[[], None]:
    """Call ``hook(step, phase)`` at every step boundary of every migration in this process (after the
    :class:`Migration`'s own ``on_step``). Returns a function that removes the hook again."""
    _STEP_HOOKS.append(hook)
    return lambda: _STEP_HOOKS.remove(hook) if hook in _STEP_HOOKS else None


@dataclass
class StepView:
    """One step as the reads find it: ``done`` (journal), ``in place`` (the orderers already show it) or ``to do``."""

    name: str
    status: str
    text: str
    #: config steps to do: the config changes, the update, and the channel state before/after (``--diff``)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class MigrationRead:
    """What :meth:`Migration.read` found: the prechecks' findings (in ``report``) and every step."""

    report: Report
    steps: list[StepView] = field(default_factory=list)
    started: bool = False                #: a journal is open
    nothing_to_do: bool = False          #: every channel is already etcdraft/STATE_NORMAL on every orderer
    blocked: str | None = None           #: why the run must not start (a CRITICAL precheck)

    @property
    def to_do(self) -> list[StepView]:
        return [v for v in self.steps if v.status == "to do"]


class MigrationOperation:
    """The migration on the change contract (:mod:`opskit.change`): ``plan`` is :meth:`Migration.read` (the steps
    to do, each with its config diff), ``apply`` runs them (journaled, resumable), the last steps verify a single
    leader on every channel and STATE_NORMAL on every orderer. A journal whose steps are all done still has one
    change: closing it. The report is the migration's own (step by step), :meth:`report`."""

    operation = "migration"

    def __init__(self, migration: "Migration", *, resume: bool | None) -> None:
        self.m = migration
        self.resume = resume
        self.result: Report | None = None

    def plan(self) -> Plan:
        read = self.m.read(resume=self.resume)
        plan = Plan(self.operation, state=read)
        if read.nothing_to_do:
            return plan
        for v in read.to_do:
            target = v.name.partition("/")[2] or None
            plan.changes.append(Change(v.name, v.text, before=v.data.get("before"), after=v.data.get("after"),
                                       node=target))
        if not plan.changes and read.started:
            plan.changes.append(Change("finish", f"close the journal {self.m.journal.path} (every step is done)"))
        return plan

    def apply(self, plan: Plan) -> None:
        self.result = self.m.apply(plan.state)

    def verify(self, plan: Plan) -> None:
        """Nothing more to read: the run ends with verify-leaders and exit-maintenance verified on every orderer."""

    def report(self, outcome: Outcome) -> Report:
        if outcome.check:
            return self.m.plan_report(outcome.plan.state)
        if self.result is not None:
            return self.result
        return outcome.plan.state.report.finish()   # nothing to do


class Migration:
    """One migration (or status/abort) over one inventory. Cheap to build; opens connections on first use."""

    def __init__(self, inv: Inventory, opts: MigrateOptions | None = None, *,
                 engine_options: EngineOptions | None = None, progress: ProgressFn | None = None,
                 journal: Journal | None = None, on_step: StepHook | None = None) -> None:
        self.inv = inv
        self.opts = opts or MigrateOptions()
        self.engine_options = engine_options or EngineOptions.from_inventory(inv)
        self.engine = Engine(inv, self.engine_options)
        self.say = progress or (lambda msg: None)
        self.on_step = on_step
        self.journal = journal or Journal.for_operation(inv.name, OPERATION)
        self._admin: ChannelAdmin | None = None
        self._hosts: dict[str, DockerHost] = {}
        self.system_channel = next((name for name, ch in inv.channels.items() if ch.system), None)
        self.channels = self._channels()
        names: list[str] = []
        for ch in self.channels:
            for o in self.admin_orderers(ch):
                if o not in names:
                    names.append(o)
        self.orderers: list[Node] = [inv.nodes[n] for n in names]
        self.kafka: list[Node] = [n for n in inv.nodes.values() if n.kind == NodeKind.KAFKA]
        self.zookeeper: list[Node] = [n for n in inv.nodes.values() if n.kind == NodeKind.ZOOKEEPER]

    # -- plumbing -------------------------------------------------------------------------------------------
    def _channels(self) -> list[str]:
        served = [name for name, ch in self.inv.channels.items()
                  if ch.orderers or ch.system] or []
        if not served:
            raise MigrationError("the inventory lists no channels with orderers: nothing to migrate")
        if self.opts.channels:
            unknown = [c for c in self.opts.channels if c not in self.inv.channels]
            if unknown:
                raise SelectorError(f"unknown channel(s) {', '.join(unknown)} (inventory: {', '.join(served)})")
            left_out = [c for c in served if c not in self.opts.channels]
            if left_out:
                raise MigrationError(
                    f"--channels leaves out {', '.join(left_out)}: every channel of the ordering service must be "
                    "migrated together (a channel left on Kafka stops when Kafka is decommissioned)")
        return order_channels(served, self.system_channel)

    def admin_orderers(self, channel: str) -> list[str]:
        ch = self.inv.channels[channel]
        return list(ch.orderers) or [n.name for n in self.inv.nodes.values() if n.kind == NodeKind.ORDERER]

    @property
    def admin(self) -> ChannelAdmin:
        if self._admin is None:
            self._admin = ChannelAdmin(self.inv, lambda h: self.engine.session(self.inv.hosts[h]), cli=self.opts.cli,
                                       progress=self.say)
        return self._admin

    def host(self, name: str) -> DockerHost:
        dh = self._hosts.get(name)
        if dh is None:
            dh = self._hosts[name] = DockerHost(self.inv.hosts[name], lambda h: self.engine.session(h))
        return dh

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
        self.engine.close()

    def _on_nodes(self, nodes: Iterable[Node], fn: Callable[[DockerHost, Node], T]) -> dict[str, T]:
        """``fn`` on every node: hosts in parallel, the nodes of one host in order; the first error is raised
        after every host finished."""
        by_host: dict[str, list[Node]] = {}
        for n in nodes:
            by_host.setdefault(n.host, []).append(n)

        def one(host: str) -> tuple[dict[str, T], BaseException | None]:
            got: dict[str, T] = {}
            try:
                for n in by_host[host]:
                    got[n.name] = fn(self.host(host), n)
            except OpskitError as exc:  # HostUnreachable included
                return got, exc
            return got, None

        out: dict[str, T] = {}
        errors = []
        if not by_host:
            return out
        for got, exc in map_hosts(self.inv, list(by_host), one):
            out.update(got)
            if exc is not None:
                errors.append(exc)
        if errors:
            raise errors[0]
        return out

    def _step(self, name: str, fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        def boundary(step: str, phase: str) -> None:
            self._boundary(step, phase)
            if phase == "begin":
                self.say(f"{step} ...")

        data, seconds = self.journal.run_step(name, lambda: fn() or {}, result=dict, boundary=boundary)
        self.say(f"{name}: done ({seconds}s)")
        return {**data, "seconds": seconds}

    def _boundary(self, step: str, phase: str) -> None:
        for hook in ([self.on_step] if self.on_step else []) + list(_STEP_HOOKS):
            hook(step, phase)

    def _journal_data(self, step: str) -> dict[str, Any]:
        ev = self.journal.state().get(step)
        return dict(ev.data) if ev is not None and ev.phase == "done" else {}

    # -- reads ----------------------------------------------------------------------------------------------
    def read_configs(self) -> dict[str, dict[str, FetchedConfig | OnlineError]]:
        return {ch: self.admin.fetch_all(ch) for ch in self.channels}

    @staticmethod
    def steps_of(fetched: dict[str, FetchedConfig | OnlineError]) -> dict[str, ChannelStep]:
        return {o: channel_step(f.config) for o, f in fetched.items() if isinstance(f, FetchedConfig)}

    def metrics(self) -> dict[str, Any]:
        """Orderer node -> NodeMetrics (or an error string), fetched on each orderer's host."""
        from opskit.health.facts import collect
        from opskit.health.fabric_metrics import NodeOutputError, parse_metrics

        by_host: dict[str, dict[str, str]] = {}
        for n in self.orderers:
            if n.operations:
                by_host.setdefault(n.host, {})[n.name] = n.operations
        results = self.engine.run([self.inv.hosts[h] for h in by_host],
                                  lambda s: collect(s, [], by_host[s.name]), host_timeout=30, fail_fast=False)
        out: dict[str, Any] = {}
        for r in results:
            for node in by_host[r.host]:
                if not r.ok:
                    out[node] = f"host {r.host}: {r.error}"
                    continue
                ep = r.value.endpoints.get((node, "metrics"))
                if ep is None or ep.http_code != 200:
                    out[node] = f"/metrics answered {ep.http_code if ep else 'nothing'}"
                    continue
                try:
                    out[node] = parse_metrics(ep.body)
                except NodeOutputError as exc:
                    out[node] = str(exc)
        return out

    def leaders(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        """Channel -> orderers that lead it; orderer -> why its metrics are missing."""
        leaders: dict[str, list[str]] = {ch: [] for ch in self.channels}
        missing: dict[str, str] = {}
        for node, m in self.metrics().items():
            if isinstance(m, str):
                missing[node] = m
                continue
            for ch in self.channels:
                if m.is_leader.get(ch):
                    leaders[ch].append(node)
        return leaders, missing

    def node_versions(self) -> tuple[dict[str, str], list[Finding]]:
        """Fabric version of every orderer and peer from its operations endpoint."""
        from opskit.health.facts import collect
        from opskit.health.fabric_metrics import NodeOutputError, parse_metrics

        nodes = [n for n in self.inv.nodes.values() if n.kind in (NodeKind.ORDERER, NodeKind.PEER) and n.operations]
        by_host: dict[str, dict[str, str]] = {}
        for n in nodes:
            by_host.setdefault(n.host, {})[n.name] = n.operations  # type: ignore[assignment]
        results = self.engine.run([self.inv.hosts[h] for h in by_host],
                                  lambda s: collect(s, [], by_host[s.name]), host_timeout=30, fail_fast=False)
        versions: dict[str, str] = {}
        findings: list[Finding] = []
        for r in results:
            for node in by_host[r.host]:
                kind = self.inv.nodes[node].kind
                sev = Severity.CRITICAL if kind == NodeKind.ORDERER else Severity.WARNING
                ep = r.value.endpoints.get((node, "metrics")) if r.ok else None
                try:
                    if ep is None or ep.http_code != 200:
                        raise NodeOutputError(f"/metrics answered {ep.http_code if ep else 'nothing'}"
                                              + ("" if r.ok else f" (host {r.host}: {r.error})"))
                    version = parse_metrics(ep.body).version
                except NodeOutputError as exc:
                    findings.append(Finding("node.version", sev, f"{node}: Fabric version unknown: {exc}",
                                            host=r.host, node=node))
                    continue
                if version:
                    versions[node] = version
                else:
                    findings.append(Finding("node.version", sev, f"{node}: /metrics has no fabric_version",
                                            host=r.host, node=node))
        return versions, findings

    # -- prechecks ------------------------------------------------------------------------------------------
    def _metadata(self) -> Any:
        if not self.opts.consenters:
            raise MigrationError("--consenters FILE is required: the Raft consenters (host, port, TLS certs) and "
                                 "options (see docs/orderer.md)")
        specs, options = load_consenters(self.opts.consenters)
        return specs, raft_metadata(specs, options)

    def prechecks(self) -> tuple[list[Finding], dict[str, dict[str, FetchedConfig | OnlineError]]]:
        findings: list[Finding] = []
        fetched = self.read_configs()
        configs = {}
        for ch, per in fetched.items():
            seqs = {}
            for node, f in per.items():
                if isinstance(f, OnlineError):
                    findings.append(Finding("orderer.reachable", Severity.CRITICAL,
                                            f"{node}: cannot read {ch}: {f}", node=node))
                else:
                    seqs[node] = f.config.sequence
                    configs.setdefault(ch, f.config)
            if len(set(seqs.values())) > 1:
                findings.append(Finding("orderer.agree", Severity.CRITICAL,
                                        f"{ch}: orderers disagree on the config sequence "
                                        f"({', '.join(f'{n} {s}' for n, s in sorted(seqs.items()))}); wait until they "
                                        "catch up", node=ch, data={"sequences": seqs}))
            elif seqs:
                findings.append(Finding("orderer.agree", Severity.OK,
                                        f"{ch}: {len(seqs)} orderer(s) at config sequence {next(iter(seqs.values()))}",
                                        node=ch))
        specs, _ = self._metadata()
        versions, vfind = self.node_versions()
        findings += vfind
        pending = {ch: cfg for ch, cfg in configs.items() if channel_step(cfg) is not ChannelStep.RAFT_NORMAL}
        findings += precheck(pending, specs) if pending else []
        findings += check_node_versions(versions)
        findings += self.backup_room()
        return findings, fetched

    def backup_room(self) -> list[Finding]:
        nodes = [*self.orderers, *self.kafka, *self.zookeeper]
        by_host: dict[str, list[Node]] = {}
        for n in nodes:
            by_host.setdefault(n.host, []).append(n)
        out = []

        def one(dh: DockerHost, first: Node) -> tuple[int, int]:
            need = data_kib(dh, *(n.container_name for n in by_host[first.host]))
            return need, free_kib(dh, self.opts.backup_dir)

        try:
            firsts = [ns[0] for ns in by_host.values()]
            got = self._on_nodes(firsts, one)
        except OpskitError as exc:  # HostUnreachable included
            return [Finding("backup.room", Severity.CRITICAL, f"cannot measure room for the backups: {exc}")]
        for first in firsts:
            need, have = got[first.name]
            want = need + max(need // 10, BACKUP_MARGIN_KIB)
            sev = Severity.OK if have >= want else Severity.CRITICAL
            out.append(Finding("backup.room", sev, f"{first.host}: backups need ~{want // 1024} MiB in "
                               f"{self.opts.backup_dir}, {have // 1024} MiB free", host=first.host,
                               data={"need_kib": want, "free_kib": have}))
        return out

    # -- the steps ------------------------------------------------------------------------------------------
    def step_names(self) -> list[str]:
        chans = self.channels
        return (["precheck"]
                + [f"enter-maintenance/{ch}" for ch in chans]
                + ["backup/stop-orderers", "backup/stop-kafka", "backup/stop-zookeeper", "backup/copy",
                   "backup/start-zookeeper", "backup/start-kafka", "backup/start-orderers"]
                + [f"switch-type/{ch}" for ch in chans]
                + [f"restart-raft/{o.name}" for o in self.orderers]
                + ["verify-leaders"]
                + [f"exit-maintenance/{ch}" for ch in chans])

    def _config_step(self, ch: str, number: int) -> dict[str, Any]:
        """Submit update ``number`` (1-3) on ``ch`` unless the orderers already show it; verify on all."""
        target = {1: ChannelStep.KAFKA_MAINTENANCE, 2: ChannelStep.RAFT_MAINTENANCE, 3: ChannelStep.RAFT_NORMAL}[number]
        cur = self.admin.fetch_config(ch)
        step = channel_step(cur.config)
        expect = (lambda c: channel_step(c) is target)
        if step is target:
            seen = self.admin.wait_all(ch, expect, timeout=self.opts.timeout)
            return {"already": True, "sequence": cur.config.sequence, "verified_on": sorted(seen)}
        if number == 1:
            new = step1_enter_maintenance(cur.config)
        elif number == 2:
            new = step2_switch_to_etcdraft(cur.config, self._metadata()[1])
        else:
            new = step3_exit_maintenance(cur.config)
        update = compute_update(cur.config, new, ch)
        res = self.admin.submit(ch, cur.config, update, expect=expect, timeout=self.opts.timeout,
                                name=f"step{number}")
        return {"orderer": res.orderer, "sequence": res.sequence, "block": res.block, "signers": res.signers,
                "verified_on": res.verified_on}

    def _last_config_is_newest(self, ch: str) -> dict[str, int]:
        """Every orderer: the type-switch config block is the channel's newest block."""
        blocks = {}
        configs = self.admin.fetch_all(ch)
        for node, newest in self.admin.newest_block_numbers(ch).items():
            fetched = configs.get(node)
            if isinstance(newest, OnlineError) or isinstance(fetched, OnlineError) or fetched is None:
                raise MigrationError(f"{ch}: cannot check the newest block on {node}: {newest if isinstance(newest, OnlineError) else fetched}")
            if fetched.block_number is not None and newest != fetched.block_number:
                raise MigrationError(f"{ch}: on {node} block {newest} follows the type-switch config block "
                                     f"{fetched.block_number}: it is not the last transaction before the restart. "
                                     "Abort (restores the backups) and find out what wrote it")
            blocks[node] = newest
        return blocks

    def _stop(self, nodes: list[Node], timeout: int) -> dict[str, Any]:
        def stop(dh: DockerHost, n: Node) -> str:
            dh.docker("stop", "-t", str(timeout), n.container_name, timeout=timeout + 60)
            return "stopped"
        return {"stopped": sorted(self._on_nodes(nodes, stop))}

    def _start(self, nodes: list[Node]) -> dict[str, Any]:
        def start(dh: DockerHost, n: Node) -> str:
            dh.docker("start", n.container_name)
            return "started"
        done = self._on_nodes(nodes, start)
        self._wait_running(nodes)
        return {"started": sorted(done)}

    def _wait_running(self, nodes: list[Node]) -> None:
        bad: dict[str, str] = {}

        def look() -> bool | None:
            nonlocal bad
            states = self._on_nodes(nodes, lambda dh, n: (dh.inspect_raw(n.container_name) or {}).get("State", {}))
            bad = {n: s.get("Status", "missing") for n, s in states.items() if s.get("Status") != "running"}
            return True if not bad else None

        Poller(self.opts.timeout, 0.5).run(look, lambda _w: MigrationError(
            "containers not running within the deadline: " + ", ".join(f"{n} {s}" for n, s in sorted(bad.items()))))

    def _backup_copy(self) -> dict[str, Any]:
        stamp = self._journal_data("precheck").get("run") or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        directory = f"{self.opts.backup_dir.rstrip('/')}/{stamp}"
        files = self._on_nodes([*self.orderers, *self.kafka, *self.zookeeper],
                               lambda dh, n: backup(dh, n.container_name, directory, tag=stamp))
        return {"dir": directory, "files": [f.to_dict() for fs in files.values() for f in fs]}

    def _wait_serving(self, expect: Callable[[Any], bool]) -> dict[str, Any]:
        seen = {}
        for ch in self.channels:
            seen[ch] = sorted(self.admin.wait_all(ch, expect, timeout=self.opts.timeout))
        return {"serving": seen}

    def _restart_raft(self, node: Node) -> dict[str, Any]:
        return self._recreate(node, env=self.opts.raft_env)

    def _recreate(self, node: Node, *, env: dict[str, str] | None = None, unset: list[str] | None = None) -> dict[str, Any]:
        from opskit.container.config import Changes
        from opskit.container.gate import GateOptions
        from opskit.container.recreate import RecreateOptions
        from opskit.container.replace import replace

        changes = Changes(env=dict(env or {}), unset_env=list(unset or []))
        opts = RecreateOptions(backup=False, stop_timeout=self.opts.stop_timeout,
                               gate=GateOptions(timeout=self.opts.timeout, settle=1.0, wait_for_leader=False))
        report = replace(self.inv, node.name, changes, opts, engine_options=self.engine_options)
        bad = [f for f in report.findings if f.severity is not Severity.OK]
        if bad:
            raise MigrationError(f"{node.name}: recreating with the Raft settings failed: "
                                 + "; ".join(f.message for f in bad))
        return {"result": [f.message for f in report.findings], "changed": report.meta.get("changed", 0)}

    def _verify_leaders(self) -> dict[str, Any]:
        why: list[str] = []

        def look() -> dict[str, Any] | None:
            nonlocal why
            leaders, missing = self.leaders()
            bad = {ch: ls for ch, ls in leaders.items() if len(ls) != 1}
            if not bad and not missing:
                return {"leaders": {ch: ls[0] for ch, ls in leaders.items()}}
            why = [f"{ch}: {len(ls)} leaders ({', '.join(ls) or 'none'})" for ch, ls in bad.items()]
            why += [f"{n}: {m}" for n, m in missing.items()]
            return None

        return Poller(self.opts.timeout, 1.0).run(look, lambda _w: MigrationError(
            "no single Raft leader on every channel within the deadline: " + "; ".join(why)))

    # -- read, run, resume ----------------------------------------------------------------------------------
    def read(self, *, resume: bool | None) -> MigrationRead:
        """What the check and the run both start from: the journal, the prechecks (configs from every orderer,
        versions, room for backups) and every step with what it would do.

        ``resume``: False for a new run (refused when a journal is open), True for ``--resume`` (refused without
        one), None for a check (whatever the journal holds). Prechecks run until the journal records them; after
        that a resumed run trusts its journal, and a check reads the configs only to show the remaining diffs.
        """
        check = resume is None
        report = Report(OPERATION + (" (plan)" if check else ""), inventory=self.inv.source)
        if check:
            report.meta["plan"] = True
        else:
            report.meta["journal"] = str(self.journal.path)
        done = self.journal.done_steps()
        started = self.journal.path.exists()
        if not check:
            if started and not resume:
                raise MigrationInProgress(f"a migration is in progress (journal {self.journal.path}, last: "
                                          f"{self._last_event()}): continue it with --resume or undo it with --abort")
            if resume and not started:
                raise MigrationError(f"nothing to resume: no journal at {self.journal.path}")
            if started:
                report.meta["resumed"] = True
                if any(s.startswith("abort") for s in self.journal.state()):
                    raise MigrationInProgress("an abort is under way: finish it with --abort")
                flight = self.journal.in_flight()
                if flight:
                    report.meta["in_flight"] = flight
                    self.say(f"resuming; under way when the last run stopped: {', '.join(flight)}")
        read = MigrationRead(report, started=started)
        fetched: dict[str, dict[str, FetchedConfig | OnlineError]] | None = None
        if "precheck" not in done:
            findings, fetched = self.prechecks()
            report.extend(findings)
            if self._nothing_to_do(fetched, report):    # the same answer for the check and the run
                read.nothing_to_do = True
                return read
            if any(f.severity is Severity.CRITICAL for f in findings):
                read.blocked = "prechecks failed: nothing was changed"
            states = {ch: set(self.steps_of(per).values()) for ch, per in fetched.items()}
            switched = [ch for ch, st in states.items() if st & {ChannelStep.RAFT_MAINTENANCE, ChannelStep.RAFT_NORMAL}]
            if switched and not started and not read.blocked:
                raise MigrationError(f"channel(s) {', '.join(switched)} already run etcdraft but there is no journal "
                                     "(no backup recorded by opskit): finish or undo that migration by hand")
        elif check:
            fetched = self.read_configs()
        read.steps = self._step_views(done, fetched)
        return read

    def _step_views(self, done: set[str],
                    fetched: dict[str, dict[str, FetchedConfig | OnlineError]] | None) -> list[StepView]:
        planned: dict[str, dict[int, Any]] = {}
        if fetched is not None:
            _, metadata = self._metadata()
            for ch, per in fetched.items():
                first = next((f for f in per.values() if isinstance(f, FetchedConfig)), None)
                if first is not None:
                    planned[ch] = {st.number: st for st in plan_channel(first.config, ch, metadata)}
        numbers = {"enter-maintenance": 1, "switch-type": 2, "exit-maintenance": 3}
        views = []
        for name in self.step_names():
            kind, _, target = name.partition("/")
            if name == "precheck":
                continue
            if name in done:
                views.append(StepView(name, "done", "done (journal)"))
            elif kind in numbers and target in planned:
                st = planned[target].get(numbers[kind])
                if st is None:
                    views.append(StepView(name, "in place", "already in place"))
                else:
                    views.append(StepView(name, "to do", f"{st.before.value} -> {st.after.value}",
                                          {"changes": st.changes, "update": render_update(st.update),
                                           **st.before_after()}))
            elif kind in numbers:
                views.append(StepView(name, "to do", f"config update {numbers[kind]} of 3 "
                                                     "(unless the orderers already show it)"))
            else:
                views.append(StepView(name, "to do", self._plan_text(name)))
        return views

    def plan(self) -> Report:
        """Check mode: real reads (configs from every orderer, versions, room), then every step; changes nothing."""
        return self.plan_report(self.read(resume=None))

    def plan_report(self, read: MigrationRead) -> Report:
        report = read.report
        for v in read.steps:
            target = v.name.partition("/")[2] or None
            report.add(Finding(f"plan.{v.name}", Severity.OK, f"{v.name}: {v.text}", node=target, data=v.data))
            for c in v.data.get("changes", []):
                report.add(Finding("plan.change", Severity.OK, f"  {c}", node=target))
        return report.finish()

    def run(self, *, resume: bool = False) -> Report:
        return self.apply(self.read(resume=resume))

    def apply(self, read: MigrationRead) -> Report:
        """Carry out the steps ``read`` found to do, in order, each journaled; stop at the first that fails."""
        report = read.report
        if read.nothing_to_do:
            return report.finish()
        if read.blocked:
            report.add(Finding("migration", Severity.CRITICAL, read.blocked))
            return report.finish()
        if "precheck" not in self.journal.done_steps():
            self._step("precheck", lambda: {"run": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                                            "channels": self.channels,
                                            "orderers": [o.name for o in self.orderers]})
        done = self.journal.done_steps()
        actions: dict[str, Callable[[], dict[str, Any] | None]] = {}
        for ch in self.channels:
            actions[f"enter-maintenance/{ch}"] = lambda ch=ch: self._config_step(ch, 1)
            actions[f"switch-type/{ch}"] = lambda ch=ch: {**self._config_step(ch, 2),
                                                          "newest": self._last_config_is_newest(ch)}
            actions[f"exit-maintenance/{ch}"] = lambda ch=ch: self._config_step(ch, 3)
        actions["backup/stop-orderers"] = lambda: self._stop(self.orderers, self.opts.stop_timeout)
        actions["backup/stop-kafka"] = lambda: self._stop(self.kafka, self.opts.kafka_stop_timeout)
        actions["backup/stop-zookeeper"] = lambda: self._stop(self.zookeeper, self.opts.stop_timeout)
        actions["backup/copy"] = self._backup_copy
        actions["backup/start-zookeeper"] = lambda: self._start(self.zookeeper)
        actions["backup/start-kafka"] = lambda: self._start(self.kafka)
        actions["backup/start-orderers"] = lambda: {**self._start(self.orderers), **self._wait_serving(
            lambda c: channel_step(c) is ChannelStep.KAFKA_MAINTENANCE)}
        for o in self.orderers:
            actions[f"restart-raft/{o.name}"] = lambda o=o: self._restart_raft(o)
        actions["verify-leaders"] = self._verify_leaders
        for name in self.step_names():
            if name == "precheck":
                continue
            if name in done:
                report.add(Finding(f"step.{name}", Severity.OK, f"{name}: done before", node=name))
                continue
            try:
                data = self._step(name, actions[name])
            except KeyboardInterrupt:
                raise OpskitError(f"interrupted at {name}; `--resume` continues, `--abort` undoes") from None
            except OpskitError as exc:  # HostUnreachable included
                report.add(Finding(f"step.{name}", Severity.CRITICAL, f"{name}: {exc}", node=name))
                report.add(Finding("migration", Severity.CRITICAL,
                                   f"stopped at {name}; fix the cause, then `--resume` (or `--abort`)"))
                return report.finish()
            report.add(Finding(f"step.{name}", Severity.OK, f"{name}: {self._describe(name, data)}", node=name,
                               data=data, changed=self._changed(name, data)))
        self.journal.note("finished")
        report.meta["journal_archived"] = str(self.journal.archive())
        report.add(Finding("migration", Severity.OK, f"migrated {', '.join(self.channels)} to etcdraft; Kafka and "
                           "ZooKeeper are no longer used by these channels and can be decommissioned"))
        return report.finish()

    @staticmethod
    def _changed(name: str, data: dict[str, Any] | None) -> bool:
        """Whether a step that just ran changed the fleet (the report's ``changed``): a config update submitted,
        containers stopped/started/recreated, backup files written or restored; not a step found already in
        place, a read-only check (verify-leaders, waits) or a stop/start that found nothing to do."""
        data = data or {}
        if data.get("already") or name == "verify-leaders":
            return False
        if "changed" in data:
            return bool(data["changed"])
        if "stopped" in data or "started" in data:
            return bool(data.get("stopped") or data.get("started"))
        return True

    @staticmethod
    def _describe(name: str, data: dict[str, Any]) -> str:
        if data.get("already"):
            return f"already in place, verified on {', '.join(data.get('verified_on', []))}"
        if "sequence" in data:
            return (f"config sequence {data['sequence']} (block {data.get('block')}) via {data.get('orderer')}, "
                    f"signed by {', '.join(data.get('signers', []))}, on {len(data.get('verified_on', []))} orderers")
        if "files" in data:
            return f"{len(data['files'])} backup file(s) in {data['dir']} on their hosts"
        if "leaders" in data:
            return ", ".join(f"{ch} led by {n}" for ch, n in data["leaders"].items())
        if "stopped" in data:
            return f"stopped {', '.join(data['stopped']) or 'nothing'}"
        if "started" in data:
            return f"started {', '.join(data['started']) or 'nothing'}"
        if "changed" in data:
            return "; ".join(data.get("result", [])) or "ok"
        return "ok"

    def _last_event(self) -> str:
        events = [e for e in self.journal.events() if e.phase != "note"]
        if not events:
            return "nothing recorded"
        e = events[-1]
        return f"{e.step} {e.phase} at {datetime.fromtimestamp(e.ts, timezone.utc).isoformat(timespec='seconds')}"

    def _nothing_to_do(self, fetched: dict[str, dict[str, FetchedConfig | OnlineError]], report: Report) -> bool:
        """True (and says so in ``report``) when every channel is etcdraft/STATE_NORMAL on every orderer: the run
        and the plan both stop there."""
        states = {ch: set(self.steps_of(per).values()) for ch, per in fetched.items()}
        if states and all(s == {ChannelStep.RAFT_NORMAL} for s in states.values()):
            report.add(Finding("migration", Severity.OK, "every channel is already etcdraft/STATE_NORMAL on every "
                               "orderer: nothing to do"))
            return True
        return False

    def _plan_text(self, name: str) -> str:
        names = lambda nodes: ", ".join(n.name for n in nodes) or "none"  # noqa: E731
        return {
            "backup/stop-orderers": f"docker stop {names(self.orderers)}",
            "backup/stop-kafka": f"docker stop -t {self.opts.kafka_stop_timeout} {names(self.kafka)}",
            "backup/stop-zookeeper": f"docker stop {names(self.zookeeper)}",
            "backup/copy": f"copy the volumes of {names([*self.orderers, *self.kafka, *self.zookeeper])} to "
                           f"{self.opts.backup_dir}/<run>/ on their hosts",
            "backup/start-zookeeper": f"docker start {names(self.zookeeper)}",
            "backup/start-kafka": f"docker start {names(self.kafka)}",
            "backup/start-orderers": f"docker start {names(self.orderers)}; wait until each serves every channel",
            "verify-leaders": "wait for exactly one Raft leader on every channel",
        }.get(name) or (f"recreate with {', '.join(f'{k}={v}' for k, v in self.opts.raft_env.items())}"
                        if name.startswith("restart-raft/") else "")

    # -- abort ----------------------------------------------------------------------------------------------
    def abort(self) -> Report:
        report = Report(OPERATION + " --abort", inventory=self.inv.source)
        if any(step.startswith("backup/") for step in self.journal.state()):
            # a run that stopped inside the backup may have left containers stopped: start them (no-op if running)
            self._start(self.zookeeper)
            self._start(self.kafka)
            self._start(self.orderers)
        fetched = self.read_configs()
        states = {ch: self.steps_of(per) for ch, per in fetched.items()}
        unreachable = [f"{o} ({ch})" for ch, per in fetched.items() for o, f in per.items()
                       if isinstance(f, OnlineError)]
        normal_raft = [ch for ch, per in states.items() if ChannelStep.RAFT_NORMAL in per.values()]
        if normal_raft:
            raise AbortRefused(f"cannot abort: {', '.join(normal_raft)} already left maintenance on etcdraft (the "
                               "point of no return): transactions may have been ordered by Raft since, and restoring "
                               "the Kafka backups would lose them. Finish with --resume")
        switched = [ch for ch, per in states.items() if ChannelStep.RAFT_MAINTENANCE in per.values()]
        backup_data = self._journal_data("backup/copy")
        done = self.journal.done_steps()
        if switched or "abort/restore" in self.journal.state():
            if "abort/restore" not in done:
                if not backup_data.get("files"):
                    raise AbortRefused(f"cannot abort: {', '.join(switched)} already switched to etcdraft and the "
                                       f"journal {self.journal.path} records no backup to restore")
                self._abort_step("abort/restore", lambda: self._restore(backup_data), report)
                states = {ch: self.steps_of(self.admin.fetch_all(ch)) for ch in self.channels}
        elif unreachable:
            raise AbortRefused(f"cannot abort now: {', '.join(unreachable)} do not answer; start them first")
        for ch in self.channels:
            name = f"abort/exit-maintenance/{ch}"
            if name in done:
                continue
            self._abort_step(name, lambda ch=ch: self._abort_exit(ch), report)
        self.journal.note("aborted")
        report.meta["journal_archived"] = str(self.journal.archive())
        report.add(Finding("migration", Severity.OK, "aborted: every channel is kafka/STATE_NORMAL again"))
        return report.finish()

    def _abort_step(self, name: str, fn: Callable[[], dict[str, Any] | None], report: Report) -> None:
        try:
            data = self._step(name, fn)
        except OpskitError as exc:  # HostUnreachable included
            report.add(Finding(f"step.{name}", Severity.CRITICAL, f"{name}: {exc}"))
            raise OpskitError(f"abort stopped at {name}: {exc}; fix the cause and run --abort again",
                              exit_code=2) from None
        report.add(Finding(f"step.{name}", Severity.OK, f"{name}: {self._describe(name, data)}", data=data,
                           changed=self._changed(name, data)))

    def _abort_exit(self, ch: str) -> dict[str, Any]:
        cur = self.admin.fetch_config(ch)
        step = channel_step(cur.config)
        expect = (lambda c: channel_step(c) is ChannelStep.KAFKA_NORMAL)
        if step is ChannelStep.KAFKA_NORMAL:
            return {"already": True, "verified_on": sorted(self.admin.wait_all(ch, expect, timeout=self.opts.timeout))}
        new = abort_exit_maintenance(cur.config)
        res = self.admin.submit(ch, cur.config, compute_update(cur.config, new, ch), expect=expect,
                                timeout=self.opts.timeout, name="abort")
        return {"orderer": res.orderer, "sequence": res.sequence, "block": res.block, "signers": res.signers,
                "verified_on": res.verified_on}

    def _restore(self, backup_data: dict[str, Any]) -> dict[str, Any]:
        files = [BackupFile.from_dict(d) for d in backup_data["files"]]
        self._stop(self.orderers, self.opts.stop_timeout)
        self._stop(self.kafka, self.opts.kafka_stop_timeout)
        self._stop(self.zookeeper, self.opts.stop_timeout)
        by_host: dict[str, list[BackupFile]] = {}
        for f in files:
            by_host.setdefault(f.host, []).append(f)

        def restore_host(host: str) -> dict[str, Any]:   # the files of one host in order, hosts in parallel
            return {f"{f.container}:{f.path}": restore(self.host(host), f) for f in by_host[host]}

        restored: dict[str, Any] = {}
        for got in map_hosts(self.inv, list(by_host), restore_host):
            restored.update(got)
        self._start(self.zookeeper)
        self._start(self.kafka)
        self._start(self.orderers)
        keys = list(self.opts.raft_env)

        def with_raft_env(dh: DockerHost, o: Node) -> bool:
            cfg = dh.inspect(o.container_name)
            return cfg is not None and any(k in cfg.env for k in keys)

        raft = self._on_nodes(self.orderers, with_raft_env)
        for o in self.orderers:   # one at a time: each is gated against the others' heights
            if raft[o.name]:
                self._recreate(o, unset=keys)
        self._wait_serving(lambda c: channel_step(c) is ChannelStep.KAFKA_MAINTENANCE)
        return {"restored": restored}

    # -- status ---------------------------------------------------------------------------------------------
    def status(self) -> Report:
        report = Report("orderer.migration-status", inventory=self.inv.source)
        fetched = self.read_configs()
        leaders, missing = self.leaders()
        for ch in self.channels:
            per = fetched[ch]
            steps = self.steps_of(per)
            down = sorted(o for o, f in per.items() if isinstance(f, OnlineError))
            kinds = sorted({s.value for s in steps.values()})
            data = {"channel": ch, "states": {o: s.value for o, s in steps.items()}, "leaders": leaders.get(ch, []),
                    "unreachable": down}
            if down or len(kinds) != 1:
                sev = Severity.CRITICAL
                msg = (f"{ch}: orderers disagree: " + ", ".join(f"{o} {s.value}" for o, s in sorted(steps.items()))
                       + (f"; not answering: {', '.join(down)}" if down else ""))
            else:
                state = ChannelStep(kinds[0])
                if state is ChannelStep.RAFT_NORMAL:
                    ls = leaders.get(ch, [])
                    sev = Severity.OK if len(ls) == 1 else Severity.CRITICAL
                    msg = f"{ch}: etcdraft/STATE_NORMAL on {len(steps)}/{len(per)} orderers; " + (
                        f"leader {ls[0]}" if len(ls) == 1 else f"{len(ls)} leaders ({', '.join(ls) or 'none'})")
                elif state is ChannelStep.KAFKA_NORMAL:
                    sev = Severity.OK
                    msg = f"{ch}: kafka/STATE_NORMAL on {len(steps)} orderers (not migrated)"
                else:
                    sev = Severity.WARNING
                    msg = f"{ch}: {state.value} on {len(steps)} orderers (migration under way; next update " \
                          f"{state.next_update})"
                    if state is ChannelStep.RAFT_MAINTENANCE and leaders.get(ch):
                        msg += f"; leader {', '.join(leaders[ch])}"
            report.add(Finding("migration.state", sev, msg, node=ch, data=data))
        for node, why in missing.items():
            report.add(Finding("orderer.metrics", Severity.WARNING, f"{node}: no metrics: {why}", node=node))
        if self.journal.path.exists():
            flight = self.journal.in_flight()
            report.add(Finding("migration.journal", Severity.WARNING,
                               f"a migration journal is open ({self._last_event()}"
                               + (f"; under way: {', '.join(flight)}" if flight else "")
                               + "): continue with --resume or undo with --abort",
                               data={"journal": str(self.journal.path), "in_flight": flight}))
        else:
            report.add(Finding("migration.journal", Severity.OK, "no migration in progress"))
        return report.finish()
