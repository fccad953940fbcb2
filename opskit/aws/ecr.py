"""ECR repositories that exist with a lifecycle policy (keep the newest N images)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from opskit.aws.errors import BadInput, NotFound
from opskit.aws.session import Aws, api_errors

_REPO_RE = re.compile(r"^(?=.{2,256}\Z)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")

DEFAULT_KEEP = 30


@dataclass
class RepoResult:
    """What ``ensure_repository`` did (or, with ``plan``, would do)."""

    name: str
    uri: str | None
    changes: list[str] = field(default_factory=list)
    planned: bool = False
    #: the repository and its lifecycle before and after, as an operator reads them (``--diff``)
    before: str | None = None
    after: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def check_repository_name(name: str) -> str:
    if not _REPO_RE.match(name or ""):
        raise BadInput(f"{name!r} is not a valid ECR repository name: lowercase letters, digits, "
                       "'.', '_', '-' and '/' between path parts (2-256 characters)")
    return name


def lifecycle_policy(keep: int) -> dict[str, Any]:
    """One rule: expire images beyond the newest ``keep`` (tagged or not)."""
    if not isinstance(keep, int) or keep < 1:
        raise BadInput(f"--lifecycle-keep must be a whole number >= 1, got {keep!r}")
    return {"rules": [{
        "rulePriority": 1,
        "description": f"opskit: keep the newest {keep} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }]}


def ensure_repository(aws: Aws, name: str, *, keep: int = DEFAULT_KEEP, plan: bool = False) -> RepoResult:
    """Create the repository if missing and make its lifecycle policy keep ``keep`` images."""
    check_repository_name(name)
    wanted = lifecycle_policy(keep)
    ecr = aws.client("ecr")
    result = RepoResult(name=name, uri=None, planned=plan)
    repo: dict[str, Any] | None = None
    try:
        with api_errors(f"describe ECR repository {name}"):
            repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except NotFound:
        repo = None
    current: dict[str, Any] | None = None
    existed = repo
    if repo is None:
        result.changes.append(f"create repository {name}")
        if not plan:
            with api_errors(f"create ECR repository {name}"):
                repo = ecr.create_repository(repositoryName=name)["repository"]
    else:
        try:
            with api_errors(f"read the lifecycle policy of {name}"):
                current = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except (NotFound, ValueError):  # no policy yet, or one that is not JSON: replace it
            current = None
    result.uri = repo.get("repositoryUri") if repo else None
    result.before = None if existed is None else f"repository {name}\nlifecycle: {_describe_policy(current)}"
    result.after = f"repository {name}\nlifecycle: {_describe_policy(wanted)}"
    if current != wanted:
        before = _describe_policy(current)
        result.changes.append(f"set lifecycle policy: keep the newest {keep} images (was: {before})")
        if not plan:
            with api_errors(f"put the lifecycle policy of {name}", during_change=True):
                ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(wanted))
    return result


def _describe_policy(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "no policy"
    rules = policy.get("rules") or []
    if len(rules) == 1 and rules[0].get("selection", {}).get("countType") == "imageCountMoreThan":
        return f"keep {rules[0]['selection'].get('countNumber')}"
    return f"{len(rules)} custom rule(s)"
