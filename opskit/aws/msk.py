"""MSK: validated configurations, clusters created and updated with a deadline, bootstrap brokers.

The ``kafka`` client has no waiters: :func:`wait_cluster` and :func:`wait_operation`
poll ``describe_cluster_v2`` / ``describe_cluster_operation`` with a deadline and progress.
A failed configuration update leaves the cluster ACTIVE again, so an update is judged
by its *operation* state (UPDATE_COMPLETE / UPDATE_FAILED), not by the cluster state.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opskit.aws.errors import AwsApiError, BadInput, DeploymentFailed, DeploymentTimeout, NotFound
from opskit.change.progress import ProgressFn, fmt_duration
from opskit.wait import Poller
from opskit.aws.session import Aws, api_errors

# --------------------------------------------------------------------------- server properties
#: Apache Kafka properties an MSK custom configuration may set (MSK developer guide,
#: "Custom MSK configurations"), with the kind of value each takes.
KNOWN_PROPERTIES: dict[str, str] = {
    "allow.everyone.if.no.acl.found": "bool",
    "auto.create.topics.enable": "bool",
    "auto.leader.rebalance.enable": "bool",
    "compression.type": "enum:gzip,snappy,lz4,zstd,uncompressed,producer",
    "connections.max.idle.ms": "int",
    "default.replication.factor": "int",
    "delete.topic.enable": "bool",
    "group.initial.rebalance.delay.ms": "int",
    "group.max.session.timeout.ms": "int",
    "group.min.session.timeout.ms": "int",
    "leader.imbalance.per.broker.percentage": "int",
    "log.cleaner.delete.retention.ms": "int",
    "log.cleaner.min.cleanable.ratio": "float",
    "log.cleanup.policy": "enum:delete,compact",
    "log.flush.interval.messages": "int",
    "log.flush.interval.ms": "int",
    "log.message.timestamp.difference.max.ms": "int",
    "log.message.timestamp.type": "enum:CreateTime,LogAppendTime",
    "log.retention.bytes": "int",
    "log.retention.hours": "int",
    "log.retention.minutes": "int",
    "log.retention.ms": "int",
    "log.roll.ms": "int",
    "log.segment.bytes": "int",
    "max.connections.per.ip": "int",
    "max.connections.per.ip.overrides": "str",
    "max.incremental.fetch.session.cache.slots": "int",
    "message.max.bytes": "int",
    "min.insync.replicas": "int",
    "num.io.threads": "int",
    "num.network.threads": "int",
    "num.partitions": "int",
    "num.recovery.threads.per.data.dir": "int",
    "num.replica.fetchers": "int",
    "offsets.retention.minutes": "int",
    "offsets.topic.replication.factor": "int",
    "replica.fetch.max.bytes": "int",
    "replica.fetch.response.max.bytes": "int",
    "replica.lag.time.max.ms": "int",
    "replica.selector.class": "str",
    "replica.socket.receive.buffer.bytes": "int",
    "socket.receive.buffer.bytes": "int",
    "socket.request.max.bytes": "int",
    "socket.send.buffer.bytes": "int",
    "transaction.max.timeout.ms": "int",
    "transaction.state.log.min.isr": "int",
    "transaction.state.log.replication.factor": "int",
    "unclean.leader.election.enable": "bool",
    "zookeeper.connection.timeout.ms": "int",
    "zookeeper.session.timeout.ms": "int",
    "local.retention.ms": "int",
    "local.retention.bytes": "int",
    "remote.log.msk.disable.policy": "str",
    "log.local.retention.ms": "int",
}

#: What MSK uses when a property is not set (default configuration of a 3-AZ cluster).
MSK_DEFAULT_REPLICATION_FACTOR = 3

_CONFIG_NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}\Z")
_CLUSTER_NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}\Z")
_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}([.-][A-Za-z0-9]+)*\Z")


def _noop(_: str) -> None:
    return None


def parse_sets(items: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` -> ordered dict; a key given twice is an error."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise BadInput(f"--set {item!r}: use KEY=VALUE")
        key, value = (part.strip() for part in item.split("=", 1))
        if not key or not value:
            raise BadInput(f"--set {item!r}: both KEY and VALUE are required")
        if key in out:
            raise BadInput(f"--set {key} given twice")
        out[key] = value
    return out


def parse_properties(text: str) -> dict[str, str]:
    """A server.properties document (as MSK stores it) -> dict; comments and blank lines skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            out[line] = ""
            continue
        out[line[:sep].strip()] = line[sep + 1:].strip()
    return out


def render_properties(props: dict[str, str]) -> str:
    return "".join(f"{k}={props[k]}\n" for k in sorted(props))


def _check_value(key: str, value: str) -> str | None:
    kind = KNOWN_PROPERTIES[key]
    if kind == "bool" and value not in ("true", "false"):
        return f"{key}={value}: must be true or false"
    if kind == "int":
        try:
            int(value)
        except ValueError:
            return f"{key}={value}: must be a whole number"
    if kind == "float":
        try:
            float(value)
        except ValueError:
            return f"{key}={value}: must be a number"
    if kind.startswith("enum:"):
        allowed = kind[5:].split(",")
        parts = [p.strip() for p in value.split(",")]
        if not all(p in allowed for p in parts):
            return f"{key}={value}: must be one of {', '.join(dict.fromkeys(allowed))}"
    return None


def validate_properties(props: dict[str, str], brokers: int) -> list[str]:
    """Check server properties against the broker count; raise BadInput listing every problem.

    Returns notes (not errors) to show to the operator.
    """
    if not isinstance(brokers, int) or brokers < 1:
        raise BadInput(f"--brokers must be a whole number >= 1, got {brokers!r}")
    problems: list[str] = []
    notes: list[str] = []
    for key, value in props.items():
        if key not in KNOWN_PROPERTIES:
            near = difflib.get_close_matches(key, list(KNOWN_PROPERTIES), n=1)
            problems.append(f"{key}: not a property MSK lets you set" + (f" (did you mean {near[0]}?)" if near else ""))
            continue
        bad = _check_value(key, value)
        if bad:
            problems.append(bad)
    if "auto.create.topics.enable" not in props:
        problems.append("auto.create.topics.enable must be set explicitly: MSK's default is false, and producers "
                        "then fail on topics nobody created (set it to true, or false and create topics yourself)")

    def as_int(key: str) -> int | None:
        try:
            return int(props[key]) if key in props else None
        except ValueError:
            return None

    rf = as_int("default.replication.factor")
    rf_text = f"default.replication.factor={rf}" if rf is not None else (
        f"default.replication.factor (unset, MSK default {MSK_DEFAULT_REPLICATION_FACTOR})")
    effective_rf = rf if rf is not None else MSK_DEFAULT_REPLICATION_FACTOR
    if rf is not None and rf < 1:
        problems.append(f"default.replication.factor={rf}: must be >= 1")
    elif effective_rf > brokers:
        problems.append(f"{rf_text} exceeds the {brokers} broker(s): creating topics would fail with a "
                        f"replication-factor error; set default.replication.factor to at most {brokers}")
    mir = as_int("min.insync.replicas")
    if mir is not None:
        if mir < 1:
            problems.append(f"min.insync.replicas={mir}: must be >= 1")
        elif mir >= effective_rf:
            problems.append(f"min.insync.replicas={mir} must be below the replication factor ({effective_rf}): "
                            "otherwise one broker down stops every acks=all producer")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        value = as_int(key)
        if value is not None and value > brokers:
            problems.append(f"{key}={value} exceeds the {brokers} broker(s)")
    tmir, trf = as_int("transaction.state.log.min.isr"), as_int("transaction.state.log.replication.factor")
    if tmir is not None and trf is not None and tmir > trf:
        problems.append(f"transaction.state.log.min.isr={tmir} exceeds transaction.state.log.replication.factor={trf}")
    parts = as_int("num.partitions")
    if parts is not None and parts < 1:
        problems.append(f"num.partitions={parts}: must be >= 1")
    if problems:
        raise BadInput("invalid MSK server properties:\n  - " + "\n  - ".join(problems))
    if props.get("auto.create.topics.enable") == "false":
        notes.append("auto.create.topics.enable=false: create every topic before producers use it")
    return notes


def check_kafka_version(version: str) -> str:
    if not version or not _VERSION_RE.match(version):
        raise BadInput(f"--kafka-version {version!r} is not a Kafka version such as 3.6.0 or 3.7.x.kraft")
    return version


# --------------------------------------------------------------------------- configurations
@dataclass
class ConfigResult:
    name: str
    arn: str | None
    revision: int | None
    action: str  # created | new revision | unchanged
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    planned: bool = False
    #: the server properties before (None: no configuration yet) and after, one ``key=value`` line each
    before: str | None = None
    after: str | None = None


def find_configuration(aws: Aws, name: str) -> dict[str, Any] | None:
    kafka = aws.client("kafka")
    with api_errors("list MSK configurations"):
        for page in kafka.get_paginator("list_configurations").paginate():
            for cfg in page.get("Configurations", []):
                if cfg.get("Name") == name and cfg.get("State") != "DELETING":
                    return cfg
    return None


def configuration_properties(aws: Aws, arn: str, revision: int) -> dict[str, str]:
    with api_errors(f"read revision {revision} of MSK configuration {arn}"):
        rev = aws.client("kafka").describe_configuration_revision(Arn=arn, Revision=revision)
    raw = rev.get("ServerProperties") or b""
    return parse_properties(raw.decode() if isinstance(raw, bytes) else str(raw))


def ensure_configuration(aws: Aws, name: str, kafka_version: str, brokers: int, props: dict[str, str], *,
                         plan: bool = False) -> ConfigResult:
    """Create the configuration, or add a revision when its properties differ from ``props``."""
    if not _CONFIG_NAME_RE.match(name or ""):
        raise BadInput(f"configuration name {name!r}: letters, digits and '-', starting with a letter or digit")
    check_kafka_version(kafka_version)
    notes = validate_properties(props, brokers)
    body = render_properties(props).encode()
    existing = find_configuration(aws, name)
    kafka = aws.client("kafka")
    if existing is None:
        result = ConfigResult(name=name, arn=None, revision=1, action="created", notes=notes, planned=plan,
                              changes=[f"create MSK configuration {name} for Kafka {kafka_version}: "
                                       + ", ".join(f"{k}={v}" for k, v in sorted(props.items()))],
                              after=render_properties(props))
        if not plan:
            with api_errors(f"create MSK configuration {name}", during_change=True):
                out = kafka.create_configuration(Name=name, KafkaVersions=[kafka_version], ServerProperties=body,
                                                 Description="managed by opskit")
            result.arn = out["Arn"]
            result.revision = int(out["LatestRevision"]["Revision"])
        return result
    arn = existing["Arn"]
    versions = existing.get("KafkaVersions") or []
    if versions and kafka_version not in versions:
        raise BadInput(f"MSK configuration {name} exists for Kafka {', '.join(versions)}; its versions cannot change, "
                       f"so clusters on {kafka_version} cannot use it: pick another --name")
    latest = int(existing["LatestRevision"]["Revision"])
    current = configuration_properties(aws, arn, latest)
    if current == props:
        return ConfigResult(name=name, arn=arn, revision=latest, action="unchanged", notes=notes, planned=plan)
    diff = [f"{k}: {current.get(k, '(unset)')} -> {props.get(k, '(unset)')}"
            for k in sorted(set(current) | set(props)) if current.get(k) != props.get(k)]
    result = ConfigResult(name=name, arn=arn, revision=latest + 1, action="new revision", notes=notes, planned=plan,
                          changes=[f"add revision {latest + 1} to MSK configuration {name}: " + "; ".join(diff)],
                          before=render_properties(current), after=render_properties(props))
    if not plan:
        with api_errors(f"add a revision to MSK configuration {name}", during_change=True):
            out = kafka.update_configuration(Arn=arn, ServerProperties=body, Description="managed by opskit")
        result.revision = int(out["LatestRevision"]["Revision"])
    return result


def resolve_configuration(aws: Aws, ref: str, revision: int | None = None) -> tuple[str, int, dict[str, Any]]:
    """``NAME``, ``NAME:REV``, ``ARN`` or ``ARN:REV`` (or ``revision``) -> (arn, revision, description)."""
    rev = revision
    base = ref
    m = re.match(r"^(.*):(\d+)$", ref or "")
    if m and (not ref.startswith("arn:") or ref.count(":") > 5):
        base, rev = m.group(1), int(m.group(2)) if rev is None else rev
    kafka = aws.client("kafka")
    if base.startswith("arn:"):
        try:
            with api_errors(f"describe MSK configuration {base}"):
                cfg = kafka.describe_configuration(Arn=base)
        except NotFound:
            raise NotFound(f"MSK configuration {base} does not exist") from None
    else:
        cfg = find_configuration(aws, base)
        if cfg is None:
            raise NotFound(f"MSK configuration {base!r} does not exist: create it with `inv aws.msk-config`")
    latest = int(cfg["LatestRevision"]["Revision"])
    rev = latest if rev is None else int(rev)
    if not 1 <= rev <= latest:
        raise NotFound(f"MSK configuration {cfg.get('Name', base)} has revisions 1..{latest}, not {rev}")
    return cfg["Arn"], rev, cfg


# --------------------------------------------------------------------------- clusters
AUTH_MODES = ("iam", "scram", "tls")
#: auth mode -> (GetBootstrapBrokers key, port)
BROKER_KEYS = {
    "iam": "BootstrapBrokerStringSaslIam",
    "scram": "BootstrapBrokerStringSaslScram",
    "tls": "BootstrapBrokerStringTls",
    "plaintext": "BootstrapBrokerString",
}


@dataclass
class ClusterSpec:
    name: str
    kafka_version: str
    brokers: int
    subnets: list[str]
    security_groups: list[str]
    broker_type: str = "kafka.m5.large"
    storage_gib: int = 100
    auth: str = "iam"
    tls_ca_arns: list[str] = field(default_factory=list)
    configuration: str | None = None
    configuration_revision: int | None = None


@dataclass
class CreatePlan:
    spec: ClusterSpec
    request: dict[str, Any]
    vpc_id: str | None
    existing: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def before_after(self) -> dict[str, str | None]:
        """``None`` before (no cluster of that name), the cluster to create after; nothing when it exists."""
        if self.existing is not None:
            return {}
        return {"before": None, "after": "\n".join(self.changes())}

    def changes(self) -> list[str]:
        if self.existing is not None:
            state = self.existing.get("State")
            return [f"cluster {self.spec.name} exists ({state}): nothing to create"
                    + ("; wait until it is ACTIVE" if state in ("CREATING", "UPDATING") else "")]
        p = self.request["Provisioned"]
        cfg = p.get("ConfigurationInfo")
        return [f"create MSK cluster {self.spec.name}: Kafka {p['KafkaVersion']}, {p['NumberOfBrokerNodes']} x "
                f"{p['BrokerNodeGroupInfo']['InstanceType']}, {self.spec.storage_gib} GiB each, "
                f"subnets {', '.join(self.spec.subnets)} (VPC {self.vpc_id}), auth {self.spec.auth}, TLS in transit"
                + (f", configuration {cfg['Arn'].rsplit('/', 2)[-2] if '/' in cfg['Arn'] else cfg['Arn']} "
                   f"revision {cfg['Revision']}" if cfg else ", MSK default configuration"),
                "poll until ACTIVE (tens of minutes)"]


def find_cluster(aws: Aws, name_or_arn: str, *, during_change: bool = False) -> dict[str, Any] | None:
    """ClusterInfo (describe_cluster_v2 shape) by name or ARN, or None."""
    kafka = aws.client("kafka")
    if name_or_arn.startswith("arn:"):
        try:
            with api_errors(f"describe MSK cluster {name_or_arn}", during_change=during_change):
                return kafka.describe_cluster_v2(ClusterArn=name_or_arn)["ClusterInfo"]
        except NotFound:
            return None
    if not _CLUSTER_NAME_RE.match(name_or_arn or ""):
        raise BadInput(f"cluster name {name_or_arn!r}: letters, digits and '-' (max 64)")
    with api_errors("list MSK clusters", during_change=during_change):
        for page in kafka.get_paginator("list_clusters_v2").paginate(ClusterNameFilter=name_or_arn):
            for info in page.get("ClusterInfoList", []):
                if info.get("ClusterName") == name_or_arn:
                    return info
    return None


def get_cluster(aws: Aws, name_or_arn: str) -> dict[str, Any]:
    info = find_cluster(aws, name_or_arn)
    if info is None:
        raise NotFound(f"MSK cluster {name_or_arn!r} not found in {aws.region}")
    return info


def _subnet_vpc(aws: Aws, subnets: list[str], security_groups: list[str], brokers: int) -> tuple[str, list[str]]:
    notes: list[str] = []
    ec2 = aws.client("ec2")
    with api_errors(f"describe subnets {', '.join(subnets)}"):
        found = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
    vpcs = {s["VpcId"] for s in found}
    azs = [s.get("AvailabilityZone") for s in found]
    if len(vpcs) != 1:
        raise BadInput(f"subnets {', '.join(subnets)} are in different VPCs ({', '.join(sorted(vpcs))})")
    if len(set(azs)) != len(azs):
        raise BadInput(f"subnets must be in different Availability Zones, got {', '.join(map(str, azs))}")
    vpc = vpcs.pop()
    if security_groups:
        with api_errors(f"describe security groups {', '.join(security_groups)}"):
            groups = ec2.describe_security_groups(GroupIds=security_groups)["SecurityGroups"]
        other = [g["GroupId"] for g in groups if g.get("VpcId") != vpc]
        if other:
            raise BadInput(f"security groups {', '.join(other)} are not in the subnets' VPC {vpc}")
    notes.append(f"brokers will be reachable only from inside VPC {vpc} (peered networks, VPN or a host in it)")
    return vpc, notes


def _client_auth(spec: ClusterSpec) -> dict[str, Any]:
    if spec.auth == "iam":
        return {"Sasl": {"Iam": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}}
    if spec.auth == "scram":
        return {"Sasl": {"Scram": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}}
    return {"Tls": {"CertificateAuthorityArnList": list(spec.tls_ca_arns), "Enabled": True},
            "Unauthenticated": {"Enabled": False}}


def plan_create(aws: Aws, spec: ClusterSpec) -> CreatePlan:
    """Validate the spec (with EC2 and the configuration) and build the CreateClusterV2 request."""
    if not _CLUSTER_NAME_RE.match(spec.name or ""):
        raise BadInput(f"cluster name {spec.name!r}: letters, digits and '-' (max 64)")
    check_kafka_version(spec.kafka_version)
    if spec.auth not in AUTH_MODES:
        raise BadInput(f"--auth {spec.auth!r}: one of {', '.join(AUTH_MODES)}")
    if spec.auth == "tls" and not spec.tls_ca_arns:
        raise BadInput("--auth tls needs --tls-ca ARN (an ACM Private CA that signs client certificates)")
    if not isinstance(spec.brokers, int) or spec.brokers < 1:
        raise BadInput(f"--brokers must be a whole number >= 1, got {spec.brokers!r}")
    if len(spec.subnets) not in (2, 3):
        raise BadInput(f"give 2 or 3 client subnets in different Availability Zones, got {len(spec.subnets)}")
    if spec.brokers % len(spec.subnets):
        raise BadInput(f"--brokers {spec.brokers} must be a multiple of the number of subnets ({len(spec.subnets)})")
    if not spec.security_groups:
        raise BadInput("give at least one security group (--security-groups)")
    if not spec.broker_type.startswith(("kafka.", "express.")):
        raise BadInput(f"--broker-type {spec.broker_type!r}: an MSK broker type such as kafka.m5.large")
    if not 1 <= int(spec.storage_gib) <= 16384:
        raise BadInput(f"--storage {spec.storage_gib}: EBS volume size per broker in GiB, 1..16384")
    existing = find_cluster(aws, spec.name)
    if existing is not None:
        return CreatePlan(spec=spec, request={}, vpc_id=None, existing=existing)
    vpc, notes = _subnet_vpc(aws, spec.subnets, spec.security_groups, spec.brokers)
    provisioned: dict[str, Any] = {
        "BrokerNodeGroupInfo": {
            "InstanceType": spec.broker_type,
            "ClientSubnets": list(spec.subnets),
            "SecurityGroups": list(spec.security_groups),
            "StorageInfo": {"EbsStorageInfo": {"VolumeSize": int(spec.storage_gib)}},
        },
        "KafkaVersion": spec.kafka_version,
        "NumberOfBrokerNodes": spec.brokers,
        "ClientAuthentication": _client_auth(spec),
        "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
    }
    if spec.configuration:
        arn, rev, cfg = resolve_configuration(aws, spec.configuration, spec.configuration_revision)
        versions = cfg.get("KafkaVersions") or []
        if versions and spec.kafka_version not in versions:
            raise BadInput(f"configuration {cfg.get('Name')} is for Kafka {', '.join(versions)}, "
                           f"not {spec.kafka_version}")
        notes += validate_properties(configuration_properties(aws, arn, rev), spec.brokers)
        provisioned["ConfigurationInfo"] = {"Arn": arn, "Revision": rev}
    else:
        notes.append("no --configuration: MSK's default configuration has auto.create.topics.enable=false")
    if spec.auth == "scram":
        notes.append("SCRAM: associate Secrets Manager secrets (names starting AmazonMSK_) with the cluster "
                     "before clients can log in")
    request = {"ClusterName": spec.name, "Provisioned": provisioned, "Tags": {"managed-by": "opskit"}}
    return CreatePlan(spec=spec, request=request, vpc_id=vpc, existing=None, notes=notes)


def wait_cluster(aws: Aws, arn: str, *, timeout: float, interval: float = 30.0, want: str = "ACTIVE",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 progress: ProgressFn | None = None) -> dict[str, Any]:
    """Poll describe_cluster_v2 until ``want``; FAILED or DELETING is a failure (exit 2)."""
    progress = progress or _noop
    last: dict[str, Any] = {}

    def step() -> dict[str, Any] | None:
        try:
            with api_errors(f"describe MSK cluster {arn}", during_change=True):
                info = aws.client("kafka").describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
        except AwsApiError as exc:
            raise DeploymentFailed(f"lost track of cluster {arn}: {exc}; MSK carries on: check it again later") from None
        last.update(info)
        state = info.get("State")
        progress(f"{info.get('ClusterName')} {state}")
        if state == want:
            return info
        if state in ("FAILED", "DELETING"):
            si = info.get("StateInfo") or {}
            raise DeploymentFailed(f"cluster {info.get('ClusterName')} is {state}: "
                                   f"{si.get('Code', '')} {si.get('Message', '')}".strip(), state=state)
        return None

    def on_timeout(elapsed: float) -> Exception:
        return DeploymentTimeout(
            f"cluster {last.get('ClusterName', arn)} is still {last.get('State', 'unknown')} after "
            f"{fmt_duration(elapsed)} (wanted {want}). MSK carries on: run the task again to keep waiting, "
            "or raise --timeout (creation takes tens of minutes, updates can take over an hour)",
            state=last.get("State"))

    return Poller(timeout=timeout, interval=interval, clock=clock, sleep=sleep).run(step, on_timeout)


def create_cluster(aws: Aws, plan: CreatePlan, *, timeout: float, interval: float = 30.0,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   progress: ProgressFn | None = None) -> tuple[dict[str, Any], bool]:
    """Create (unless it exists) and poll until ACTIVE. Returns (ClusterInfo, created)."""
    progress = progress or _noop
    if plan.existing is not None:
        state = plan.existing.get("State")
        if state == "ACTIVE":
            return plan.existing, False
        if state in ("CREATING", "UPDATING", "REBOOTING_BROKER", "MAINTENANCE", "HEALING"):
            progress(f"{plan.spec.name} exists and is {state}: waiting for ACTIVE")
            return wait_cluster(aws, plan.existing["ClusterArn"], timeout=timeout, interval=interval, clock=clock,
                                sleep=sleep, progress=progress), False
        raise DeploymentFailed(f"cluster {plan.spec.name} exists and is {state}", state=state)
    with api_errors(f"create MSK cluster {plan.spec.name}"):
        out = aws.client("kafka").create_cluster_v2(**plan.request)
    progress(f"{plan.spec.name} {out.get('State', 'CREATING')}: {out['ClusterArn']}")
    return wait_cluster(aws, out["ClusterArn"], timeout=timeout, interval=interval, clock=clock, sleep=sleep,
                        progress=progress), True


# --------------------------------------------------------------------------- configuration update
@dataclass
class UpdatePlan:
    cluster: dict[str, Any]
    arn: str
    revision: int
    name: str
    current: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def noop(self) -> bool:
        return bool(self.current) and self.current.get("Arn") == self.arn and int(self.current.get("Revision", 0)) == self.revision

    def _current_text(self) -> str:
        return (f"{self.current.get('Arn', '').rsplit('/', 2)[-2]} revision {self.current.get('Revision')}"
                if self.current and "/" in self.current.get("Arn", "") else "the MSK default configuration")

    def before_after(self) -> dict[str, str]:
        cname = self.cluster.get("ClusterName")
        return {"before": f"cluster {cname}: {self._current_text()}",
                "after": f"cluster {cname}: {self.name} revision {self.revision}"}

    def changes(self) -> list[str]:
        cname = self.cluster.get("ClusterName")
        if self.noop:
            return [f"cluster {cname} already uses {self.name} revision {self.revision}"]
        before = self._current_text()
        return [f"cluster {cname}: configuration {before} -> {self.name} revision {self.revision} (rolling broker restart)",
                "poll the update operation until UPDATE_COMPLETE and the cluster until ACTIVE"]


def _provisioned(info: dict[str, Any]) -> dict[str, Any]:
    return info.get("Provisioned") or {}


def plan_update_config(aws: Aws, cluster: str, configuration: str, revision: int | None = None) -> UpdatePlan:
    info = get_cluster(aws, cluster)
    if info.get("State") != "ACTIVE":
        raise BadInput(f"cluster {info.get('ClusterName')} is {info.get('State')}: configuration updates need ACTIVE")
    prov = _provisioned(info)
    arn, rev, cfg = resolve_configuration(aws, configuration, revision)
    version = (prov.get("CurrentBrokerSoftwareInfo") or {}).get("KafkaVersion")
    versions = cfg.get("KafkaVersions") or []
    if version and versions and version not in versions:
        raise BadInput(f"configuration {cfg.get('Name')} is for Kafka {', '.join(versions)}; "
                       f"cluster {info.get('ClusterName')} runs {version}")
    brokers = int(prov.get("NumberOfBrokerNodes") or 0)
    notes = validate_properties(configuration_properties(aws, arn, rev), brokers) if brokers else []
    current = (prov.get("CurrentBrokerSoftwareInfo") or {})
    cur = {"Arn": current.get("ConfigurationArn"), "Revision": current.get("ConfigurationRevision")} \
        if current.get("ConfigurationArn") else None
    return UpdatePlan(cluster=info, arn=arn, revision=rev, name=cfg.get("Name", arn), current=cur, notes=notes)


def wait_operation(aws: Aws, operation_arn: str, cluster_arn: str, *, timeout: float, interval: float = 30.0,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """Poll the cluster operation until UPDATE_COMPLETE (then the cluster until ACTIVE)."""
    progress = progress or _noop
    last: dict[str, Any] = {}

    def step() -> dict[str, Any] | None:
        try:
            with api_errors("describe MSK cluster operation", during_change=True):
                op = aws.client("kafka").describe_cluster_operation(ClusterOperationArn=operation_arn)["ClusterOperationInfo"]
        except AwsApiError as exc:
            raise DeploymentFailed(f"lost track of operation {operation_arn}: {exc}") from None
        last.update(op)
        state = op.get("OperationState")
        steps = [s.get("StepName") for s in op.get("OperationSteps") or [] if s.get("StepName")]
        progress(f"{op.get('OperationType', 'UPDATE')} {state}" + (f" ({steps[-1]})" if steps else ""))
        if state == "UPDATE_COMPLETE":
            return op
        if state == "UPDATE_FAILED":
            err = op.get("ErrorInfo") or {}
            raise DeploymentFailed(f"configuration update FAILED: {err.get('ErrorCode', '')} "
                                   f"{err.get('ErrorString', '')}".rstrip() + ". The cluster keeps its previous "
                                   "configuration (it is ACTIVE again, which does not mean the update worked)",
                                   state=state)
        return None

    def on_timeout(elapsed: float) -> Exception:
        return DeploymentTimeout(f"configuration update still {last.get('OperationState', 'unknown')} after "
                                 f"{fmt_duration(elapsed)}; MSK carries on (updates can take over an hour): check "
                                 f"again with `inv aws.msk-brokers` / the console, or raise --timeout",
                                 state=last.get("OperationState"))

    poller: Poller[dict[str, Any]] = Poller(timeout=timeout, interval=interval, clock=clock, sleep=sleep)
    started = clock()
    op = poller.run(step, on_timeout)
    remaining = max(interval, timeout - (clock() - started))
    wait_cluster(aws, cluster_arn, timeout=remaining, interval=interval, clock=clock, sleep=sleep, progress=progress)
    return op


def update_config(aws: Aws, plan: UpdatePlan, *, timeout: float, interval: float = 30.0,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                  progress: ProgressFn | None = None) -> dict[str, Any] | None:
    if plan.noop:
        return None
    arn = plan.cluster["ClusterArn"]
    with api_errors(f"update the configuration of {plan.cluster.get('ClusterName')}"):
        out = aws.client("kafka").update_cluster_configuration(
            ClusterArn=arn, ConfigurationInfo={"Arn": plan.arn, "Revision": plan.revision},
            CurrentVersion=plan.cluster["CurrentVersion"])
    return wait_operation(aws, out["ClusterOperationArn"], arn, timeout=timeout, interval=interval, clock=clock,
                          sleep=sleep, progress=progress)


# --------------------------------------------------------------------------- brokers
def auth_modes(info: dict[str, Any]) -> list[str]:
    """Client auth modes enabled on a cluster, in order of preference."""
    prov = _provisioned(info)
    auth = prov.get("ClientAuthentication") or {}
    modes = []
    sasl = auth.get("Sasl") or {}
    if (sasl.get("Iam") or {}).get("Enabled"):
        modes.append("iam")
    if (sasl.get("Scram") or {}).get("Enabled"):
        modes.append("scram")
    if (auth.get("Tls") or {}).get("Enabled") or (auth.get("Tls") or {}).get("CertificateAuthorityArnList"):
        modes.append("tls")
    if (auth.get("Unauthenticated") or {}).get("Enabled") or not modes:
        client_broker = ((prov.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}).get("ClientBroker", "TLS")
        modes.append("tls" if client_broker == "TLS" and "tls" not in modes else "plaintext")
    return list(dict.fromkeys(modes))


@dataclass
class Brokers:
    cluster: str
    auth: str
    brokers: str
    others: dict[str, str]
    subnets: list[str]


def bootstrap_brokers(aws: Aws, cluster: str, auth: str | None = None) -> Brokers:
    info = get_cluster(aws, cluster)
    modes = auth_modes(info)
    if auth is not None and auth not in modes:
        raise BadInput(f"cluster {info.get('ClusterName')} does not enable {auth} (enabled: {', '.join(modes)})")
    if info.get("State") not in ("ACTIVE", "UPDATING", "REBOOTING_BROKER", "MAINTENANCE", "HEALING"):
        raise BadInput(f"cluster {info.get('ClusterName')} is {info.get('State')}: brokers exist once it is ACTIVE")
    with api_errors(f"get the bootstrap brokers of {info.get('ClusterName')}"):
        out = aws.client("kafka").get_bootstrap_brokers(ClusterArn=info["ClusterArn"])
    chosen = auth or modes[0]
    value = out.get(BROKER_KEYS[chosen])
    if not value:
        raise AwsApiError(f"MSK returned no {BROKER_KEYS[chosen]} for {info.get('ClusterName')}")
    others = {m: out[BROKER_KEYS[m]] for m in modes if m != chosen and out.get(BROKER_KEYS[m])}
    subnets = ((_provisioned(info).get("BrokerNodeGroupInfo") or {}).get("ClientSubnets")) or []
    return Brokers(cluster=info.get("ClusterName", cluster), auth=chosen, brokers=value, others=others,
                   subnets=list(subnets))
