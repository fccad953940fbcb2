"""MSK: property validation (pure), configurations/clusters/brokers.

Kafka API calls: the stand-in (tests/aws/standin_server.py), which serves the whole
``kafka`` API from botocore's model, because moto 404s/500s configurations, bootstrap
brokers and configuration updates and never moves a cluster out of CREATING. Subnets
and security groups: real moto EC2 (forwarded by the stand-in). The last tests run
against plain moto to show where it stops.
"""

from __future__ import annotations

from typing import Any

import pytest

from opskit.aws import msk
from opskit.aws.errors import AwsApiError, BadInput, DeploymentFailed, DeploymentTimeout, NotFound
from tests.fakes import FakeClock

FAST = {"timeout": 30.0, "interval": 0.01}
GOOD = {"auto.create.topics.enable": "true", "default.replication.factor": "3", "min.insync.replicas": "2"}


# ----------------------------------------------------------------------------- validation (no AWS)
def test_valid_properties_pass():
    assert msk.validate_properties(dict(GOOD), 3) == []
    notes = msk.validate_properties({**GOOD, "auto.create.topics.enable": "false"}, 6)
    assert "create every topic" in notes[0]


@pytest.mark.parametrize("props,brokers,needle", [
    ({**GOOD, "default.replication.factor": "4"}, 3, "default.replication.factor=4 exceeds the 3 broker(s)"),
    ({"auto.create.topics.enable": "true"}, 2, "unset, MSK default 3) exceeds the 2 broker(s)"),
    ({**GOOD, "min.insync.replicas": "3"}, 3, "min.insync.replicas=3 must be below the replication factor (3)"),
    ({k: v for k, v in GOOD.items() if k != "auto.create.topics.enable"}, 3, "auto.create.topics.enable must be set"),
    ({**GOOD, "auto.create.topic.enable": "true"}, 3, "did you mean auto.create.topics.enable"),
    ({**GOOD, "auto.create.topics.enable": "yes"}, 3, "must be true or false"),
    ({**GOOD, "num.partitions": "many"}, 3, "num.partitions=many: must be a whole number"),
    ({**GOOD, "compression.type": "brotli"}, 3, "compression.type=brotli"),
    ({**GOOD, "offsets.topic.replication.factor": "5"}, 3, "offsets.topic.replication.factor=5 exceeds"),
])
def test_invalid_properties_are_bad_input(props, brokers, needle):
    with pytest.raises(BadInput) as err:
        msk.validate_properties(props, brokers)
    assert needle in str(err.value) and err.value.exit_code == 3


def test_parse_sets_and_properties_round_trip():
    props = msk.parse_sets(["auto.create.topics.enable=true", "log.cleanup.policy=compact,delete"])
    assert msk.parse_properties(msk.render_properties(props)) == props
    for bad in (["novalue"], ["a=1", "a=2"], ["=1"]):
        with pytest.raises(BadInput):
            msk.parse_sets(bad)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def network(moto_aws: Any, uid: str) -> dict[str, Any]:
    """A VPC with three subnets in three AZs and a security group, in moto's EC2."""
    ec2 = moto_aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
        "Subnet"]["SubnetId"] for i, az in enumerate("abc")]
    sg = ec2.create_security_group(GroupName=f"msk-{uid}", Description="msk", VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "subnets": subnets, "sg": sg}


def _spec(uid: str, network: dict[str, Any], **kw: Any) -> msk.ClusterSpec:
    base = dict(name=f"kafka-{uid}", kafka_version="3.6.0", brokers=3, subnets=network["subnets"],
                security_groups=[network["sg"]])
    base.update(kw)
    return msk.ClusterSpec(**base)


# ----------------------------------------------------------------------------- configurations
def test_configuration_create_revision_unchanged(standin_aws, uid):
    name = f"cfg-{uid}"
    plan = msk.ensure_configuration(standin_aws, name, "3.6.0", 3, dict(GOOD), plan=True)
    assert plan.action == "created" and plan.arn is None
    assert msk.find_configuration(standin_aws, name) is None  # --plan changed nothing
    first = msk.ensure_configuration(standin_aws, name, "3.6.0", 3, dict(GOOD))
    assert first.action == "created" and first.revision == 1 and first.arn
    again = msk.ensure_configuration(standin_aws, name, "3.6.0", 3, dict(GOOD))
    assert again.action == "unchanged" and again.revision == 1
    changed = msk.ensure_configuration(standin_aws, name, "3.6.0", 3, {**GOOD, "num.partitions": "6"})
    assert changed.action == "new revision" and changed.revision == 2
    assert "num.partitions: (unset) -> 6" in changed.changes[0]
    assert msk.configuration_properties(standin_aws, first.arn, 2)["num.partitions"] == "6"
    with pytest.raises(BadInput, match="exists for Kafka 3.6.0"):
        msk.ensure_configuration(standin_aws, name, "3.7.0", 3, dict(GOOD))


def test_configuration_replication_factor_above_brokers_calls_nothing(standin, standin_aws, uid):
    before = standin.count("kafka", "CreateConfiguration")
    with pytest.raises(BadInput, match="exceeds the 2 broker"):
        msk.ensure_configuration(standin_aws, f"cfg-{uid}", "3.6.0", 2, dict(GOOD))
    assert standin.count("kafka", "CreateConfiguration") == before


# ----------------------------------------------------------------------------- clusters
def test_create_cluster_until_active_and_brokers(standin, standin_aws, network, uid):
    cfg = msk.ensure_configuration(standin_aws, f"cfg-{uid}", "3.6.0", 3, dict(GOOD))
    standin.msk_scenario(f"kafka-{uid}", create="active", polls=3)
    plan = msk.plan_create(standin_aws, _spec(uid, network, configuration=f"cfg-{uid}"))
    assert plan.vpc_id == network["vpc"]
    assert any("only from inside VPC" in n for n in plan.notes)
    assert plan.request["Provisioned"]["ConfigurationInfo"] == {"Arn": cfg.arn, "Revision": 1}
    seen: list[str] = []
    info, created = msk.create_cluster(standin_aws, plan, progress=seen.append, **FAST)
    assert created and info["State"] == "ACTIVE"
    assert any("CREATING" in s for s in seen)
    prov = info["Provisioned"]
    assert prov["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"] is True
    assert prov["EncryptionInfo"]["EncryptionInTransit"]["ClientBroker"] == "TLS"
    b = msk.bootstrap_brokers(standin_aws, f"kafka-{uid}")
    assert b.auth == "iam" and b.brokers.count(":9098") == 3
    # a second run finds it and changes nothing
    again = msk.plan_create(standin_aws, _spec(uid, network, configuration=f"cfg-{uid}"))
    assert again.existing is not None and "nothing to create" in again.changes()[0]
    creates = standin.count("kafka", "CreateClusterV2")
    assert msk.create_cluster(standin_aws, again, **FAST)[1] is False
    assert standin.count("kafka", "CreateClusterV2") == creates


def test_scram_cluster_brokers(standin, standin_aws, network, uid):
    standin.msk_scenario(f"kafka-{uid}", polls=1)
    plan = msk.plan_create(standin_aws, _spec(uid, network, auth="scram", brokers=6))
    assert any("AmazonMSK_" in n for n in plan.notes)
    msk.create_cluster(standin_aws, plan, **FAST)
    b = msk.bootstrap_brokers(standin_aws, f"kafka-{uid}")
    assert b.auth == "scram" and ":9096" in b.brokers
    with pytest.raises(BadInput, match="does not enable iam"):
        msk.bootstrap_brokers(standin_aws, f"kafka-{uid}", "iam")


def test_cluster_creation_failed_is_critical(standin, standin_aws, network, uid):
    standin.msk_scenario(f"kafka-{uid}", create="failed", polls=2)
    with pytest.raises(DeploymentFailed) as err:
        msk.create_cluster(standin_aws, msk.plan_create(standin_aws, _spec(uid, network)), **FAST)
    assert err.value.exit_code == 2 and "FAILED" in str(err.value) and "InsufficientCapacity" in str(err.value)


def test_cluster_creation_deadline(standin, standin_aws, network, uid):
    standin.msk_scenario(f"kafka-{uid}", create="never")
    clock = FakeClock()
    with pytest.raises(DeploymentTimeout) as err:
        msk.create_cluster(standin_aws, msk.plan_create(standin_aws, _spec(uid, network)), timeout=3600,
                           interval=600, clock=clock, sleep=clock.sleep)
    assert "still CREATING after 1h00m" in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize("change,needle", [
    ({"brokers": 4}, "multiple of the number of subnets"),
    ({"subnets": ["subnet-1"]}, "2 or 3 client subnets"),
    ({"auth": "tls"}, "--tls-ca"),
    ({"auth": "plain"}, "--auth 'plain'"),
    ({"kafka_version": "latest"}, "not a Kafka version"),
    ({"broker_type": "m5.large"}, "--broker-type"),
])
def test_create_bad_input(standin_aws, network, uid, change, needle):
    with pytest.raises(BadInput, match=needle.replace("(", r"\(").replace(")", r"\)")):
        msk.plan_create(standin_aws, _spec(uid, network, **change))


def test_create_rejects_config_with_too_high_replication(standin, standin_aws, network, uid):
    msk.ensure_configuration(standin_aws, f"cfg-{uid}", "3.6.0", 3, dict(GOOD))
    with pytest.raises(BadInput, match="default.replication.factor=3 exceeds the 2 broker"):
        msk.plan_create(standin_aws, _spec(uid, network, brokers=2, subnets=network["subnets"][:2],
                                           configuration=f"cfg-{uid}"))


def test_create_rejects_unknown_subnet_and_foreign_security_group(standin_aws, moto_aws, network, uid):
    with pytest.raises(NotFound, match="InvalidSubnetID.NotFound"):
        msk.plan_create(standin_aws, _spec(uid, network, subnets=network["subnets"][:2] + ["subnet-deadbeef"]))
    ec2 = moto_aws.client("ec2")
    other_vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_security_group(GroupName=f"x-{uid}", Description="x", VpcId=other_vpc)["GroupId"]
    with pytest.raises(BadInput, match="not in the subnets' VPC"):
        msk.plan_create(standin_aws, _spec(uid, network, security_groups=[foreign]))


def test_update_configuration_complete_and_failed(standin, standin_aws, network, uid):
    name = f"kafka-{uid}"
    standin.msk_scenario(name, polls=1, update="complete")
    msk.create_cluster(standin_aws, msk.plan_create(standin_aws, _spec(uid, network)), **FAST)
    cfg = msk.ensure_configuration(standin_aws, f"cfg-{uid}", "3.6.0", 3, dict(GOOD))
    plan = msk.plan_update_config(standin_aws, name, f"cfg-{uid}")
    assert not plan.noop and "MSK default configuration" in plan.changes()[0]
    op = msk.update_config(standin_aws, plan, **FAST)
    assert op["OperationState"] == "UPDATE_COMPLETE"
    assert msk.plan_update_config(standin_aws, name, cfg.arn).noop

    msk.ensure_configuration(standin_aws, f"cfg-{uid}", "3.6.0", 3, {**GOOD, "num.partitions": "3"})
    standin.msk_scenario(name, polls=2, update="failed")
    with pytest.raises(DeploymentFailed) as err:
        msk.update_config(standin_aws, msk.plan_update_config(standin_aws, name, f"cfg-{uid}:2"), **FAST)
    assert "configuration update FAILED" in str(err.value) and "ACTIVE again" in str(err.value)
    # the cluster is ACTIVE again (the trap) but still on revision 1
    info = msk.get_cluster(standin_aws, name)
    assert info["State"] == "ACTIVE"
    assert info["Provisioned"]["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == 1


def test_unknown_cluster_and_configuration(standin_aws, uid):
    with pytest.raises(NotFound) as err:
        msk.bootstrap_brokers(standin_aws, f"nope-{uid}")
    assert err.value.exit_code == 3
    with pytest.raises(NotFound):
        msk.bootstrap_brokers(standin_aws, f"arn:aws:kafka:us-east-1:123456789012:cluster/nope-{uid}/x")
    with pytest.raises(NotFound, match="create it with"):
        msk.resolve_configuration(standin_aws, f"nocfg-{uid}")


# ----------------------------------------------------------------------------- plain moto: where it stops
def test_plain_moto_cluster_never_leaves_creating(moto_aws, network, uid):
    """Real moto: create_cluster_v2 is accepted (request validated by botocore), the poller meets its deadline."""
    clock = FakeClock()
    plan = msk.plan_create(moto_aws, _spec(uid, network))
    with pytest.raises(DeploymentTimeout, match="still CREATING"):
        msk.create_cluster(moto_aws, plan, timeout=1800, interval=600, clock=clock, sleep=clock.sleep)
    assert msk.get_cluster(moto_aws, f"kafka-{uid}")["State"] == "CREATING"


def test_plain_moto_has_no_configurations_api(moto_aws, uid):
    """Real moto: an unknown cluster is NotFound (exit 3); configurations are not simulated (clear error, exit 3)."""
    with pytest.raises(NotFound) as err:
        msk.bootstrap_brokers(moto_aws, f"missing-{uid}")
    assert err.value.exit_code == 3
    with pytest.raises((AwsApiError, NotFound)) as err2:
        msk.find_configuration(moto_aws, "anything")
    assert err2.value.exit_code == 3 and "list MSK configurations" in str(err2.value)
