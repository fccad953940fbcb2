"""The real command line (``python -m invoke aws.*``) end to end: exit codes, output, no secrets.

ECS rollouts and the kafka API: the stand-in in front of moto (tests/aws/standin_server.py);
ECR, SSM, EC2, task definitions: moto behind it.
"""

from __future__ import annotations

import json

from conftest import run_aws_inv, write_inventory

SECRET_KEY = "fake-secret-key-never-printed"
CREDS = {"AWS_SECRET_ACCESS_KEY": SECRET_KEY, "COLUMNS": "400"}


def _inv(tmp_path, standin) -> str:
    return str(write_inventory(tmp_path / "inventory.yaml", standin.url))


def _run(*args: str):
    proc = run_aws_inv(*args, env=CREDS)
    assert SECRET_KEY not in proc.stdout + proc.stderr
    return proc


def test_ecs_deploy_ok_plan_and_rollback_exit_codes(tmp_path, standin, moto_aws, ecs_service, uid):
    inv = _inv(tmp_path, standin)
    svc = ecs_service(single_container=True)
    ssm = moto_aws.client("ssm")
    ssm.put_parameter(Name=f"/cli-{uid}/DB_PASS", Value="value-never-printed", Type="SecureString")
    base = ["--inventory", inv, "--cluster", svc["cluster"], "--service", svc["service"], "--interval", "0.05"]

    plan = _run("aws.ecs-deploy", *base, "--image", "registry.example/app:5.0", "--ssm-path", f"/cli-{uid}/",
                "--plan", "--json")
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["meta"]["plan"] is True
    assert doc["summary"]["changed"] is False  # a plan changes nothing
    messages = " ".join(r["message"] for r in doc["results"])
    assert "would deploy registry.example/app:5.0 to service" in messages
    assert "\n  - container app: image registry.example/app:1.0.0 -> registry.example/app:5.0" in messages
    assert "add secrets" in messages and "DB_PASS" in messages and "value-never-printed" not in plan.stdout
    assert len(moto_aws.client("ecs").list_task_definitions(familyPrefix=svc["family"])["taskDefinitionArns"]) == 1

    standin.ecs_scenario(svc["service"], "complete", polls=2)
    ok = _run("aws.ecs-deploy", *base, "--image", "registry.example/app:5.0", "--ssm-path", f"/cli-{uid}/")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"runs {svc['family']}:2" in ok.stdout and "COMPLETED" in ok.stdout
    assert "contacted AWS" in ok.stdout and "changed (1 change)" in ok.stdout  # the summary line
    assert "IN_PROGRESS" in ok.stderr  # the progress display
    assert "value-never-printed" not in ok.stdout + ok.stderr

    standin.ecs_scenario(svc["service"], "rollback", polls=2)
    bad = _run("aws.ecs-deploy", *base, "--image", "registry.example/app:6.0", "--json")
    assert bad.returncode == 2
    result = next(r for r in json.loads(bad.stdout)["results"] if r["check"] == "ecs.failed")
    assert result["severity"] == "critical" and result["data"]["rolled_back_to"] == f"{svc['family']}:2"
    assert f"back to {svc['family']}:2" in result["message"]

    status = _run("aws.ecs-status", "--inventory", inv, "--cluster", svc["cluster"], "--service", svc["service"],
                  "--json")
    assert status.returncode in (1, 2)  # the failed deployment is reported, never "ok"
    assert any("FAILED" in r["message"] for r in json.loads(status.stdout)["results"])

    standin.ecs_scenario(svc["service"], "complete", polls=1)
    back = _run("aws.ecs-rollback", *base, "--to-revision", "1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"runs {svc['family']}:1" in back.stdout


def test_ecs_deploy_bad_input_and_timeout(tmp_path, standin, moto_aws, ecs_service):
    inv = _inv(tmp_path, standin)
    svc = ecs_service(single_container=True)
    base = ["--inventory", inv, "--cluster", svc["cluster"], "--service", svc["service"]]
    no_tag = _run("aws.ecs-deploy", *base, "--image", "registry.example/app")
    assert no_tag.returncode == 3 and "has no tag" in no_tag.stderr
    missing = _run("aws.ecs-deploy", "--inventory", inv, "--cluster", svc["cluster"], "--service", "ghost",
                   "--image", "app:1")
    assert missing.returncode == 3 and "not found" in missing.stderr

    standin.ecs_scenario(svc["service"], "never")
    slow = _run("aws.ecs-deploy", *base, "--image", "registry.example/app:7.0", "--timeout", "1s",
                "--interval", "0.2")
    assert slow.returncode == 2
    assert "did not complete within" in slow.stdout.replace("\n", " ") or "did not complete" in slow.stdout
    # nothing half-registered left unexplained: revision 2 is what the service now points at
    ecs = moto_aws.client("ecs")
    assert ecs.describe_services(cluster=svc["cluster"], services=[svc["service"]])["services"][0][
        "taskDefinition"].endswith(":2")


def test_ecr_ensure_cli(tmp_path, standin, uid):
    inv = _inv(tmp_path, standin)
    first = _run("aws.ecr-ensure", f"cli/app-{uid}", "--lifecycle-keep", "7", "--inventory", inv)
    assert first.returncode == 0, first.stderr
    assert "create repository" in first.stdout and "no changes" not in first.stdout
    again = _run("aws.ecr-ensure", f"cli/app-{uid}", "--lifecycle-keep", "7", "--inventory", inv, "--json")
    assert again.returncode == 0 and "unchanged" in json.loads(again.stdout)["results"][0]["message"]
    assert json.loads(again.stdout)["summary"]["changed"] is False


def test_msk_flow_cli(tmp_path, standin, moto_aws, uid):
    inv = _inv(tmp_path, standin)
    ec2 = moto_aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
        "Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    sg = ec2.create_security_group(GroupName=f"cli-{uid}", Description="x", VpcId=vpc)["GroupId"]
    cfg = ["--name", f"cfg-{uid}", "--kafka-version", "3.6.0", "--inventory", inv]

    too_high = _run("aws.msk-config", *cfg, "--brokers", "2", "--set", "auto.create.topics.enable=true",
                    "--set", "default.replication.factor=3")
    assert too_high.returncode == 3 and "exceeds the 2 broker" in too_high.stderr
    made = _run("aws.msk-config", *cfg, "--brokers", "2", "--set", "auto.create.topics.enable=true",
                "--set", "default.replication.factor=2", "--set", "min.insync.replicas=1")
    assert made.returncode == 0, made.stderr
    assert "revision 1" in made.stdout

    standin.msk_scenario(f"kafka-{uid}", polls=2)
    create = ["--name", f"kafka-{uid}", "--kafka-version", "3.6.0", "--brokers", "2", "--subnets", ",".join(subnets),
              "--security-groups", sg, "--configuration", f"cfg-{uid}", "--inventory", inv, "--interval", "0.05"]
    planned = _run("aws.msk-create", *create, "--plan")
    assert planned.returncode == 0 and "would create MSK cluster" in planned.stdout
    created = _run("aws.msk-create", *create)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "ACTIVE" in created.stdout and "CREATING" in created.stderr

    brokers = _run("aws.msk-brokers", "--cluster", f"kafka-{uid}", "--inventory", inv)
    assert brokers.returncode == 0, brokers.stderr
    assert brokers.stdout.strip().count(":9098") == 2 and "\n" not in brokers.stdout.strip()
    assert "inside the cluster's VPC" in brokers.stderr

    _run("aws.msk-config", *cfg, "--brokers", "2", "--set", "auto.create.topics.enable=false",
         "--set", "default.replication.factor=2", "--set", "min.insync.replicas=1")
    update = _run("aws.msk-update-config", "--cluster", f"kafka-{uid}", "--configuration", f"cfg-{uid}",
                  "--inventory", inv, "--interval", "0.05")
    assert update.returncode == 0, update.stdout + update.stderr
    assert "revision 2" in update.stdout

    unknown = _run("aws.msk-brokers", "--cluster", f"ghost-{uid}", "--inventory", inv)
    assert unknown.returncode == 3 and "not found" in unknown.stderr


def test_check_diff_and_detailed_exitcode(tmp_path, standin, moto_aws, ecs_service, uid):
    """The change contract on aws.*: --check --diff shows before/after, --detailed-exitcode says 1 while something
    would change and 0 once a real run made it so."""
    inv = _inv(tmp_path, standin)
    repo = ["aws.ecr-ensure", f"diff/app-{uid}", "--lifecycle-keep", "9", "--inventory", inv]
    check = _run(*repo, "--check", "--diff", "--detailed-exitcode")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "+lifecycle: keep 9" in check.stdout and "check mode: 1 change would be made" in check.stdout
    assert _run(*repo).returncode == 0
    clean = _run(*repo, "--check", "--diff", "--detailed-exitcode", "--json")
    assert clean.returncode == 0, clean.stdout
    assert json.loads(clean.stdout)["summary"]["changed"] is False

    svc = ecs_service(single_container=True)
    deploy = _run("aws.ecs-deploy", "--inventory", inv, "--cluster", svc["cluster"], "--service", svc["service"],
                  "--image", "registry.example/app:9.1", "--check", "--diff", "--detailed-exitcode", "--json")
    assert deploy.returncode == 1, deploy.stdout + deploy.stderr
    first = json.loads(deploy.stdout)["results"][0]
    assert "-container app image: registry.example/app:1.0.0" in first["message"]
    assert "+container app image: registry.example/app:9.1" in first["message"]
    assert first["data"]["after"].endswith("image: registry.example/app:9.1")
    # without --detailed-exitcode a check that finds changes still exits 0
    plain = _run("aws.ecs-deploy", "--inventory", inv, "--cluster", svc["cluster"], "--service", svc["service"],
                 "--image", "registry.example/app:9.1", "--check")
    assert plain.returncode == 0 and "@@" not in plain.stdout, plain.stdout

    cfg = ["aws.msk-config", "--name", f"dcfg-{uid}", "--kafka-version", "3.6.0", "--brokers", "2", "--inventory",
           inv, "--set", "default.replication.factor=2", "--set", "min.insync.replicas=1"]
    assert _run(*cfg, "--set", "auto.create.topics.enable=true").returncode == 0
    change = _run(*cfg, "--set", "auto.create.topics.enable=false", "--check", "--diff", "--detailed-exitcode")
    assert change.returncode == 1, change.stdout + change.stderr
    assert "-auto.create.topics.enable=true" in change.stdout and "+auto.create.topics.enable=false" in change.stdout
