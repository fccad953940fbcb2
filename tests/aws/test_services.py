"""ECR, SSM, the session factory and the moto server manager, against a real moto server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.aws import ecr, ssm
from opskit.aws.errors import AwsConfigError, BadInput, NotFound
from opskit.aws.poll import parse_duration
from opskit.aws.session import Aws, AwsTarget
from opskit_lab import procs
from opskit_lab.moto import MotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_ecr_ensure_creates_then_is_idempotent(moto_aws, uid):
    name = f"team/app-{uid}"
    planned = ecr.ensure_repository(moto_aws, name, keep=10, plan=True)
    assert planned.changes and planned.changes[0] == f"create repository {name}"
    client = moto_aws.client("ecr")
    assert not [r for r in client.describe_repositories()["repositories"] if r["repositoryName"] == name]

    first = ecr.ensure_repository(moto_aws, name, keep=10)
    assert len(first.changes) == 2 and first.uri and first.uri.endswith(name)
    policy = json.loads(client.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == 10

    assert ecr.ensure_repository(moto_aws, name, keep=10).changes == []
    changed = ecr.ensure_repository(moto_aws, name, keep=25)
    assert changed.changes == ["set lifecycle policy: keep the newest 25 images (was: keep 10)"]
    policy = json.loads(client.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == 25


def test_ecr_existing_repository_without_policy_gets_one(moto_aws, uid):
    name = f"bare-{uid}"
    moto_aws.client("ecr").create_repository(repositoryName=name)
    result = ecr.ensure_repository(moto_aws, name, keep=5)
    assert result.changes == ["set lifecycle policy: keep the newest 5 images (was: no policy)"]


@pytest.mark.parametrize("name,keep", [("Upper/Case", 5), ("a", 5), ("ok-name", 0)])
def test_ecr_bad_input(moto_aws, name, keep):
    with pytest.raises(BadInput):
        ecr.ensure_repository(moto_aws, name, keep=keep)


def test_ssm_secrets_under_path_have_arns_and_no_values(moto_aws, uid):
    client = moto_aws.client("ssm")
    client.put_parameter(Name=f"/s-{uid}/env/TOKEN", Value="very-secret", Type="SecureString")
    client.put_parameter(Name=f"/s-{uid}/env/sub/DEEP", Value="x", Type="String")
    refs = ssm.secrets_under(moto_aws, f"/s-{uid}/env/")
    assert [r.as_ecs() for r in refs] == [
        {"name": "TOKEN", "valueFrom": f"arn:aws:ssm:us-east-1:123456789012:parameter/s-{uid}/env/TOKEN"}]
    assert "very-secret" not in repr(refs)
    with pytest.raises(NotFound) as err:
        ssm.secrets_under(moto_aws, f"/s-{uid}/nothing")
    assert err.value.exit_code == 3
    with pytest.raises(BadInput):
        ssm.secrets_under(moto_aws, "relative/path")


def test_ssm_parameter_name_that_is_not_an_env_var(moto_aws, uid):
    moto_aws.client("ssm").put_parameter(Name=f"/e-{uid}/my-var", Value="x", Type="String")
    with pytest.raises(BadInput, match="environment variable"):
        ssm.secrets_under(moto_aws, f"/e-{uid}")


def test_session_errors_are_exit_3(monkeypatch, moto_server):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AwsConfigError, match="no AWS region") as err:
        Aws(AwsTarget(endpoint_url=moto_server.url))
    assert err.value.exit_code == 3
    with pytest.raises(AwsConfigError, match="profile 'nope'"):
        Aws(AwsTarget(region="us-east-1", profile="nope"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    aws = Aws(AwsTarget(region="us-east-1", endpoint_url=moto_server.url))
    with pytest.raises(AwsConfigError, match="no usable AWS credentials"):
        ecr.ensure_repository(aws, "whatever", keep=3)


def test_profile_from_inventory_is_used(monkeypatch, tmp_path, moto_server):
    config = tmp_path / "config"
    config.write_text("[profile lab]\nregion = eu-west-1\n")
    creds = tmp_path / "credentials"
    creds.write_text("[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key)
    aws = Aws(AwsTarget(profile="lab", endpoint_url=moto_server.url))
    assert aws.region == "eu-west-1" and aws.has_credentials()
    assert "testing" not in AwsTarget(profile="lab", endpoint_url=moto_server.url).describe()


def test_parse_duration():
    assert parse_duration("20m") == 1200 and parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    for bad in ("soon", "", "0", "-5m"):
        with pytest.raises(BadInput):
            parse_duration(bad)


def test_tasks_module_does_not_import_boto3():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import opskit.tasks.aws"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert "boto" not in out.stderr
    assert "opskit.tasks.aws" in out.stderr


def test_moto_server_manager(tmp_path):
    server = MotoServer(tmp_path)
    server.start()
    try:
        pid = procs.read_pid(server.pidfile)
        assert pid and procs.pid_alive(pid) and server.answers()
        assert server.url.startswith("http://127.0.0.1:")
        aws = Aws(AwsTarget(region="us-east-1", endpoint_url=server.url))
        aws.client("ecr").create_repository(repositoryName="reset-me")
        server.reset()
        assert aws.client("ecr").describe_repositories()["repositories"] == []
        with pytest.raises(RuntimeError, match="already in use"):
            MotoServer(tmp_path / "second", port=server.port).start()
        assert server.answers()
    finally:
        assert server.stop() is True
    assert not procs.pid_alive(pid) and not server.pidfile.exists() and not server.answers()
