"""aws.*: ECR repositories, ECS deployments that notice rollbacks, MSK configurations and clusters.

boto3 is imported inside the task bodies only (``inv --list`` stays fast). Credentials come
from boto3's chain; the inventory's ``aws:`` section gives region, profile and endpoint URL.
Exit codes: 0 ok, 1 warning, 2 failed (deployment FAILED / rolled back / timed out),
3 bad input or unknown resource (nothing changed). ``--check`` shows what would change.
"""

from __future__ import annotations

import sys
from typing import Any

from opskit.tasks.runner import task

from opskit.tasks import runner

PLAN_HELP = "show what would change, change nothing"
TIMEOUT_HELP = "deadline for the rollout/operation, e.g. 90s, 20m, 1h30m"
INTERVAL_HELP = "seconds between two status requests"
RENAMED = {"plan": "check"}   # --plan keeps working
#: --timeout / --interval: durations, checked while parsing (exit 3 before any AWS call)
DURATIONS = {"timeout": runner.Parsed("opskit.aws.poll:parse_duration"),
             "interval": runner.Parsed("opskit.aws.poll:parse_duration")}


def _setup(inventory: str | None) -> tuple[Any, Any]:
    from opskit.aws.session import Aws, AwsTarget

    inv = runner.inventory(inventory)
    return Aws(AwsTarget.from_inventory(inv)), inv


def _report(name: str, inv: Any, aws: Any, plan: bool) -> Any:
    from opskit.output.report import Report

    return Report(task=name, inventory=inv.source, meta={"aws": aws.target.describe(), "plan": bool(plan)},
                  contacted=f"AWS ({aws.target.describe()})")


def _add(report: Any, check: str, severity: int, message: str, *, changed: bool = False, **data: Any) -> None:
    """``changed``: this finding reports a change made in AWS (a no-op or a plan says False)."""
    from opskit.output.report import Finding, Severity

    report.add(Finding(check=check, severity=Severity(severity), message=message, data=data, changed=changed))


def _run_change(task_name: str, inv: Any, aws: Any, build: Any, check: bool, json_: bool, diff: bool,
                detailed_exitcode: bool, *, progress: Any = None, finish_report: Any = None) -> None:
    """Every changing aws.* task ends here: the operation planned, applied unless --check, verified, reported
    (opskit.change via runner.run_change), with what AWS target it talked to."""
    try:
        runner.run_change(task_name, inv.source, build, check=check, diff=diff, as_json=json_,
                          detailed_exitcode=detailed_exitcode, meta={"aws": aws.target.describe(), "plan": bool(check)},
                          contacted=f"AWS ({aws.target.describe()})", finish_report=finish_report)
    finally:
        if progress is not None:
            progress.close()


def _progress(title: str, check: bool) -> Any:
    """Progress of a watched rollout on stderr (a spinner on a terminal); a check watches nothing."""
    from opskit.change.progress import Progress

    return Progress(title, enabled=not check, spinner=not check)


# =========================================================================== ECR
@task(renamed=RENAMED, numbers={"lifecycle_keep": runner.count(1)}, help={
    "repo": "repository name, e.g. team/app",
    "lifecycle_keep": "keep the newest N images, expire older ones (default 30)",
    "plan": PLAN_HELP,
})
def ecr_ensure(c, repo, *, inventory=None, json_=False, plan=False, lifecycle_keep="30", diff=False,
               detailed_exitcode=False):
    """Make sure an ECR repository exists with a lifecycle policy (exit 0/3)."""
    from opskit.aws.errors import BadInput

    with runner.task_errors():
        try:
            keep = int(lifecycle_keep)
        except (TypeError, ValueError):
            raise BadInput(f"--lifecycle-keep must be a number, got {lifecycle_keep!r}") from None
        from opskit.aws.ecr import check_repository_name, lifecycle_policy

        check_repository_name(repo)       # bad input: exit 3 before any AWS call
        lifecycle_policy(keep)
        aws, inv = _setup(inventory)

    def build() -> Any:
        from opskit.aws.operations import EcrRepository

        return EcrRepository(aws, repo, keep)

    def uri(op: Any, report: Any) -> None:
        report.meta["repository_uri"] = op.uri

    _run_change("aws.ecr-ensure", inv, aws, build, plan, json_, diff, detailed_exitcode, finish_report=uri)


# =========================================================================== ECS
@task(renamed=RENAMED, numbers=DURATIONS, help={
    "cluster": "ECS cluster name or ARN", "service": "ECS service name or ARN",
    "image": "IMAGE:TAG (a release tag, not latest) or IMAGE@sha256:...",
    "container": "container to change (needed when the task definition has several)",
    "ssm_path": "set the container's secrets from every SSM parameter directly under this path",
    "timeout": TIMEOUT_HELP + " (default 20m)", "interval": INTERVAL_HELP + " (default 10)",
    "plan": PLAN_HELP,
})
def ecs_deploy(c, cluster, service, *, inventory=None, json_=False, plan=False, ssm_path=None, image,
               container=None, timeout="20m", interval="10", diff=False, detailed_exitcode=False):
    """Deploy an image: copy the task definition, register, update the service, watch the rollout (exit 0/2/3)."""
    from opskit.aws import ecs
    from opskit.aws.poll import parse_duration

    with runner.task_errors():
        deadline = parse_duration(timeout, what="--timeout")
        every = parse_duration(interval, what="--interval")
        ecs.parse_image(image)  # bad image: exit 3 before any AWS call
        aws, inv = _setup(inventory)
    progress = _progress(service, plan)

    def build() -> Any:
        from opskit.aws.operations import EcsDeploy

        return EcsDeploy(aws, cluster, service, image, container=container, ssm_path=ssm_path, timeout=deadline,
                         interval=every, progress=progress)

    _run_change("aws.ecs-deploy", inv, aws, build, plan, json_, diff, detailed_exitcode, progress=progress)


@task(renamed=RENAMED, numbers=DURATIONS, help={
    "cluster": "ECS cluster name or ARN", "service": "ECS service name or ARN",
    "to_revision": "task definition revision (of the service's family) to go back to",
    "timeout": TIMEOUT_HELP + " (default 20m)", "interval": INTERVAL_HELP + " (default 10)",
    "plan": PLAN_HELP,
})
def ecs_rollback(c, cluster, service, *, inventory=None, json_=False, plan=False, to_revision, timeout="20m",
                 interval="10", diff=False, detailed_exitcode=False):
    """Point the service back at an earlier revision and watch that rollout (exit 0/2/3)."""
    from opskit.aws.poll import parse_duration

    with runner.task_errors():
        deadline = parse_duration(timeout, what="--timeout")
        every = parse_duration(interval, what="--interval")
        aws, inv = _setup(inventory)
    progress = _progress(service, plan)

    def build() -> Any:
        from opskit.aws.operations import EcsRollback

        return EcsRollback(aws, cluster, service, to_revision, timeout=deadline, interval=every, progress=progress)

    _run_change("aws.ecs-rollback", inv, aws, build, plan, json_, diff, detailed_exitcode, progress=progress)


@task(renamed=RENAMED, help={
    "cluster": "ECS cluster name or ARN", "service": "ECS service name or ARN",
    "plan": PLAN_HELP + " (read-only task: nothing)",
})
def ecs_status(c, cluster, service, *, inventory=None, json_=False, plan=False):
    """Show the service's deployments and rollout states (exit 0 ok, 1 in progress, 2 failed, 3 unknown)."""
    from opskit.aws import ecs

    with runner.task_errors():
        aws, inv = _setup(inventory)
        report = _report("aws.ecs-status", inv, aws, plan)
        if plan:
            _add(report, "ecs.status", 0, "read-only task: nothing would change")
            runner.finish(report, json_)
            return
        st = ecs.service_status(aws, cluster, service)
        for sev, message in st.verdicts():
            _add(report, "ecs.service", sev, message)
        for d in st.deployments:
            _add(report, "ecs.deployment", 0,
                 f"{d.status} {d.id} {d.task_definition} {d.rollout_state or '-'}: {d.running}/{d.desired} running, "
                 f"{d.pending} pending, {d.failed} failed" + (f" ({d.reason})" if d.reason else ""),
                 id=d.id, status=d.status, task_definition=d.task_definition, rollout_state=d.rollout_state)
        report.meta.update({"task_definition": st.task_definition, "events": st.events})
    runner.finish(report, json_)


# =========================================================================== MSK
@task(iterable=["set_"], renamed=RENAMED, numbers={"brokers": runner.count(1)}, help={
    "name": "configuration name", "kafka_version": "Kafka version, e.g. 3.6.0",
    "brokers": "broker count of the clusters that will use it (checks replication factors)",
    "set": "KEY=VALUE server property (repeat); auto.create.topics.enable is required",
    "plan": PLAN_HELP,
})
def msk_config(c, name, kafka_version, brokers, *, inventory=None, json_=False, plan=False, set_=None, diff=False,
               detailed_exitcode=False):
    """Create an MSK configuration, or a new revision when its properties changed (exit 0/3)."""
    from opskit.aws import msk
    from opskit.aws.errors import BadInput

    with runner.task_errors():
        try:
            count = int(brokers)
        except (TypeError, ValueError):
            raise BadInput(f"--brokers must be a number, got {brokers!r}") from None
        props = msk.parse_sets(set_ or [])
        msk.validate_properties(props, count)  # bad input: exit 3 before any AWS call
        aws, inv = _setup(inventory)

    def build() -> Any:
        from opskit.aws.operations import MskConfiguration

        return MskConfiguration(aws, name, kafka_version, count, props)

    _run_change("aws.msk-config", inv, aws, build, plan, json_, diff, detailed_exitcode)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@task(renamed=RENAMED, numbers={**DURATIONS, "brokers": runner.count(1), "storage": runner.count(1)}, help={
    "name": "cluster name", "kafka_version": "Kafka version, e.g. 3.6.0", "brokers": "number of brokers",
    "subnets": "2 or 3 client subnets in different AZs (comma separated)",
    "security_groups": "security groups (comma separated)", "broker_type": "default kafka.m5.large",
    "storage": "EBS GiB per broker (default 100)", "auth": "iam (default), scram or tls",
    "tls_ca": "ACM Private CA ARN(s) for --auth tls (comma separated)",
    "configuration": "MSK configuration NAME or ARN, optionally :REVISION (default latest)",
    "timeout": TIMEOUT_HELP + " (default 90m)", "interval": INTERVAL_HELP + " (default 30)",
    "plan": PLAN_HELP,
})
def msk_create(c, name, kafka_version, brokers, subnets, security_groups, *, inventory=None, json_=False, plan=False,
               broker_type="kafka.m5.large", storage=100, auth="iam", tls_ca=None, configuration=None,
               timeout="90m", interval="30", diff=False, detailed_exitcode=False):
    """Create an MSK cluster (TLS, IAM/SCRAM/TLS auth, a configuration) and poll until ACTIVE (exit 0/2/3)."""
    from opskit.aws import msk
    from opskit.aws.errors import BadInput
    from opskit.aws.poll import parse_duration

    with runner.task_errors():
        deadline = parse_duration(timeout, what="--timeout")
        every = parse_duration(interval, what="--interval")
        try:
            count, gib = int(brokers), int(storage)
        except (TypeError, ValueError):
            raise BadInput("--brokers and --storage must be numbers") from None
        spec = msk.ClusterSpec(name=name, kafka_version=kafka_version, brokers=count, subnets=_split(subnets),
                               security_groups=_split(security_groups), broker_type=broker_type, storage_gib=gib,
                               auth=auth, tls_ca_arns=_split(tls_ca), configuration=configuration)
        aws, inv = _setup(inventory)
    progress = _progress(name, plan)

    def build() -> Any:
        from opskit.aws.operations import MskCluster

        return MskCluster(aws, spec, timeout=deadline, interval=every, progress=progress)

    _run_change("aws.msk-create", inv, aws, build, plan, json_, diff, detailed_exitcode, progress=progress)


@task(renamed=RENAMED, numbers={**DURATIONS, "revision": runner.count(1)}, help={
    "cluster": "cluster name or ARN", "configuration": "MSK configuration NAME or ARN, optionally :REVISION",
    "revision": "configuration revision (default: latest)",
    "timeout": TIMEOUT_HELP + " (default 120m)", "interval": INTERVAL_HELP + " (default 30)",
    "plan": PLAN_HELP,
})
def msk_update_config(c, cluster, configuration, *, inventory=None, json_=False, plan=False, revision=None,
                      timeout="120m", interval="30", diff=False, detailed_exitcode=False):
    """Apply a configuration revision to a cluster and poll the operation until done (exit 0/2/3)."""
    from opskit.aws.errors import BadInput
    from opskit.aws.poll import parse_duration

    with runner.task_errors():
        deadline = parse_duration(timeout, what="--timeout")
        every = parse_duration(interval, what="--interval")
        try:
            rev = int(revision) if revision is not None else None
        except (TypeError, ValueError):
            raise BadInput(f"--revision must be a number, got {revision!r}") from None
        aws, inv = _setup(inventory)
    progress = _progress(cluster, plan)

    def build() -> Any:
        from opskit.aws.operations import MskConfigurationUpdate

        return MskConfigurationUpdate(aws, cluster, configuration, rev, timeout=deadline, interval=every,
                                      progress=progress)

    _run_change("aws.msk-update-config", inv, aws, build, plan, json_, diff, detailed_exitcode, progress=progress)


@task(renamed=RENAMED, help={
    "cluster": "cluster name or ARN", "auth": "iam, scram, tls or plaintext (default: the cluster's mode)",
    "plan": PLAN_HELP + " (read-only task: nothing)",
})
def msk_brokers(c, cluster, *, inventory=None, json_=False, plan=False, auth=None):
    """Print the bootstrap broker string for the cluster's client auth mode (stdout: just the string)."""
    from opskit.aws import msk

    with runner.task_errors():
        aws, inv = _setup(inventory)
        report = _report("aws.msk-brokers", inv, aws, plan)
        if plan:
            _add(report, "msk.brokers", 0, "read-only task: nothing would change")
            runner.finish(report, json_)
            return
        b = msk.bootstrap_brokers(aws, cluster, auth)
    note = (f"auth {b.auth}; reachable only from inside the cluster's VPC (subnets {', '.join(b.subnets)})"
            if b.subnets else f"auth {b.auth}; reachable only from inside the cluster's VPC")
    if json_:
        _add(report, "msk.brokers", 0, note, brokers=b.brokers, auth=b.auth, others=b.others, subnets=b.subnets)
        runner.finish(report, True)
        return
    print(b.brokers)
    print(f"opskit: {note}", file=sys.stderr)
    for mode, value in b.others.items():
        print(f"opskit: also enabled, {mode}: {value}", file=sys.stderr)
