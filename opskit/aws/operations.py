"""The AWS capabilities on the change contract (:mod:`opskit.change`), one operation per ``aws.*`` task.

Each operation's ``plan`` is the capability's own planner (real reads: describe the service, the task definition,
the SSM parameters, the cluster), turned into one :class:`~opskit.change.Change` with its before/after and the
ordered steps that make it; ``apply`` carries out that plan and watches it to the end (a rollout COMPLETED, a
cluster ACTIVE). A deployment that starts and does not get there raises
:class:`~opskit.aws.errors.DeploymentFailed`, which :func:`opskit.change.execute` reports as a CRITICAL result
(exit 2) with where it was left (``rolled_back_to``, ``state``). After an apply :func:`~opskit.change.execute`
plans again and requires an empty plan: the service really runs the new revision, the configuration really has
the properties.
"""

from __future__ import annotations

from typing import Any

from opskit.aws import ecr, ecs, msk
from opskit.aws.session import Aws
from opskit.change import Change, Plan
from opskit.change.progress import ProgressFn, fmt_duration, silent


class _AwsOperation:
    operation = "aws"

    def __init__(self, aws: Aws, *, timeout: float = 1200.0, interval: float = 10.0,
                 progress: ProgressFn | None = None) -> None:
        self.aws = aws
        self.timeout = timeout
        self.interval = interval
        self.progress = progress or silent


class EcrRepository(_AwsOperation):
    """``aws.ecr-ensure``: the repository exists and its lifecycle policy keeps the newest ``keep`` images."""

    operation = "ecr"

    def __init__(self, aws: Aws, name: str, keep: int) -> None:
        super().__init__(aws)
        self.name = ecr.check_repository_name(name)
        self.keep = keep
        self.uri: str | None = None

    def plan(self) -> Plan:
        read = ecr.ensure_repository(self.aws, self.name, keep=self.keep, plan=True)
        self.uri = read.uri
        plan = Plan(self.operation, state=read)
        if not read.changes:
            plan.notes.append(f"{self.name} exists with a policy keeping {self.keep} images: unchanged")
            return plan
        plan.changes.append(Change("create" if read.before is None else "update", f"ECR repository {self.name}",
                                   before=read.before, after=read.after, steps=tuple(read.changes)))
        return plan

    def apply(self, plan: Plan) -> None:
        self.uri = ecr.ensure_repository(self.aws, self.name, keep=self.keep).uri
        plan.changes[0].data["uri"] = self.uri


class _Rollout(_AwsOperation):
    """What an ECS deploy and an ECS rollback share: the rollout they watch, and how it is reported."""

    operation = "ecs"
    action = "deploy"

    def _planned(self, found: Any, what: str, now: str, noop: str) -> Plan:
        """One change "ACTION what (now ...)" with the planner's before/after and steps, or a note when ``found``
        (an ecs DeployPlan or RollbackPlan) says the service already runs it."""
        plan = Plan(self.operation, state=found, warnings=list(getattr(found, "warnings", [])))
        if found.noop:
            plan.notes.append(f"service {found.service} already runs {noop}: unchanged")
            return plan
        ba = found.before_after()
        plan.changes.append(Change(self.action, f"{what} (now {now})", before=ba["before"], after=ba["after"],
                                   steps=tuple(found.changes())))
        return plan

    def _rolled_out(self, plan: Plan, result: ecs.RolloutResult, image: str | None = None) -> None:
        plan.changes[0].data.update(task_definition=result.task_definition, deployment_id=result.deployment_id,
                                    state=result.state)
        plan.notes.append(f"service {result.service} runs {result.task_definition}" + (f" ({image})" if image else "")
                          + f": deployment {result.deployment_id} {result.state}, {result.running}/{result.desired} "
                            f"tasks, in {fmt_duration(result.elapsed_s)}")


class EcsDeploy(_Rollout):
    """``aws.ecs-deploy``: the service runs ``image`` (and the secrets under ``ssm_path``) in a new revision of its
    task definition, copied with every field; the rollout is watched until COMPLETED."""

    def __init__(self, aws: Aws, cluster: str, service: str, image: str, *, container: str | None = None,
                 ssm_path: str | None = None, **kw: Any) -> None:
        super().__init__(aws, **kw)
        self.cluster, self.service, self.image = cluster, service, image
        self.container, self.ssm_path = container, ssm_path

    def plan(self) -> Plan:
        p = ecs.plan_deploy(self.aws, self.cluster, self.service, self.image, container=self.container,
                            ssm_path=self.ssm_path)
        return self._planned(p, f"{p.new_image} to service {self.service} in {self.cluster}",
                             f"{p.old_image} in {p.current}", f"{p.new_image} in {p.current}")

    def apply(self, plan: Plan) -> None:
        result = ecs.deploy(self.aws, plan.state, timeout=self.timeout, interval=self.interval,
                            progress=self.progress)
        self._rolled_out(plan, result, self.image)


class EcsRollback(_Rollout):
    """``aws.ecs-rollback``: the service points at revision ``to_revision`` of its family again, rollout watched."""

    action = "rollback"

    def __init__(self, aws: Aws, cluster: str, service: str, to_revision: int | str, **kw: Any) -> None:
        super().__init__(aws, **kw)
        self.cluster, self.service, self.to_revision = cluster, service, to_revision

    def plan(self) -> Plan:
        p = ecs.plan_rollback(self.aws, self.cluster, self.service, self.to_revision)
        target = ecs.td_name(p.target_arn)
        return self._planned(p, f"service {self.service} in {self.cluster} to {target}", ecs.td_name(p.current_arn),
                             target)

    def apply(self, plan: Plan) -> None:
        self._rolled_out(plan, ecs.rollback(self.aws, plan.state, timeout=self.timeout, interval=self.interval,
                                            progress=self.progress))


class MskConfiguration(_AwsOperation):
    """``aws.msk-config``: the configuration ``name`` exists and its latest revision has ``props``."""

    operation = "msk"

    def __init__(self, aws: Aws, name: str, kafka_version: str, brokers: int, props: dict[str, str]) -> None:
        super().__init__(aws)
        self.name, self.kafka_version, self.brokers, self.props = name, kafka_version, brokers, props

    def _ensure(self, *, plan: bool) -> msk.ConfigResult:
        return msk.ensure_configuration(self.aws, self.name, self.kafka_version, self.brokers, self.props, plan=plan)

    def plan(self) -> Plan:
        read = self._ensure(plan=True)
        plan = Plan(self.operation, state=read, notes=list(read.notes))
        if read.action == "unchanged":
            plan.notes.insert(0, f"{self.name} revision {read.revision} already has these properties: unchanged")
            return plan
        plan.changes.append(Change("create" if read.action == "created" else "revise", f"MSK configuration {self.name}",
                                   before=read.before, after=read.after, steps=tuple(read.changes),
                                   data={"arn": read.arn}))
        return plan

    def apply(self, plan: Plan) -> None:
        made = self._ensure(plan=False)
        plan.changes[0].data.update(arn=made.arn, revision=made.revision)
        plan.notes.append(f"{self.name} {made.action}: revision {made.revision}")


class MskCluster(_AwsOperation):
    """``aws.msk-create``: the cluster ``spec.name`` exists and is ACTIVE (created when missing, waited for when it
    is still being created or updated)."""

    operation = "msk"

    def __init__(self, aws: Aws, spec: msk.ClusterSpec, **kw: Any) -> None:
        super().__init__(aws, **kw)
        self.spec = spec

    def plan(self) -> Plan:
        p = msk.plan_create(self.aws, self.spec)
        plan = Plan(self.operation, state=p, notes=list(p.notes))
        if p.existing is not None:
            state = p.existing.get("State")
            if state == "ACTIVE":
                plan.notes.insert(0, f"cluster {self.spec.name} exists (ACTIVE): nothing to create")
            else:
                plan.changes.append(Change("wait", f"for MSK cluster {self.spec.name} to be ACTIVE (it is {state})",
                                           before=f"cluster {self.spec.name}: {state}",
                                           after=f"cluster {self.spec.name}: ACTIVE"))
            return plan
        plan.changes.append(Change("create", f"MSK cluster {self.spec.name}", before=None,
                                   after=p.before_after().get("after"), steps=tuple(p.changes())))
        return plan

    def apply(self, plan: Plan) -> None:
        info, created = msk.create_cluster(self.aws, plan.state, timeout=self.timeout, interval=self.interval,
                                           progress=self.progress)
        plan.changes[0].data.update(arn=info.get("ClusterArn"), created=created)
        plan.notes.append(f"cluster {self.spec.name} is {info.get('State')}" + (" (created)" if created else ""))


class MskConfigurationUpdate(_AwsOperation):
    """``aws.msk-update-config``: the cluster uses ``configuration`` at ``revision`` (default: the latest); MSK
    restarts the brokers one by one and the operation is watched until UPDATE_COMPLETE."""

    operation = "msk"

    def __init__(self, aws: Aws, cluster: str, configuration: str, revision: int | None = None, **kw: Any) -> None:
        super().__init__(aws, **kw)
        self.cluster, self.configuration, self.revision = cluster, configuration, revision

    def plan(self) -> Plan:
        p = msk.plan_update_config(self.aws, self.cluster, self.configuration, self.revision)
        plan = Plan(self.operation, state=p, notes=list(p.notes))
        name = p.cluster.get("ClusterName")
        if p.noop:
            plan.notes.insert(0, f"cluster {name} already uses {p.name} revision {p.revision}: unchanged")
            return plan
        ba = p.before_after()
        plan.changes.append(Change("update", f"configuration of MSK cluster {name} to {p.name} revision {p.revision}",
                                   before=ba["before"], after=ba["after"], steps=tuple(p.changes())))
        return plan

    def apply(self, plan: Plan) -> None:
        p: msk.UpdatePlan = plan.state
        msk.update_config(self.aws, p, timeout=self.timeout, interval=self.interval, progress=self.progress)
        plan.notes.append(f"cluster {p.cluster.get('ClusterName')} uses {p.name} revision {p.revision}: "
                          "UPDATE_COMPLETE, ACTIVE")
