"""The one engine that changes containers safely; ``container.replace`` and both rollouts drive it.

Per node (every step journaled *before* it runs, on the machine running opskit):

  preflight  host reachable, target image present (or pulled), room for the backup, heights before
  backup     optional: each data path as ``<backup-dir>/<container>-<stamp>-<path>.tar.gz`` (``docker cp``)
  rename     NAME -> NAME-opskit-old (it keeps running and serving)
  stop       the old container
  copy:PATH  volumes rollout: a new named volume gets the data the old container has at PATH
  create     NAME from the old container's own settings plus the changes (``docker create`` argv)
  start      the new container
  gate       running, healthy, heights not below before and within N blocks of the channel's best
  compose    the node's compose file on its host, when the inventory names one
  cleanup    remove NAME-opskit-old (``--keep-old``: rename it NAME-opskit-kept-<stamp>)

A failure in create/start/gate rolls back: the new container is stopped and renamed NAME-opskit-failed,
the old one gets its name back and is started and gated. Resumption is decided from what is on the host:
NAME-opskit-old present means an earlier run stopped half-way, and the run carries on from the first
step whose effect is missing (the journal says which data copies completed). Volumes are never deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from opskit.container import compose as compose_mod
from opskit.container import datacopy
from opskit.container.config import Changes, ContainerConfig, Difference, ImageDefaults, compare
from opskit.container.docker import COPY_TIMEOUT, READ_TIMEOUT, STEP_TIMEOUT, DockerError, DockerHost, HostTrouble
from opskit.container.gate import GateOptions, as_served, baseline_heights, wait_healthy
from opskit.container.plan import QuorumError, batches, check_batch, groups
from opskit.errors import OpskitError
from opskit.inventory.model import Inventory, Node, NodeKind
from opskit.change import Change, Outcome, Plan, execute
from opskit.change.progress import ProgressFn, silent
from opskit.journal import Journal
from opskit.output.report import Finding, HostOutcome, HostStatus, Report, Severity
from opskit.remote.engine import Engine, EngineOptions, map_hosts

OLD_SUFFIX = "-opskit-old"
FAILED_SUFFIX = "-opskit-failed"
KEPT_SUFFIX = "-opskit-kept-"
COPY_LABEL = "opskit.copy-of"
OPERATIONS = ("container.replace", "rollout.volumes", "rollout.logging")
MiB = 1024 * 1024


class NodeError(OpskitError):
    """One node cannot be changed (unknown container, image missing, no room, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class Interrupted(OpskitError):
    """Ctrl-C: the run stopped; the journal says where, and a re-run resumes."""


class StopAtBoundary(KeyboardInterrupt):
    """Raised in a node's worker before its next step once Ctrl-C was pressed: no new step starts."""


@dataclass
class RecreateOptions:
    backup: bool | None = None            #: None: back up orderers only
    backup_dir: str = "/var/backups/opskit"
    backup_margin_pct: float = 10.0
    backup_margin_bytes: int = 16 * MiB
    keep_old: bool = False
    stop_timeout: int = 10
    gate: GateOptions = field(default_factory=GateOptions)
    batch: int = 1
    dry_run: bool = False
    pull: bool = True                     #: pull a target image the host does not have
    allow_image_drift: bool = False       #: rollouts: recreate even when the image tag now names another image
    timeout_scale: float = 1.0            #: multiplies every command timeout (tests shorten them)
    keep_going: bool = False              #: go on with later batches after a node failed (quorum rules still apply)


#: what a front door wants for one node, given the container it has now (None: nothing for this node)
ChangeFn = Callable[[Node, ContainerConfig, DockerHost], "NodeChange | None"]


@dataclass
class NodeChange:
    changes: Changes
    copy_paths: dict[str, str] = field(default_factory=dict)  # container path -> new volume (data copied in)
    compose: compose_mod.ComposeChange | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class NodePlan:
    node: Node
    current: ContainerConfig | None
    old: ContainerConfig | None            # NAME-opskit-old left by an interrupted run
    source: ContainerConfig                # the container whose settings and data are carried over
    spec: ContainerConfig                  # user-level settings of the new container
    desired: ContainerConfig               # what the new container will report
    target_image: ImageDefaults
    differences: list[Difference]
    change: NodeChange
    compose_edit: compose_mod.ComposeEdit | None = None
    resume_from: str | None = None         # None | "stop" | "start" | "gate"
    backup: bool = False
    data_paths: list[str] = field(default_factory=list)

    @property
    def recreate(self) -> bool:
        return bool(self.differences) or self.resume_from is not None

    @property
    def compose_changes(self) -> bool:
        return bool(self.compose_edit and self.compose_edit.changed)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "node": self.node.name, "host": self.node.host, "container": self.node.container_name,
            "recreate": self.recreate, "changes": [x.to_dict() for x in self.differences],
            "backup": self.backup, "notes": list(self.change.notes),
        }
        if self.resume_from:
            d["resume_from"] = self.resume_from
        if self.change.copy_paths:
            d["copy"] = dict(self.change.copy_paths)
        if self.compose_edit is not None:
            d["compose_file"] = self.compose_edit.path
            d["compose_diff"] = self.compose_edit.diff()
        return d


@dataclass
class NodeOutcome:
    node: str
    host: str
    status: str                      # unchanged | changed | planned | failed | rolled-back | unreachable | skipped
    message: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    heights_before: dict[str, int] = field(default_factory=dict)
    heights_after: dict[str, int] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)   # what the gate saw last (status, heights, service port)
    backup_files: list[str] = field(default_factory=list)
    compose_backup: str | None = None
    settled: bool = False            # the node is in a consistent state (no step left half-done)

    def finding(self) -> Finding:
        sev = {"unchanged": Severity.OK, "changed": Severity.OK, "planned": Severity.OK,
               "failed": Severity.CRITICAL, "rolled-back": Severity.CRITICAL, "unreachable": Severity.CRITICAL,
               "skipped": Severity.UNKNOWN}.get(self.status, Severity.UNKNOWN)
        data: dict[str, Any] = {
            "status": self.status, "plan": self.plan, "steps": self.steps,
            "heights_before": self.heights_before, "heights_after": self.heights_after,
            "gate": self.gate, "backup_files": self.backup_files, "compose_backup": self.compose_backup}
        if self.plan.get("changes") and self.status in ("planned", "changed"):
            data.update(settings_before_after(self.plan["changes"]))
        return Finding("container", sev, f"{self.status}: {self.message}" if self.message else self.status,
                       host=self.host, node=self.node, data=data, changed=self.status == "changed")


def settings_before_after(changes: list[dict[str, Any]]) -> dict[str, str]:
    """The changed settings of a container as two texts, one ``key: value`` line each (``--diff`` shows them)."""
    def text(side: str) -> str:
        return "\n".join(f"{c['key']}: {c[side] if isinstance(c[side], str) else json.dumps(c[side], sort_keys=True)}"
                         for c in changes)

    return {"before": text("current"), "after": text("desired")}


class Recreator:
    """Plans and applies container changes for one operation over one inventory."""

    def __init__(self, inv: Inventory, operation: str, change_fn: ChangeFn, options: RecreateOptions | None = None,
                 *, engine_options: EngineOptions | None = None, progress: ProgressFn | None = None,
                 journal: Journal | None = None) -> None:
        self.inv = inv
        self.operation = operation
        self.change_fn = change_fn
        self.opts = options or RecreateOptions()
        eo = dataclasses.replace(engine_options) if engine_options else EngineOptions.from_inventory(inv)
        if eo.liveness is None:
            # the per-host deadline: a host silent this long (even mid-command) is unreachable
            eo.liveness = eo.host_timeout
        self.engine = Engine(inv, eo)
        self.progress: ProgressFn = progress or silent
        self.journal = journal or Journal.for_operation(inv.name, operation)
        self._hosts: dict[str, DockerHost] = {}
        self._hosts_lock = threading.Lock()
        self.interrupted = False
        #: node -> the node as its old container served operations before the change (see gate.as_served)
        self._served: dict[str, Node] = {}
        self.stop_requested = threading.Event()  #: set by Ctrl-C: every node stops at its next step boundary

    # -- plumbing -------------------------------------------------------------------------------------------
    def host(self, name: str) -> DockerHost:
        with self._hosts_lock:
            dh = self._hosts.get(name)
            if dh is None:
                dh = DockerHost(self.inv.hosts[name], lambda h: self.engine.session(h), self.opts.timeout_scale)
                self._hosts[name] = dh
            return dh

    def close(self) -> None:
        self.engine.close()

    def _step(self, node: Node, step: str, out: NodeOutcome, fn: Callable[[], Any], **data: Any) -> Any:
        key = f"{node.name}/{step}"
        if self.stop_requested.is_set():
            # Ctrl-C: the step before this one finished (or this node had not started); leave a mark that a
            # re-run finds (it resumes this node first, from what is on the host) and start nothing new
            self.journal.begin(f"{node.name}/interrupted", before=step)
            raise StopAtBoundary(step)
        t0 = time.monotonic()
        try:
            value, seconds = self.journal.run_step(key, fn, data=data, boundary=lambda _key, phase: self.progress(
                f"{node.name}: {step} ...") if phase == "begin" else None)
        except BaseException as exc:
            out.steps.append({"step": step, "ok": False, "seconds": round(time.monotonic() - t0, 2), "error": str(exc)})
            raise
        out.steps.append({"step": step, "ok": True, "seconds": seconds})
        return value

    # -- planning (real reads, no change) -----------------------------------------------------------------------
    def plan_node(self, node: Node) -> NodePlan | None:
        dh = self.host(node.host)
        name = node.container_name
        current = dh.inspect(name)
        old = dh.inspect(name + OLD_SUFFIX)
        if current is None and old is None:
            raise NodeError(f"{node.name}: there is no container {name} on host {node.host}")
        source = old or current
        assert source is not None
        change = self.change_fn(node, source, dh)
        if change is None:
            change = NodeChange(Changes())
        src_image = dh.image(source.image_id) or ImageDefaults(id=source.image_id)
        spec = change.changes.apply(source.overrides(src_image))
        target = dh.image(spec.image)
        if target is None:
            if self.opts.pull and not self.opts.dry_run:
                ok, why = dh.pull(spec.image)
                target = dh.image(spec.image) if ok else None
                if target is None:
                    raise NodeError(f"{node.name}: image {spec.image} is not on {node.host} and cannot be pulled: {why}")
            elif self.opts.dry_run:
                change.notes.append(f"image {spec.image} is not on {node.host}: it would be pulled")
                target = ImageDefaults(id=f"(to be pulled: {spec.image})", ref=spec.image)
            else:
                raise NodeError(f"{node.name}: image {spec.image} is not on {node.host} (pull disabled)")
        if (not change.changes.image and target.id != source.image_id and source.image == spec.image
                and not self.opts.allow_image_drift and old is None):
            raise NodeError(f"{node.name}: tag {spec.image} now names another image ({target.id[:19]}) than the "
                            f"container runs ({source.image_id[:19]}); recreating would upgrade it. Use "
                            "`inv container.replace --image` to do that on purpose")
        desired = spec.effective(target)
        resume: str | None = None
        if old is not None:
            resume = "stop" if current is None else ("gate" if current.running else "start")
            diffs = compare(old, desired)
        else:
            diffs = compare(source, desired)
        backup = self.opts.backup if self.opts.backup is not None else node.kind is NodeKind.ORDERER
        plan = NodePlan(node, current, old, source, spec, desired, target, diffs, change, resume_from=resume,
                        backup=backup and (bool(diffs) or resume == "stop"))
        plan.data_paths = sorted({m.destination for m in source.mounts if m.type == "volume"}
                                 | set(change.copy_paths))
        if change.compose is not None and node.compose_file:
            plan.compose_edit = compose_mod.plan(dh, node, change.compose)
        return plan

    def plan(self, nodes: list[Node]) -> tuple[list[NodePlan], list[NodeOutcome]]:
        """Read every node's container (in parallel over hosts); plans, and outcomes for nodes that cannot be planned."""
        plans: list[NodePlan] = []
        errors: list[NodeOutcome] = []
        by_host: dict[str, list[Node]] = {}
        for n in nodes:
            by_host.setdefault(n.host, []).append(n)

        def one_host(host: str) -> list[NodePlan | NodeOutcome]:
            got: list[NodePlan | NodeOutcome] = []
            with contextlib.ExitStack() as stack:
                try:   # one look at the host for all its nodes (docker ps + one inspect), not two reads per node
                    names = [x for n in by_host[host] for x in (n.container_name, n.container_name + OLD_SUFFIX)]
                    stack.enter_context(self.host(host).snapshot(names))
                except HostTrouble as exc:
                    return [NodeOutcome(n.name, n.host, "unreachable", str(exc)) for n in by_host[host]]
                except DockerError as exc:
                    return [NodeOutcome(n.name, n.host, "failed", str(exc)) for n in by_host[host]]
                for n in by_host[host]:
                    try:
                        p = self.plan_node(n)
                        if p is not None:
                            got.append(p)
                    except HostTrouble as exc:
                        got.append(NodeOutcome(n.name, n.host, "unreachable", str(exc)))
                    except (NodeError, DockerError, compose_mod.ComposeError, OpskitError) as exc:
                        got.append(NodeOutcome(n.name, n.host, "failed", str(exc)))
            return got

        for items in map_hosts(self.inv, list(by_host), one_host):
            for item in items:
                (plans if isinstance(item, NodePlan) else errors).append(item)
        order = {n.name: i for i, n in enumerate(nodes)}
        plans.sort(key=lambda p: order[p.node.name])
        return plans, errors

    # -- running -------------------------------------------------------------------------------------------------
    def other_operations_in_flight(self) -> list[str]:
        out = []
        for op in OPERATIONS:
            if op == self.operation:
                continue
            j = Journal.for_operation(self.inv.name, op)
            flight = j.in_flight()
            if flight:
                out.append(f"{op} ({', '.join(flight[:3])})")
        return out

    def run(self, nodes: list[Node]) -> Report:
        """Plan every selected node, then (unless a dry run) change them batch by batch: :class:`ContainerRollout`
        on the change contract (:func:`opskit.change.execute`), so a dry run is exactly the run's own plan."""
        op = ContainerRollout(self, nodes)
        return op.report(execute(op, check=self.opts.dry_run))

    def _finish(self, report: Report, nodes: list[Node], outcomes: dict[str, NodeOutcome]) -> Report:
        for n in nodes:
            o = outcomes.get(n.name)
            if o is not None:
                report.add(o.finding())
        _unreachable_hosts(report, outcomes.values())
        counts: dict[str, int] = {}
        for o in outcomes.values():
            counts[o.status] = counts.get(o.status, 0) + 1
        report.meta["counts"] = counts
        report.meta["changed"] = counts.get("changed", 0)
        if not self.opts.dry_run and not counts.get("changed") and not any(
                counts.get(s) for s in ("failed", "rolled-back", "skipped")):
            report.meta["summary"] = "nothing to change: every selected container is already as asked"
        return report.finish()

    def down_now(self, batch: list[NodePlan]) -> list[str]:
        """Members of the batch's groups whose container is not running right now."""
        names = set()
        for g in groups(self.inv):
            if g.members & {p.node.name for p in batch}:
                names |= g.members
        by_host: dict[str, list[Node]] = {}
        for n in names:
            node = self.inv.nodes[n]
            by_host.setdefault(node.host, []).append(node)
        down = []
        for host, members in by_host.items():
            try:
                states = self.host(host).ps_names()
            except (HostTrouble, DockerError):
                down += [m.name for m in members]
                continue
            for m in members:
                if states.get(m.container_name) != "running":
                    down.append(m.name)
        return down

    # -- one node ------------------------------------------------------------------------------------------------
    def apply(self, p: NodePlan) -> NodeOutcome:
        out = self._apply(p)
        if out.settled:
            self._resolve(p.node, f"node {out.status}")
        elif not any(s.startswith(f"{p.node.name}/") for s in self.journal.in_flight()):
            # left half-done (e.g. a rollback that failed): keep the journal open so that a re-run settles it
            self.journal.begin(f"{p.node.name}/settle", status=out.status, message=out.message[-500:])
        return out

    def _resolve(self, node: Node, why: str) -> None:
        """Close the node's steps an earlier run left in flight (the node is now in a consistent state)."""
        for step in self.journal.in_flight():
            if step.startswith(f"{node.name}/"):
                self.journal.done(step, resolved=why)

    def _apply(self, p: NodePlan) -> NodeOutcome:
        node = p.node
        out = NodeOutcome(node.name, node.host, "changed", plan=p.describe())
        dh = self.host(node.host)
        name = node.container_name
        old_name = name + OLD_SUFFIX
        self.journal.note(f"{node.name}/plan", changes=p.change.changes.to_dict(), copy=p.change.copy_paths,
                          resume_from=p.resume_from)
        if not p.recreate:
            try:
                out.compose_backup = self._step(node, "compose", out, lambda: compose_mod.write(dh, p.compose_edit))
                out.message = f"compose file {node.compose_file} updated (container already as asked)"
                out.settled = True
            except (OpskitError, HostTrouble) as exc:
                out.status, out.message = "unreachable" if isinstance(exc, HostTrouble) else "failed", str(exc)
            return out
        stage = "preflight"
        try:
            if p.resume_from is None:
                stage = "preflight"
                out.heights_before = self._step(node, "preflight", out, lambda: self._preflight(p, dh))
                if p.backup:
                    stage = "backup"
                    out.backup_files = self._step(node, "backup", out, lambda: self._backup(p, dh))
                stage = "rename"
                self._step(node, "rename", out, lambda: dh.docker("rename", name, old_name, timeout=READ_TIMEOUT),
                           old_id=p.source.id)
            else:
                self.progress(f"{node.name}: resuming at {p.resume_from} (found {old_name})")
                out.message = f"resumed an interrupted change at step {p.resume_from}; "
                out.heights_before = self._journal_heights(node)
            if p.resume_from in (None, "stop"):
                stage = "stop"
                self._step(node, "stop", out, lambda: dh.docker("stop", "-t", str(self.opts.stop_timeout), old_name,
                                                                 timeout=STEP_TIMEOUT))
                for cpath, vol in p.change.copy_paths.items():
                    stage = f"copy:{cpath}"
                    # always (re)copied from the stopped old container: a copy cut short is redone in full
                    self._step(node, f"copy:{cpath}", out, lambda c=cpath, v=vol: self._copy(dh, old_name, c, v, p),
                               volume=vol)
        except KeyboardInterrupt:
            raise
        except (OpskitError, HostTrouble, Exception) as exc:
            return self._fail_before_create(p, out, stage, exc)
        try:
            new_id = ""
            if p.resume_from in (None, "stop"):
                stage = "create"
                res = self._step(node, "create", out, lambda: dh.docker(*p.spec.create_argv(name), timeout=STEP_TIMEOUT))
                new_id = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
            else:
                new_id = p.current.id if p.current else ""
            if p.resume_from != "gate":
                stage = "start"
                self._step(node, "start", out, lambda: dh.docker("start", name, timeout=STEP_TIMEOUT))
            stage = "gate"
            seen = self._step(node, "gate", out, lambda: wait_healthy(
                self.inv, node, dh, self.host, out.heights_before, self.opts.gate, expect_id=new_id or None,
                on_wait=lambda why: None))
            out.heights_after = dict(seen.get("heights") or {})
            out.gate = seen
        except KeyboardInterrupt:
            raise
        except HostTrouble as exc:
            out.status = "unreachable"
            out.message += (f"host {node.host} stopped answering at step {stage}: {exc}. The old container is "
                            f"{old_name}; re-run the same command once the host answers to finish or roll back")
            return out
        except (OpskitError, Exception) as exc:
            return self._rollback(p, out, stage, exc)
        try:
            if p.compose_edit is not None:
                out.compose_backup = self._step(node, "compose", out, lambda: compose_mod.write(dh, p.compose_edit))
            stage = "cleanup"
            if self.opts.keep_old:
                kept = name + KEPT_SUFFIX + datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
                self._step(node, "cleanup", out, lambda: dh.docker("rename", old_name, kept, timeout=READ_TIMEOUT))
                out.message += f"recreated; old container kept as {kept}"
            else:
                self._step(node, "cleanup", out, lambda: dh.docker("rm", old_name, timeout=STEP_TIMEOUT))
                out.message += "recreated: " + "; ".join(d.key for d in p.differences) if p.differences else "recreated"
            out.settled = True
        except KeyboardInterrupt:
            raise
        except (OpskitError, Exception) as exc:
            out.status = "unreachable" if isinstance(exc, HostTrouble) else "failed"
            out.message += f"the new container runs and is healthy, but {stage} failed: {exc}"
        return out

    def _journal_heights(self, node: Node) -> dict[str, int]:
        """Heights recorded by the interrupted run's pre-flight (the gate must not accept less)."""
        heights: dict[str, int] = {}
        for e in self.journal.events():
            if e.step == f"{node.name}/preflight" and e.phase == "note" and "heights" in e.data:
                heights = dict(e.data["heights"])
        return heights

    def _preflight(self, p: NodePlan, dh: DockerHost) -> dict[str, int]:
        node = p.node
        dh.docker("version", "--format", "{{.Server.Version}}", timeout=READ_TIMEOUT)
        if dh.image(p.spec.image) is None:
            raise NodeError(f"{node.name}: image {p.spec.image} disappeared from {node.host}")
        if p.backup:
            need, have = self._backup_room(p, dh)
            if have < need:
                raise NodeError(f"{node.name}: not enough room for the backup in {self.opts.backup_dir} on {node.host}: "
                                f"{have // MiB} MiB free, {need // MiB} MiB needed (data {p.__dict__.get('_data_bytes', 0) // MiB} MiB"
                                f" + margin); free space or use --backup-dir/--no-backup")
        self._copy_room(p, dh)
        for cpath, vol in p.change.copy_paths.items():
            info = dh.volume_exists(vol)
            if info is not None and (info.get("Labels") or {}).get(COPY_LABEL) != f"{node.container_name}:{cpath}":
                if not self._volume_empty(dh, info):
                    raise NodeError(f"{node.name}: volume {vol} already exists and holds data that opskit did not put "
                                    f"there; refusing to mount it at {cpath} (rename it or set another name)")
        served = as_served(dh, node)   # how the old container answers: what a rollback is judged by
        self._served[node.name] = served
        heights = baseline_heights(dh, served)
        self.journal.note(f"{node.name}/preflight", heights=heights, operations=served.operations)
        return heights

    def _data_bytes(self, p: NodePlan, dh: DockerHost) -> int:
        """Bytes under the node's data paths (volumes: du on the host; paths in the container layer: its size)."""
        total = 0
        srcs = [m.source for m in p.source.mounts if m.type == "volume"]
        paths = []
        for vol in srcs:
            info = dh.volume_exists(vol)
            if info and info.get("Mountpoint"):
                paths.append(info["Mountpoint"])
        if paths:
            res = dh.run(["du", "-s", "-k", "--", *paths], timeout=STEP_TIMEOUT, check=False)
            for line in res.stdout.splitlines():
                head = line.split()[:1]
                if head and head[0].isdigit():
                    total += int(head[0]) * 1024
        if any(cpath for cpath in p.change.copy_paths) or not srcs:
            res = dh.docker("container", "inspect", "--size", "--format", "{{.SizeRw}}", p.source.name,
                            timeout=STEP_TIMEOUT, check=False)
            try:
                total += int(res.stdout.strip() or 0)
            except ValueError:
                pass
        return total

    def _backup_room(self, p: NodePlan, dh: DockerHost) -> tuple[int, int]:
        data = self._data_bytes(p, dh)
        p.__dict__["_data_bytes"] = data
        need = data + max(int(data * self.opts.backup_margin_pct / 100), self.opts.backup_margin_bytes)
        dh.run(["mkdir", "-p", self.opts.backup_dir], timeout=READ_TIMEOUT)
        res = dh.run(["df", "-P", "-k", self.opts.backup_dir], timeout=READ_TIMEOUT)
        fields = res.stdout.strip().splitlines()[-1].split()
        return need, int(fields[3]) * 1024

    def _backup(self, p: NodePlan, dh: DockerHost) -> list[str]:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        files = []
        for cpath in p.data_paths or [m.destination for m in p.source.mounts if m.type == "volume"]:
            dest = datacopy.backup_name(self.opts.backup_dir, p.node.container_name, stamp, cpath)
            got = datacopy.backup_path(dh, p.source.name, cpath, dest, timeout=COPY_TIMEOUT,
                                       stall=self.engine.options.host_timeout)
            if got is not None:
                files.append(got[0])
        return files

    def _volume_empty(self, dh: DockerHost, info: dict[str, Any]) -> bool:
        mp = info.get("Mountpoint") or ""
        if not mp:
            return False
        res = dh.sh('find "$1" -mindepth 1 -maxdepth 1 | head -n 1', mp, timeout=READ_TIMEOUT, check=False)
        return res.exit_code == 0 and not res.stdout.strip()

    def _copy(self, dh: DockerHost, old_name: str, cpath: str, vol: str, p: NodePlan) -> dict[str, Any]:
        label = f"{p.node.container_name}:{cpath}"
        info = dh.volume_exists(vol)
        if info is None:
            dh.docker("volume", "create", "--label", f"{COPY_LABEL}={label}", "--label", "opskit.created=1", vol,
                      timeout=READ_TIMEOUT)
            info = dh.volume_exists(vol)
        assert info is not None
        mp = info.get("Mountpoint") or ""
        if not mp or (info.get("Driver") or "local") != "local":
            raise NodeError(f"{p.node.name}: volume {vol} is not a local volume with a mount point on {p.node.host}")
        ours = (info.get("Labels") or {}).get(COPY_LABEL) == label
        got = datacopy.copy_into_volume(dh, old_name, cpath, mp, ours=ours, margin_pct=self.opts.backup_margin_pct,
                                        margin_bytes=self.opts.backup_margin_bytes, timeout=COPY_TIMEOUT,
                                        stall=self.engine.options.host_timeout)
        result = {"volume": vol, **got.to_dict()}
        self.journal.note(f"{p.node.name}/copy:{cpath}", verified=result)
        return result

    def _copy_room(self, p: NodePlan, dh: DockerHost) -> None:
        """Refuse up front when the data to copy into new volumes cannot fit on the volumes' file system."""
        data = 0
        for cpath in p.change.copy_paths:
            data += datacopy.source_bytes(dh, p.source.name, cpath, timeout=COPY_TIMEOUT)
        if not data:
            return
        res = dh.docker("info", "--format", "{{.DockerRootDir}}", timeout=READ_TIMEOUT)
        root = res.stdout.strip() or self.inv.docker_root_of(self.inv.hosts[p.node.host])
        free = datacopy.free_kib(dh, f"{root.rstrip('/')}/volumes") * 1024
        for cpath, vol in p.change.copy_paths.items():
            info = dh.volume_exists(vol)
            if info and (info.get("Labels") or {}).get(COPY_LABEL) == f"{p.node.container_name}:{cpath}" \
                    and info.get("Mountpoint"):
                du = dh.run(["du", "-s", "-k", "--", info["Mountpoint"]], timeout=COPY_TIMEOUT, check=False)
                head = du.stdout.split()[:1]
                free += int(head[0]) * 1024 if head and head[0].isdigit() else 0  # an earlier partial copy, redone
        need = data + max(int(data * self.opts.backup_margin_pct / 100), self.opts.backup_margin_bytes)
        if free < need:
            raise NodeError(f"{p.node.name}: not enough room to copy {', '.join(p.change.copy_paths)} into new volumes "
                            f"on {p.node.host}: {data // MiB} MiB of data + margin = {need // MiB} MiB needed, "
                            f"{free // MiB} MiB free under {root}/volumes. Nothing was changed; free space and re-run")

    # -- failure paths ----------------------------------------------------------------------------------------------
    def _fail_before_create(self, p: NodePlan, out: NodeOutcome, stage: str, exc: BaseException) -> NodeOutcome:
        """Preflight/backup/rename/stop/copy failed: put the old container back under its name and running."""
        node, dh = p.node, self.host(p.node.host)
        name, old_name = node.container_name, node.container_name + OLD_SUFFIX
        out.status = "failed"
        if isinstance(exc, HostTrouble):
            out.status = "unreachable"
            out.settled = stage in ("preflight", "backup")
            out.message += (f"host {node.host} stopped answering at step {stage}: {exc}. "
                            + (f"The old container may be {old_name}; re-run the same command once the host answers"
                               if stage not in ("preflight", "backup") else "Nothing was changed on the node"))
            return out
        if stage in ("preflight", "backup"):
            out.message += f"{stage} failed, nothing changed: {exc}"
            out.settled = True
            return out
        try:
            self._restore_old(p, dh)
            out.status = "rolled-back"
            out.settled = True
            out.message += f"{stage} failed: {exc}; the old container is back as {name} and healthy"
        except (OpskitError, HostTrouble, Exception) as exc2:
            if isinstance(exc2, HostTrouble):
                out.status = "unreachable"
            out.message += f"{stage} failed: {exc}; restoring the old container failed too: {exc2}"
        return out

    def _rollback(self, p: NodePlan, out: NodeOutcome, stage: str, exc: BaseException) -> NodeOutcome:
        node, dh = p.node, self.host(p.node.host)
        name, failed_name = node.container_name, node.container_name + FAILED_SUFFIX
        out.status = "failed"
        self.progress(f"{node.name}: {stage} failed ({exc}); rolling back")

        def undo() -> None:
            cur = dh.inspect(name)
            if cur is not None and dh.inspect(name + OLD_SUFFIX) is not None:
                dh.docker("stop", "-t", "5", name, timeout=STEP_TIMEOUT, check=False)
                dh.docker("rm", "-f", failed_name, timeout=STEP_TIMEOUT, check=False)
                dh.docker("rename", name, failed_name, timeout=READ_TIMEOUT)
            self._restore_old(p, dh)

        try:
            self._step(node, "rollback", out, undo, error=str(exc))
            out.status = "rolled-back"
            out.settled = True
            out.message += (f"{stage} failed: {exc}. Rolled back: the old container is {name} again and healthy; "
                            f"the new one is kept stopped as {failed_name} for inspection")
        except (OpskitError, HostTrouble, Exception) as exc2:
            if isinstance(exc2, HostTrouble):
                out.status = "unreachable"
            out.message += f"{stage} failed: {exc}; the rollback failed too: {exc2}"
        return out

    def _restore_old(self, p: NodePlan, dh: DockerHost) -> None:
        node = p.node
        name, old_name = node.container_name, node.container_name + OLD_SUFFIX
        if dh.inspect(old_name) is not None:
            if dh.inspect(name) is not None:
                raise NodeError(f"{node.name}: both {name} and {old_name} exist; not touching either")
            dh.docker("rename", old_name, name, timeout=READ_TIMEOUT)
        cur = dh.inspect(name)
        if cur is None:
            raise NodeError(f"{node.name}: neither {name} nor {old_name} exists any more")
        if not cur.running:
            dh.docker("start", name, timeout=STEP_TIMEOUT)
        gate = GateOptions(timeout=self.opts.gate.timeout, max_lag=10**9, settle=self.opts.gate.settle,
                           poll=self.opts.gate.poll)
        wait_healthy(self.inv, self._served.get(node.name, node), dh, self.host, {}, gate)


def _unreachable_hosts(report: Report, outcomes: Iterable[NodeOutcome]) -> None:
    """Hosts that stopped answering go into the report's host list too (as the remote engine reports them)."""
    for o in outcomes:
        if o.status == "unreachable" and o.host not in {h.host for h in report.hosts}:
            report.hosts.append(HostOutcome(o.host, HostStatus.UNREACHABLE, 0.0, o.message))


def _summary(p: NodePlan) -> str:
    parts = []
    if p.resume_from:
        parts.append(f"resume at {p.resume_from}")
    if p.differences:
        parts.append("recreate: " + "; ".join(d.describe() for d in p.differences))
    if p.change.copy_paths:
        parts.append("copy data into " + ", ".join(f"{v} ({c})" for c, v in p.change.copy_paths.items()))
    if p.backup:
        parts.append("back up first")
    if p.compose_changes:
        parts.append(f"update {p.compose_edit.path}")  # type: ignore[union-attr]
    return "; ".join(parts) or "nothing to change"


@dataclass
class _RolloutRead:
    """What :meth:`ContainerRollout.plan` read, and what :meth:`ContainerRollout.apply` made of it."""

    report: Report
    nodes: list[Node]
    plans: list[NodePlan]
    outcomes: dict[str, NodeOutcome]       #: node -> how it ended (planning errors first, then the run's)
    batches: list[list[NodePlan]]
    #: a node failed pre-flight: a real run starts nothing at all
    blocked: bool = False


class ContainerRollout:
    """A container operation (``container.replace``, ``rollout.volumes``, ``rollout.logging``) over selected nodes
    on the change contract (:mod:`opskit.change`).

    ``plan`` reads every node's container in parallel (half-done nodes from the journal first), compares it with
    what the operation asks (:func:`opskit.container.config.compare`) and returns one change per container to
    recreate or compose file to update, in batch order, with the changed settings before/after. ``apply`` runs
    the batches: quorum checked before each, each node journaled step by step (:meth:`Journal.run_step`), gated on
    health, rolled back on failure, stopping at the first failure unless ``keep_going``. ``verify`` is the gate
    each node passed. A node's fate is richer than changed/unchanged (rolled back, skipped, unreachable), so the
    report is the operation's own (:meth:`report`).
    """

    def __init__(self, recreator: Recreator, nodes: list[Node]) -> None:
        self.r = recreator
        self.operation = recreator.operation
        self.nodes = list(nodes)

    def plan(self) -> Plan:
        r = self.r
        dry = r.opts.dry_run
        report = Report(task=r.operation, inventory=r.inv.source)
        others = r.other_operations_in_flight()
        if others and not dry:
            raise OpskitError(f"an interrupted run of another operation has steps in flight: {'; '.join(others)}. "
                              "Re-run that operation first so that it finishes its nodes", exit_code=3)
        previous = r.journal.in_flight()
        if previous:
            report.meta["resumed_in_flight"] = previous
            r.progress(f"resuming: steps in flight in the journal: {', '.join(previous)}")
        # nodes the journal shows half-done come first, whatever the selection
        flight_nodes = {s.split("/", 1)[0] for s in previous}
        selected = {x.name for x in self.nodes}
        nodes = [r.inv.nodes[n] for n in flight_nodes if n in r.inv.nodes and n not in selected] + self.nodes
        plans, errors = r.plan(nodes)
        report.meta["journal"] = str(r.journal.path)
        read = _RolloutRead(report, nodes, plans, {o.node: o for o in errors}, [], blocked=bool(errors) and not dry)
        for p in plans:
            if not (p.recreate or p.compose_changes):
                read.outcomes[p.node.name] = NodeOutcome(
                    p.node.name, p.node.host, "unchanged",
                    "nothing to change" + (f" ({'; '.join(p.change.notes)})" if p.change.notes else ""),
                    plan=p.describe())
                if not dry and not read.blocked:
                    # an interrupted step whose effect is complete on the host (e.g. killed just after cleanup)
                    r._resolve(p.node, "node already as asked")
        todo = [p for p in plans if p.recreate or p.compose_changes]
        fresh = [p for p in todo if not p.resume_from]
        by_name = {p.node.name: p for p in fresh}
        read.batches = [[p] for p in todo if p.resume_from]
        read.batches += [[by_name[n.name] for n in b] for b in batches(r.inv, [p.node for p in fresh if p.recreate],
                                                                       r.opts.batch)]
        read.batches += [[p] for p in fresh if not p.recreate]  # compose-only updates
        report.meta["batches"] = [[p.node.name for p in b] for b in read.batches]
        plan = Plan(self.operation, state=read)
        for b in read.batches:
            for p in b:
                d = p.describe()
                plan.changes.append(Change("recreate" if p.recreate else "update", f"{p.node.name} "
                                           f"({p.node.container_name}) on {p.node.host}", host=p.node.host,
                                           node=p.node.name, steps=tuple(_summary(p).split("; ")),
                                           data={"plan": d}, **settings_before_after(d.get("changes", []))))
        return plan

    def apply(self, plan: Plan) -> None:
        read: _RolloutRead = plan.state
        if read.blocked:
            return  # a node failed pre-flight: nothing starts (the report says which and why)
        r = self.r
        outcomes = read.outcomes
        r.journal.note("run", nodes=[n.name for n in read.nodes], batches=read.report.meta["batches"])
        failed = False
        gone: dict[str, str] = {}  # hosts that stopped answering in this run
        try:
            for i, b in enumerate(read.batches):
                if failed and not r.opts.keep_going:
                    for p in b:
                        outcomes[p.node.name] = NodeOutcome(p.node.name, p.node.host, "skipped",
                                                            "not started: the run stopped at the first failure",
                                                            plan=p.describe())
                    continue
                for p in [p for p in b if p.node.host in gone]:
                    outcomes[p.node.name] = NodeOutcome(p.node.name, p.node.host, "skipped",
                                                        f"not started: host {p.node.host} stopped answering earlier "
                                                        "in this run", plan=p.describe())
                b = [p for p in b if p.node.host not in gone]
                if not b:
                    continue
                recreating = [p for p in b if p.recreate and not p.resume_from]
                if recreating:
                    try:
                        check_batch(r.inv, [p.node.name for p in recreating], r.down_now(recreating))
                    except QuorumError as exc:
                        r.journal.note("quorum", refused=[p.node.name for p in recreating], error=str(exc))
                        for p in b:
                            outcomes[p.node.name] = NodeOutcome(p.node.name, p.node.host, "failed", str(exc),
                                                                plan=p.describe())
                        failed = True
                        continue
                r.progress(f"batch {i + 1}/{len(read.batches)}: {', '.join(p.node.name for p in b)}")
                with ThreadPoolExecutor(max_workers=len(b)) as pool:
                    futures = [pool.submit(r.apply, p) for p in b]
                    try:
                        for fut in futures:
                            o = fut.result()
                            outcomes[o.node] = o
                            if o.status in ("failed", "rolled-back", "unreachable"):
                                failed = True
                            if o.status == "unreachable":
                                gone[o.host] = o.message
                    except KeyboardInterrupt:
                        # the workers finish the step they are in and start no other (see _step); wait for them
                        r.stop_requested.set()
                        r.progress("interrupted: finishing the steps in progress, starting no new one")
                        for fut in futures:
                            try:
                                fut.result()
                            except BaseException:  # noqa: BLE001 - each worker stops with StopAtBoundary
                                pass
                        raise
        except KeyboardInterrupt:
            r.interrupted = True
            r.journal.note("run", interrupted=True)
            raise Interrupted(f"interrupted; the journal {r.journal.path} shows where. Re-run the same command "
                              "to finish the nodes that were half-way") from None

    def verify(self, plan: Plan) -> None:
        """Nothing more to read: every changed node passed the health gate, or its outcome says it did not."""

    def report(self, outcome: Outcome) -> Report:
        """Per node: planned (a dry run), changed, unchanged, rolled back, failed, skipped or unreachable."""
        read: _RolloutRead = outcome.plan.state
        report = read.report
        if read.blocked:
            for o in read.outcomes.values():
                if o.status != "unchanged":
                    report.add(o.finding())
            for p in read.plans:
                report.add(NodeOutcome(p.node.name, p.node.host, "skipped",
                                       "not started: another node failed pre-flight", plan=p.describe()).finding())
            report.meta.update(changed=0, unchanged=0, failed=sum(o.status != "unchanged"
                                                                  for o in read.outcomes.values()))
            _unreachable_hosts(report, read.outcomes.values())
            return report.finish()
        if outcome.check:
            for b in read.batches:
                for p in b:
                    read.outcomes[p.node.name] = NodeOutcome(p.node.name, p.node.host, "planned", _summary(p),
                                                             plan=p.describe())
            return self.r._finish(report, read.nodes, read.outcomes)
        report = self.r._finish(report, read.nodes, read.outcomes)
        if not self.r.journal.in_flight():
            report.meta["journal_archived"] = str(self.r.journal.archive())
        return report
