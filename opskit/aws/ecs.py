"""ECS: copy a task definition completely, deploy a new image, watch the rollout, roll back.

Why not ``services_stable``: boto3's waiter (and deploy tools built on it) report success
after the deployment circuit breaker rolled the service back, because the old tasks are
stable again. Here the PRIMARY deployment is watched: success means *our* task
definition's deployment reached ``rolloutState`` COMPLETED while PRIMARY. A FAILED
rollout, or another deployment (the rollback) becoming PRIMARY, is a failure (exit 2).

Task definitions are copied whole: every key of ``describe_task_definition`` that
``register_task_definition`` accepts (per botocore's model of the AWS API) is kept,
plus the tags; only the read-only keys are dropped. Keys that neither list knows are
reported, never silently lost.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opskit.aws.errors import AwsApiError, BadInput, DeploymentFailed, DeploymentTimeout, NotFound
from opskit.change.progress import ProgressFn, fmt_duration
from opskit.wait import Poller
from opskit.aws.session import Aws, api_errors
from opskit.aws.ssm import SecretRef, normalize_path, secrets_under

#: Keys of a described task definition that RegisterTaskDefinition refuses (set by ECS).
READ_ONLY_KEYS = frozenset({
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
})

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._/:-][a-z0-9]+)*$", re.IGNORECASE)
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def _noop(_: str) -> None:
    return None


# --------------------------------------------------------------------------- images / names
@dataclass(frozen=True)
class ImageRef:
    """``registry/repo:tag`` or ``registry/repo@sha256:...`` (a pinned reference)."""

    text: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image(text: str) -> ImageRef:
    """Accept only pinned images: a tag other than ``latest``, or a digest."""
    text = (text or "").strip()
    if not text or any(c.isspace() for c in text):
        raise BadInput(f"image {text!r} is empty or contains whitespace")
    name, at, rest = text.partition("@")
    digest = rest if at else None
    if digest is not None and not _DIGEST_RE.match(digest):
        raise BadInput(f"image {text!r}: digest must be sha256:<64 hex digits>")
    last = name.rsplit("/", 1)[-1]
    tag = None
    repo = name
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    if not repo or not _NAME_RE.match(repo):
        raise BadInput(f"image {text!r}: {repo!r} is not a valid repository name")
    if tag is None and digest is None:
        raise BadInput(f"image {text!r} has no tag: give IMAGE:TAG with a release tag "
                       "(an untagged image means 'latest', which cannot be rolled back to)")
    if tag is not None:
        if tag == "latest":
            raise BadInput(f"image {text!r}: the tag 'latest' moves; deploy a release tag or a digest")
        if not _TAG_RE.match(tag):
            raise BadInput(f"image {text!r}: {tag!r} is not a valid tag")
    return ImageRef(text=text, repository=repo, tag=tag, digest=digest)


def td_name(arn: str) -> str:
    """``arn:...:task-definition/app:7`` -> ``app:7`` (names pass through)."""
    return (arn or "").rsplit("/", 1)[-1]


def td_revision(arn: str) -> int:
    try:
        return int(td_name(arn).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


def td_family(arn: str) -> str:
    return td_name(arn).rsplit(":", 1)[0]


# --------------------------------------------------------------------------- lookups
def describe_service(aws: Aws, cluster: str, service: str, *, during_change: bool = False) -> dict[str, Any]:
    """The service (not INACTIVE); NotFound (exit 3) for an unknown cluster or service."""
    if not cluster or not service:
        raise BadInput("both --cluster and --service are required")
    with api_errors(f"describe ECS service {service} in cluster {cluster}", during_change=during_change):
        resp = aws.client("ecs").describe_services(cluster=cluster, services=[service])
    services = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        reasons = ", ".join(f.get("reason", "?") for f in resp.get("failures", [])) or "INACTIVE"
        raise NotFound(f"ECS service {service!r} not found in cluster {cluster!r} ({reasons})")
    return services[0]


def _prune_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_none(v) for v in value if v is not None]
    return value


def registrable(taskdef: dict[str, Any], accepted: Iterable[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Split a described task definition into what RegisterTaskDefinition accepts and what it refuses.

    Returns ``(payload, dropped_read_only, dropped_unknown)``; the payload is a deep copy.
    """
    accepted = set(accepted)
    payload = {k: copy.deepcopy(v) for k, v in taskdef.items() if k in accepted}
    dropped = sorted(k for k in taskdef if k not in accepted)
    return _prune_none(payload), [k for k in dropped if k in READ_ONLY_KEYS], [k for k in dropped if k not in READ_ONLY_KEYS]


def _register_members(aws: Aws) -> list[str]:
    model = aws.client("ecs").meta.service_model.operation_model("RegisterTaskDefinition")
    return list(model.input_shape.members)


# --------------------------------------------------------------------------- deploy plan
@dataclass
class DeployPlan:
    """Everything ``deploy`` will do; built without changing anything (``--plan`` prints it)."""

    cluster: str
    service: str
    current_arn: str
    container: str
    old_image: str
    new_image: str
    payload: dict[str, Any]
    ssm_path: str | None = None
    secrets_added: list[str] = field(default_factory=list)
    secrets_changed: list[str] = field(default_factory=list)
    secrets_removed: list[str] = field(default_factory=list)
    env_moved: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unexpected_dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        return td_family(self.current_arn)

    @property
    def current(self) -> str:
        return td_name(self.current_arn)

    @property
    def noop(self) -> bool:
        return (self.old_image == self.new_image and not self.secrets_added and not self.secrets_changed
                and not self.secrets_removed and not self.env_moved)

    def before_after(self) -> dict[str, str]:
        """The service's task definition, image and secrets before and after (``--diff``)."""
        c = self.container
        before = [f"task definition: {self.current}", f"container {c} image: {self.old_image}"]
        before += [f"container {c} secret {n}: (current)" for n in self.secrets_changed + self.secrets_removed]
        before += [f"container {c} environment {n}" for n in self.env_moved]
        after = [f"task definition: {self.family}:<next revision>", f"container {c} image: {self.new_image}"]
        after += [f"container {c} secret {n}: from {self.ssm_path}"
                  for n in self.secrets_added + self.secrets_changed + self.env_moved]
        return {"before": "\n".join(before), "after": "\n".join(after)}

    def changes(self) -> list[str]:
        if self.noop:
            return [f"service {self.service} already runs {self.new_image} in {self.current}: nothing to deploy"]
        out = [f"copy {self.current} (all fields; dropped read-only: {', '.join(self.dropped) or 'none'})"]
        if self.old_image != self.new_image:
            out.append(f"container {self.container}: image {self.old_image} -> {self.new_image}")
        for label, names in (("add", self.secrets_added), ("repoint", self.secrets_changed),
                             ("remove", self.secrets_removed)):
            if names:
                out.append(f"container {self.container}: {label} secrets from {self.ssm_path}: {', '.join(names)}")
        if self.env_moved:
            out.append(f"container {self.container}: move {', '.join(self.env_moved)} from environment to secrets")
        out.append(f"register {self.family}:<next revision> and update service {self.service} in {self.cluster}")
        out.append("watch the PRIMARY deployment until COMPLETED (FAILED or rolled back = failure)")
        return out


def _pick_container(payload: dict[str, Any], name: str | None) -> dict[str, Any]:
    containers = payload.get("containerDefinitions") or []
    names = [c.get("name") for c in containers]
    if name is None:
        if len(containers) != 1:
            raise BadInput(f"the task definition has {len(containers)} containers ({', '.join(map(str, names))}): "
                           "say which one with --container")
        return containers[0]
    for c in containers:
        if c.get("name") == name:
            return c
    raise NotFound(f"container {name!r} is not in the task definition (containers: {', '.join(map(str, names))})")


def _is_under(value_from: str, path: str) -> bool:
    """Is this secret's SSM parameter (ARN or name) directly under ``path``?"""
    name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
    if not name.startswith("/"):
        return False
    parent = name.rsplit("/", 1)[0] or "/"
    return parent == path


def _merge_secrets(container: dict[str, Any], refs: list[SecretRef], path: str, plan: DeployPlan) -> None:
    existing = list(container.get("secrets") or [])
    wanted = {r.name: r.value_from for r in refs}
    merged: list[dict[str, str]] = []
    seen: set[str] = set()
    for entry in existing:
        name, value_from = entry.get("name", ""), entry.get("valueFrom", "")
        if name in wanted:
            if value_from != wanted[name]:
                plan.secrets_changed.append(name)
            merged.append({**entry, "valueFrom": wanted[name]})
            seen.add(name)
        elif _is_under(value_from, path):
            plan.secrets_removed.append(name)  # its parameter is gone from the path
        else:
            merged.append(entry)  # e.g. Secrets Manager references: kept as they are
    for ref in refs:
        if ref.name not in seen:
            merged.append(ref.as_ecs())
            plan.secrets_added.append(ref.name)
    container["secrets"] = merged
    env = container.get("environment") or []
    moved = [e.get("name") for e in env if e.get("name") in wanted]
    if moved:
        container["environment"] = [e for e in env if e.get("name") not in wanted]
        plan.env_moved.extend(str(m) for m in moved)


def plan_deploy(aws: Aws, cluster: str, service: str, image: str, *, container: str | None = None,
                ssm_path: str | None = None) -> DeployPlan:
    """Validate everything and compute the new task definition; changes nothing."""
    ref = parse_image(image)
    path = normalize_path(ssm_path) if ssm_path else None
    svc = describe_service(aws, cluster, service)
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        raise BadInput(f"service {service} uses the {controller} deployment controller; ecs-deploy drives rolling "
                       "(ECS) deployments only")
    current_arn = svc["taskDefinition"]
    ecs = aws.client("ecs")
    with api_errors(f"describe task definition {td_name(current_arn)}"):
        described = ecs.describe_task_definition(taskDefinition=current_arn, include=["TAGS"])
    payload, dropped, unexpected = registrable(described["taskDefinition"], _register_members(aws))
    if described.get("tags"):
        payload["tags"] = copy.deepcopy(described["tags"])
    target = _pick_container(payload, container)
    plan = DeployPlan(cluster=cluster, service=service, current_arn=current_arn, container=target["name"],
                      old_image=target.get("image", ""), new_image=ref.text, payload=payload, ssm_path=path,
                      dropped=dropped, unexpected_dropped=unexpected)
    breaker = (svc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker")
    if "deploymentConfiguration" in svc and not (breaker or {}).get("enable"):
        plan.warnings.append(f"service {service} has the deployment circuit breaker off: a broken image keeps "
                             "failing tasks until --timeout instead of being stopped (and rolled back)")
    if unexpected:
        plan.warnings.append(f"fields unknown to this botocore's RegisterTaskDefinition were dropped: "
                             f"{', '.join(unexpected)} (upgrade botocore to keep them)")
    target["image"] = ref.text
    if path:
        refs = secrets_under(aws, path)
        if not payload.get("executionRoleArn"):
            raise BadInput(f"{td_name(current_arn)} has no executionRoleArn: ECS could not read the SSM "
                           "parameters at task start; add an execution role allowed ssm:GetParameters first")
        _merge_secrets(target, refs, path, plan)
    return plan


# --------------------------------------------------------------------------- rollout watcher
@dataclass
class RolloutResult:
    cluster: str
    service: str
    task_definition: str
    deployment_id: str | None
    state: str
    running: int
    desired: int
    elapsed_s: float
    polls: int
    noop: bool = False


def _counts(d: dict[str, Any]) -> tuple[int, int, int, int]:
    return (int(d.get("runningCount", 0)), int(d.get("desiredCount", 0)), int(d.get("pendingCount", 0)),
            int(d.get("failedTasks", 0)))


def _recent_events(svc: dict[str, Any], n: int = 3) -> str:
    msgs = [e.get("message", "").rstrip(".") for e in (svc.get("events") or [])[:n] if e.get("message")]
    return (" Recent service events: " + " | ".join(msgs) + ".") if msgs else ""


def watch_rollout(aws: Aws, cluster: str, service: str, target_arn: str, *, previous_arn: str | None,
                  timeout: float, interval: float, first: dict[str, Any] | None = None,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                  progress: ProgressFn | None = None) -> RolloutResult:
    """Poll DescribeServices until the deployment of ``target_arn`` is PRIMARY and COMPLETED.

    Raises :class:`DeploymentFailed` (exit 2) when it FAILED or another deployment became
    PRIMARY (the circuit breaker's rollback, naming the revision it went back to), and
    :class:`DeploymentTimeout` (exit 2) at the deadline.
    """
    progress = progress or _noop
    target = td_name(target_arn)
    previous = td_name(previous_arn) if previous_arn else None
    started = clock()
    ours: dict[str, Any] = {"id": None, "last": None}

    def identify(deployments: list[dict[str, Any]]) -> None:
        if ours["id"] is None:
            mine = [d for d in deployments if td_name(d.get("taskDefinition", "")) == target]
            # PRIMARY first; a FAILED one only when the breaker was faster than our first look
            for d in [d for d in mine if d.get("status") == "PRIMARY"] + [
                    d for d in mine if d.get("rolloutState") == "FAILED"]:
                ours["id"] = d.get("id")
                break

    if first:
        identify(first.get("deployments") or [])

    def step() -> RolloutResult | None:
        try:
            svc = describe_service(aws, cluster, service, during_change=True)
        except (AwsApiError, NotFound) as exc:
            raise DeploymentFailed(f"lost track of the deployment of {target}: {exc}. ECS carries on without us: "
                                   f"check `inv aws.ecs-status --cluster {cluster} --service {service}`") from None
        deployments = svc.get("deployments") or []
        identify(deployments)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if ours["id"] is None:
            now_on = td_name(primary.get("taskDefinition", "")) if primary else "nothing"
            progress(f"waiting for ECS to start a deployment of {target} (PRIMARY: {now_on})")
            return None
        mine = next((d for d in deployments if d.get("id") == ours["id"]), None)
        ours["last"] = mine or ours["last"]
        if primary is not None and primary.get("id") != ours["id"]:
            back = td_name(primary.get("taskDefinition", ""))
            last = ours["last"] or {}
            reason = (last.get("rolloutStateReason") or "no reason given").rstrip(".")
            state = last.get("rolloutState") or "GONE"
            if back == previous or state == "FAILED":
                msg = (f"deployment {ours['id']} of {target} {state}: {reason}. The circuit breaker rolled "
                       f"service {service} back to {back}")
            else:
                msg = (f"deployment {ours['id']} of {target} was replaced by deployment {primary.get('id')} "
                       f"of {back} before it completed")
            progress(f"{target} {state}; PRIMARY is now {back}")
            raise DeploymentFailed(msg + "." + _recent_events(svc), rolled_back_to=back, state=state)
        if mine is None:
            progress(f"deployment {ours['id']} of {target} is gone and no deployment is PRIMARY")
            return None
        running, desired, pending, failed = _counts(mine)
        rollout = mine.get("rolloutState")
        others = len(deployments) - 1
        text = (f"{target} {rollout or 'rolling'}: {running}/{desired} running, {pending} pending"
                + (f", {failed} failed tasks" if failed else "") + (f", {others} older deployment(s) draining" if others else ""))
        progress(text)
        elapsed = clock() - started
        if rollout == "COMPLETED" or (rollout is None and running == desired and not others):
            return RolloutResult(cluster=cluster, service=service, task_definition=target, deployment_id=ours["id"],
                                 state=rollout or "STEADY", running=running, desired=desired,
                                 elapsed_s=elapsed, polls=poller.polls)
        if rollout == "FAILED":
            hint = f" Roll back with `inv aws.ecs-rollback --to-revision {td_revision(previous)}`" if previous else ""
            raise DeploymentFailed(
                f"deployment {ours['id']} of {target} FAILED: {(mine.get('rolloutStateReason') or 'no reason given').rstrip('.')}. "
                f"The circuit breaker stopped it without rolling back: service {service} stays on {target} with "
                f"{running}/{desired} tasks running.{hint}{_recent_events(svc)}", state="FAILED")
        return None

    def on_timeout(elapsed: float) -> Exception:
        last = ours["last"] or {}
        running, desired, pending, failed = _counts(last)
        state = last.get("rolloutState") or ("not started" if ours["id"] is None else "unknown")
        hint = (f" roll back with `inv aws.ecs-rollback --cluster {cluster} --service {service} "
                f"--to-revision {td_revision(previous)}`," if previous else "")
        return DeploymentTimeout(
            f"deployment of {target} to service {service} did not complete within {fmt_duration(elapsed)} "
            f"(rolloutState {state}, {running}/{desired} running, {pending} pending, {failed} failed tasks). "
            f"ECS keeps trying: watch it with `inv aws.ecs-status`,{hint} or wait longer with a larger --timeout",
            state=state)

    poller: Poller[RolloutResult] = Poller(timeout=timeout, interval=interval, clock=clock, sleep=sleep)
    return poller.run(step, on_timeout)


# --------------------------------------------------------------------------- deploy / rollback
def _discard(aws: Aws, arn: str) -> str:
    try:
        with api_errors(f"deregister {td_name(arn)}", during_change=True):
            aws.client("ecs").deregister_task_definition(taskDefinition=arn)
        return f"the new revision {td_name(arn)} was deregistered again (INACTIVE), nothing is left half-done"
    except AwsApiError as exc:
        return (f"the new revision {td_name(arn)} stays registered but unused ({exc}); remove it with "
                f"`aws ecs deregister-task-definition --task-definition {td_name(arn)}`")


def _update_service(aws: Aws, cluster: str, service: str, arn: str, current: str, *,
                    registered_here: bool) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return aws.client("ecs").update_service(cluster=cluster, service=service, taskDefinition=arn)["service"]
    except ClientError as exc:
        err = exc.response.get("Error", {})
        note = _discard(aws, arn) if registered_here else "nothing else was changed"
        raise DeploymentFailed(
            f"update of service {service} to {td_name(arn)} failed: {err.get('Code')}: {err.get('Message', '')}. "
            f"The service was not changed and still runs {td_name(current)}; {note}") from None
    except Exception as exc:  # timeouts, connection loss: the update may or may not have happened
        raise DeploymentFailed(
            f"update of service {service} to {td_name(arn)}: no answer from ECS ({exc}). It is unknown whether "
            f"the service was updated: check `inv aws.ecs-status --cluster {cluster} --service {service}`; "
            f"{td_name(arn)} stays registered") from None


def deploy(aws: Aws, plan: DeployPlan, *, timeout: float, interval: float = 10.0,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
           progress: ProgressFn | None = None) -> RolloutResult:
    """Register the planned task definition, point the service at it and watch the rollout."""
    progress = progress or _noop
    if plan.noop:
        return RolloutResult(cluster=plan.cluster, service=plan.service, task_definition=plan.current,
                             deployment_id=None, state="UNCHANGED", running=0, desired=0, elapsed_s=0.0, polls=0,
                             noop=True)
    with api_errors(f"register a new revision of {plan.family}"):
        new_arn = aws.client("ecs").register_task_definition(**plan.payload)["taskDefinition"]["taskDefinitionArn"]
    progress(f"registered {td_name(new_arn)} ({plan.new_image})")
    first = _update_service(aws, plan.cluster, plan.service, new_arn, plan.current_arn, registered_here=True)
    progress(f"service {plan.service} updated to {td_name(new_arn)}")
    return watch_rollout(aws, plan.cluster, plan.service, new_arn, previous_arn=plan.current_arn, first=first,
                         timeout=timeout, interval=interval, clock=clock, sleep=sleep, progress=progress)


@dataclass
class RollbackPlan:
    cluster: str
    service: str
    current_arn: str
    target_arn: str

    @property
    def noop(self) -> bool:
        return td_name(self.current_arn) == td_name(self.target_arn)

    def before_after(self) -> dict[str, str]:
        return {"before": f"service {self.service}: {td_name(self.current_arn)}",
                "after": f"service {self.service}: {td_name(self.target_arn)}"}

    def changes(self) -> list[str]:
        if self.noop:
            return [f"service {self.service} already runs {td_name(self.target_arn)}: nothing to roll back"]
        return [f"update service {self.service} in {self.cluster}: {td_name(self.current_arn)} -> "
                f"{td_name(self.target_arn)}",
                "watch the PRIMARY deployment until COMPLETED (FAILED or rolled back = failure)"]


def plan_rollback(aws: Aws, cluster: str, service: str, to_revision: int | str) -> RollbackPlan:
    try:
        revision = int(to_revision)
    except (TypeError, ValueError):
        raise BadInput(f"--to-revision must be a revision number, got {to_revision!r}") from None
    if revision < 1:
        raise BadInput(f"--to-revision must be >= 1, got {revision}")
    svc = describe_service(aws, cluster, service)
    current = svc["taskDefinition"]
    wanted = f"{td_family(current)}:{revision}"
    try:
        with api_errors(f"describe task definition {wanted}"):
            td = aws.client("ecs").describe_task_definition(taskDefinition=wanted)["taskDefinition"]
    except (NotFound, AwsApiError) as exc:
        raise NotFound(f"revision {revision} of task definition family {td_family(current)} does not exist ({exc})") from None
    if td.get("status") not in (None, "ACTIVE"):
        raise BadInput(f"{wanted} is {td.get('status')}: register it again (ecs-deploy with its image) instead")
    return RollbackPlan(cluster=cluster, service=service, current_arn=current, target_arn=td["taskDefinitionArn"])


def rollback(aws: Aws, plan: RollbackPlan, *, timeout: float, interval: float = 10.0,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
             progress: ProgressFn | None = None) -> RolloutResult:
    progress = progress or _noop
    if plan.noop:
        return RolloutResult(cluster=plan.cluster, service=plan.service, task_definition=td_name(plan.target_arn),
                             deployment_id=None, state="UNCHANGED", running=0, desired=0, elapsed_s=0.0, polls=0,
                             noop=True)
    first = _update_service(aws, plan.cluster, plan.service, plan.target_arn, plan.current_arn, registered_here=False)
    progress(f"service {plan.service} updated to {td_name(plan.target_arn)}")
    return watch_rollout(aws, plan.cluster, plan.service, plan.target_arn, previous_arn=plan.current_arn,
                         first=first, timeout=timeout, interval=interval, clock=clock, sleep=sleep, progress=progress)


# --------------------------------------------------------------------------- status
@dataclass
class DeploymentView:
    id: str
    status: str
    task_definition: str
    rollout_state: str | None
    reason: str | None
    running: int
    desired: int
    pending: int
    failed: int


@dataclass
class ServiceStatus:
    cluster: str
    service: str
    task_definition: str
    desired: int
    running: int
    pending: int
    deployments: list[DeploymentView]
    events: list[str]
    circuit_breaker: dict[str, Any] | None

    def verdicts(self) -> list[tuple[int, str]]:
        """(severity 0/1/2, message) pairs: the task turns them into findings."""
        out: list[tuple[int, str]] = []
        primary = next((d for d in self.deployments if d.status == "PRIMARY"), None)
        if primary is None:
            return [(2, "no PRIMARY deployment")]
        for d in self.deployments:
            if d is not primary and d.rollout_state == "FAILED":
                out.append((1, f"deployment {d.id} of {d.task_definition} FAILED and was rolled back to "
                               f"{primary.task_definition}: {d.reason or 'no reason given'}"))
        if primary.rollout_state == "FAILED":
            out.append((2, f"PRIMARY deployment of {primary.task_definition} FAILED: {primary.reason or 'no reason'}; "
                           f"{primary.running}/{primary.desired} running"))
        elif primary.rollout_state == "IN_PROGRESS":
            out.append((1, f"deployment of {primary.task_definition} IN_PROGRESS: {primary.running}/{primary.desired} "
                           f"running, {primary.failed} failed tasks"))
        elif self.running < self.desired:
            out.append((1, f"{self.running}/{self.desired} tasks running on {primary.task_definition}"))
        if self.circuit_breaker is not None and not self.circuit_breaker.get("enable"):
            out.append((1, "deployment circuit breaker is off: a broken deployment retries forever"))
        if not out:
            out.append((0, f"{self.service} runs {primary.task_definition}: {self.running}/{self.desired} tasks, "
                           f"rollout {primary.rollout_state or 'steady'}"))
        return out


def service_status(aws: Aws, cluster: str, service: str) -> ServiceStatus:
    svc = describe_service(aws, cluster, service)
    views = []
    for d in svc.get("deployments") or []:
        running, desired, pending, failed = _counts(d)
        views.append(DeploymentView(id=d.get("id", ""), status=d.get("status", ""),
                                    task_definition=td_name(d.get("taskDefinition", "")),
                                    rollout_state=d.get("rolloutState"), reason=d.get("rolloutStateReason"),
                                    running=running, desired=desired, pending=pending, failed=failed))
    breaker = (svc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker")
    return ServiceStatus(cluster=cluster, service=service, task_definition=td_name(svc.get("taskDefinition", "")),
                         desired=int(svc.get("desiredCount", 0)), running=int(svc.get("runningCount", 0)),
                         pending=int(svc.get("pendingCount", 0)), deployments=views,
                         events=[e.get("message", "") for e in (svc.get("events") or [])[:5]],
                         circuit_breaker=breaker if "deploymentConfiguration" in svc else None)
