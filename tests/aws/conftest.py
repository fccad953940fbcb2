"""Fixtures for the AWS capability: a real moto server (session), the stand-in in front of it,
fake credentials, and boto3 clients that only ever reach 127.0.0.1.

Which tests use what:
- ``moto_aws``: straight to moto (ECR, SSM, ECS task definitions/services, EC2, MSK gaps).
- ``standin_aws``: through tests/aws/standin_server.py, which forwards to moto and plays
  ECS rollouts/rollbacks and the MSK API (see its docstring).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opskit_lab.moto import MotoServer
from tests.conftest import run_inv

sys.path.insert(0, str(Path(__file__).parent))
from standin_server import StandIn  # noqa: E402

REGION = "us-east-1"
REPO_ROOT = Path(__file__).resolve().parents[2]

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_MAX_ATTEMPTS": "1",            # moto answers 500 for what it lacks: no retries
    "AWS_EC2_METADATA_DISABLED": "true",  # never look for an instance role off the machine
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_RETRY_MODE",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
           "AWS_ROLE_ARN")


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in CLEARED:
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The lab's moto server when $OPSKIT_MOTO_URL names one (loopback only), else our own."""
    url = os.environ.get("OPSKIT_MOTO_URL")
    if url:
        assert url.startswith(("http://127.0.0.1:", "http://localhost:")), "moto must be on loopback"

        class Existing:
            def __init__(self, url: str) -> None:
                self.url = url.rstrip("/")

        yield Existing(url)
        return
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def standin(moto_server: MotoServer) -> Iterator[StandIn]:
    s = StandIn(moto_server.url, REGION).start()
    yield s
    s.stop()


def make_aws(url: str) -> Any:
    from opskit.aws.session import Aws, AwsTarget

    return Aws(AwsTarget(region=REGION, endpoint_url=url))


@pytest.fixture
def moto_aws(moto_server: MotoServer) -> Any:
    return make_aws(moto_server.url)


@pytest.fixture
def standin_aws(standin: StandIn) -> Any:
    return make_aws(standin.url)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:8]


ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def rich_task_definition(family: str, image: str = "registry.example/app:1.0.0") -> dict[str, Any]:
    """A task definition using many fields, so that any dropped field shows."""
    return {
        "family": family,
        "taskRoleArn": "arn:aws:iam::123456789012:role/app-task",
        "executionRoleArn": ROLE,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "volumes": [{"name": "scratch"}],
        "tags": [{"key": "team", "value": "fabric-ops"}],
        "containerDefinitions": [
            {
                "name": "app",
                "image": image,
                "essential": True,
                "memory": 512,
                "portMappings": [{"containerPort": 7051, "protocol": "tcp"}],
                "environment": [{"name": "MODE", "value": "dev"}, {"name": "DB_PASS", "value": "plain-in-env"}],
                "secrets": [{"name": "API_TOKEN",
                             "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-token"}],
                "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:7051/healthz"],
                                "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 20},
                "logConfiguration": {"logDriver": "awslogs",
                                     "options": {"awslogs-group": f"/ecs/{family}", "awslogs-region": REGION,
                                                 "awslogs-stream-prefix": "app"}},
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": False}],
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
                "dockerLabels": {"org.hyperledger.role": "peer"},
                "stopTimeout": 30,
            },
            {"name": "sidecar", "image": "registry.example/otel:0.9", "essential": False, "memory": 128},
        ],
    }


@pytest.fixture
def ecs_service(uid: str, moto_aws: Any) -> Callable[..., dict[str, str]]:
    """Create cluster + rich task definition + service in moto; returns names and the first ARN."""

    def make(*, desired: int = 2, single_container: bool = False) -> dict[str, str]:
        ecs = moto_aws.client("ecs")
        cluster, service, family = f"c-{uid}", f"s-{uid}", f"app-{uid}"
        ecs.create_cluster(clusterName=cluster)
        td = rich_task_definition(family)
        if single_container:
            td["containerDefinitions"] = td["containerDefinitions"][:1]
        arn = ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=arn, desiredCount=desired,
                           launchType="FARGATE",
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        return {"cluster": cluster, "service": service, "family": family, "arn": arn}

    return make


def write_inventory(path: Path, endpoint: str, profile: str | None = None) -> Path:
    lines = ["version: 2", "name: awstest", "hosts: {}", "aws:", f"  region: {REGION}", f"  endpoint_url: {endpoint}"]
    if profile:
        lines.append(f"  profile: {profile}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_aws_inv(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``inv``) from the repository root with fake credentials (tests/conftest.py's run_inv)."""
    return run_inv(*args, env={**FAKE_ENV, **(env or {})}, unset=CLEARED, timeout=timeout)
