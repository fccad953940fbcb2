"""ecs-deploy / ecs-rollback / ecs-status.

Task definitions, services, SSM parameters: real moto. Rollouts (deployments moving
IN_PROGRESS -> COMPLETED / FAILED / rolled back): the stand-in in front of moto
(tests/aws/standin_server.py), because moto never moves a deployment.
"""

from __future__ import annotations

from typing import Any

import pytest

from opskit.aws import ecs
from opskit.aws.errors import BadInput, DeploymentFailed, DeploymentTimeout, NotFound
from tests.fakes import FakeClock

FAST = {"timeout": 30.0, "interval": 0.01}


def _revisions(aws: Any, family: str) -> list[str]:
    return aws.client("ecs").list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]


def test_deploy_completes_and_copies_every_field(standin, standin_aws, moto_aws, ecs_service):
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "complete", polls=3)
    seen: list[str] = []
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:1.1.0",
                           container="app")
    result = ecs.deploy(standin_aws, plan, progress=seen.append, **FAST)

    assert result.state == "COMPLETED" and result.task_definition == f"{svc['family']}:2"
    assert result.running == result.desired == 2
    assert any("IN_PROGRESS" in line for line in seen), seen
    # moto (not the stand-in) holds the registered revision: compare it field by field with revision 1
    m = moto_aws.client("ecs")
    old = m.describe_task_definition(taskDefinition=f"{svc['family']}:1", include=["TAGS"])
    new = m.describe_task_definition(taskDefinition=f"{svc['family']}:2", include=["TAGS"])
    assert new["tags"] == old["tags"] == [{"key": "team", "value": "fabric-ops"}]
    o, n = old["taskDefinition"], new["taskDefinition"]
    for key in set(o) | set(n):
        if key in ecs.READ_ONLY_KEYS or key == "containerDefinitions":
            continue
        assert o.get(key) == n.get(key), key
    app_old, app_new = o["containerDefinitions"][0], n["containerDefinitions"][0]
    assert app_new.pop("image") == "registry.example/app:1.1.0"
    app_old.pop("image")
    assert app_new == app_old  # secrets, healthCheck, logConfiguration, ulimits... all kept
    assert n["containerDefinitions"][1] == o["containerDefinitions"][1]
    assert m.describe_services(cluster=svc["cluster"], services=[svc["service"]])["services"][0][
        "taskDefinition"].endswith(f"{svc['family']}:2")


def test_circuit_breaker_rollback_is_a_failure_naming_the_revision(standin, standin_aws, ecs_service):
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "rollback", polls=2)
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:2.0.0",
                           container="app")
    with pytest.raises(DeploymentFailed) as err:
        ecs.deploy(standin_aws, plan, **FAST)
    assert err.value.exit_code == 2
    assert err.value.rolled_back_to == f"{svc['family']}:1"
    assert f"rolled service {svc['service']} back to {svc['family']}:1" in str(err.value)
    assert "circuit breaker" in str(err.value)


def test_services_stable_waiter_is_fooled_where_the_watcher_is_not(standin, standin_aws, ecs_service):
    """The trap from the issue: boto3's waiter passes after the rollback settles."""
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "rollback", polls=1)
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:3.0.0",
                           container="app")
    with pytest.raises(DeploymentFailed):
        ecs.deploy(standin_aws, plan, **FAST)
    waiter = standin_aws.client("ecs").get_waiter("services_stable")
    waiter.wait(cluster=svc["cluster"], services=[svc["service"]], WaiterConfig={"Delay": 0.01, "MaxAttempts": 20})
    # ... the waiter says "stable" while the service runs the OLD revision
    status = ecs.service_status(standin_aws, svc["cluster"], svc["service"])
    assert status.task_definition == f"{svc['family']}:1"


def test_failed_rollout_without_rollback(standin, standin_aws, ecs_service):
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "fail", polls=2)
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:2.1.0",
                           container="app")
    with pytest.raises(DeploymentFailed) as err:
        ecs.deploy(standin_aws, plan, **FAST)
    assert err.value.state == "FAILED" and err.value.rolled_back_to is None
    assert "without rolling back" in str(err.value) and "--to-revision 1" in str(err.value)
    status = ecs.service_status(standin_aws, svc["cluster"], svc["service"])
    assert max(sev for sev, _ in status.verdicts()) == 2


def test_deployment_that_never_completes_times_out(standin, standin_aws, ecs_service):
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "never")
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:2.2.0",
                           container="app")
    assert any("circuit breaker off" in w for w in plan.warnings)  # the stand-in plays it switched off here
    clock = FakeClock()
    with pytest.raises(DeploymentTimeout) as err:
        ecs.deploy(standin_aws, plan, timeout=20 * 60, interval=120, clock=clock, sleep=clock.sleep)
    assert err.value.exit_code == 2
    assert "did not complete within 20m00s" in str(err.value) and "IN_PROGRESS" in str(err.value)
    assert clock.slept == pytest.approx(20 * 60)


def test_api_error_at_update_deregisters_the_new_revision(standin, standin_aws, moto_aws, ecs_service):
    svc = ecs_service()
    standin.fail("ecs", "UpdateService", "AccessDeniedException", "not allowed to ecs:UpdateService")
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:2.3.0",
                           container="app")
    with pytest.raises(DeploymentFailed) as err:
        ecs.deploy(standin_aws, plan, **FAST)
    text = str(err.value)
    assert "AccessDeniedException" in text and f"still runs {svc['family']}:1" in text
    assert f"{svc['family']}:2 was deregistered again" in text
    inactive = moto_aws.client("ecs").describe_task_definition(taskDefinition=f"{svc['family']}:2")
    assert inactive["taskDefinition"]["status"] == "INACTIVE"
    assert _revisions(moto_aws, svc["family"]) == [svc["arn"]]


def test_api_error_while_watching_is_critical(standin, standin_aws, ecs_service):
    svc = ecs_service()
    standin.ecs_scenario(svc["service"], "never")
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:2.4.0",
                           container="app")
    standin.fail("ecs", "DescribeServices", "ThrottlingException", "Rate exceeded", times=1)
    with pytest.raises(DeploymentFailed) as err:
        ecs.deploy(standin_aws, plan, **FAST)
    assert "lost track" in str(err.value) and "ThrottlingException" in str(err.value)


def test_ssm_secrets_from_path(standin, standin_aws, moto_aws, ecs_service, uid):
    svc = ecs_service()
    ssm = moto_aws.client("ssm")
    path = f"/app-{uid}/env"
    ssm.put_parameter(Name=f"{path}/DB_PASS", Value="s3cr3t-value", Type="SecureString")
    ssm.put_parameter(Name=f"{path}/MODE", Value="dev", Type="String")
    ssm.put_parameter(Name=f"{path}/nested/IGNORED", Value="x", Type="String")
    standin.ecs_scenario(svc["service"], "complete", polls=1)
    plan = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:1.2.0",
                           container="app", ssm_path=path + "/")
    assert sorted(plan.secrets_added) == ["DB_PASS", "MODE"] and sorted(plan.env_moved) == ["DB_PASS", "MODE"]
    assert "s3cr3t-value" not in repr(plan)
    ecs.deploy(standin_aws, plan, **FAST)
    app = moto_aws.client("ecs").describe_task_definition(taskDefinition=f"{svc['family']}:2")[
        "taskDefinition"]["containerDefinitions"][0]
    secrets = {s["name"]: s["valueFrom"] for s in app["secrets"]}
    assert secrets["DB_PASS"] == f"arn:aws:ssm:us-east-1:123456789012:parameter{path}/DB_PASS"
    assert secrets["MODE"].endswith(f"parameter{path}/MODE")
    assert secrets["API_TOKEN"].startswith("arn:aws:secretsmanager:")  # kept
    assert "IGNORED" not in secrets
    assert not any(e["name"] in ("DB_PASS", "MODE") for e in app.get("environment", []))

    # the parameter MODE goes away: the next deploy removes that secret, keeps the rest
    ssm.delete_parameter(Name=f"{path}/MODE")
    plan2 = ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:1.2.0",
                            container="app", ssm_path=path)
    assert plan2.secrets_removed == ["MODE"] and not plan2.secrets_added


@pytest.mark.parametrize("image", ["registry.example/app", "registry.example/app:latest", "app:", "a b:1"])
def test_image_without_pinned_tag_is_bad_input(image):
    with pytest.raises(BadInput) as err:
        ecs.parse_image(image)
    assert err.value.exit_code == 3


def test_image_references():
    assert ecs.parse_image("localhost:5000/team/app:1.2").tag == "1.2"
    assert ecs.parse_image("localhost:5000/team/app:1.2").repository == "localhost:5000/team/app"
    digest = "sha256:" + "a" * 64
    assert ecs.parse_image(f"app@{digest}").digest == digest


def test_unknown_cluster_service_container_and_empty_ssm_path(standin_aws, moto_aws, ecs_service, uid):
    svc = ecs_service()
    with pytest.raises(NotFound) as e1:
        ecs.plan_deploy(standin_aws, f"nocluster-{uid}", svc["service"], "app:1.0")
    assert e1.value.exit_code == 3 and "Cluster" in str(e1.value)
    with pytest.raises(NotFound) as e2:
        ecs.plan_deploy(standin_aws, svc["cluster"], "nosuchservice", "app:1.0")
    assert "MISSING" in str(e2.value)
    with pytest.raises(BadInput, match="say which one with --container"):
        ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "app:1.0")
    with pytest.raises(NotFound, match="container 'web'"):
        ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "app:1.0", container="web")
    with pytest.raises(NotFound, match="no SSM parameters directly under"):
        ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "app:1.0", container="app",
                        ssm_path=f"/empty-{uid}/")
    assert _revisions(moto_aws, svc["family"]) == [svc["arn"]]  # nothing registered by any of these


def test_rollback_to_revision(standin, standin_aws, ecs_service):
    svc = ecs_service(single_container=True)
    standin.ecs_scenario(svc["service"], "complete", polls=1)
    ecs.deploy(standin_aws, ecs.plan_deploy(standin_aws, svc["cluster"], svc["service"], "registry.example/app:9"),
               **FAST)
    plan = ecs.plan_rollback(standin_aws, svc["cluster"], svc["service"], 1)
    assert plan.changes()[0].endswith(f"{svc['family']}:2 -> {svc['family']}:1")
    result = ecs.rollback(standin_aws, plan, **FAST)
    assert result.task_definition == f"{svc['family']}:1" and result.state == "COMPLETED"
    assert ecs.plan_rollback(standin_aws, svc["cluster"], svc["service"], 1).noop
    with pytest.raises(NotFound, match="revision 7"):
        ecs.plan_rollback(standin_aws, svc["cluster"], svc["service"], 7)
    with pytest.raises(BadInput):
        ecs.plan_rollback(standin_aws, svc["cluster"], svc["service"], "x")


def test_status_of_a_healthy_service(standin, standin_aws, ecs_service):
    svc = ecs_service()
    st = ecs.service_status(standin_aws, svc["cluster"], svc["service"])
    assert st.verdicts() == [(0, f"{svc['service']} runs {svc['family']}:1: 2/2 tasks, rollout COMPLETED")]
