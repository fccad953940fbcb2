"""Container ``secrets`` from SSM Parameter Store: every parameter directly under a path.

Only names and ARNs are read: values are never decrypted, kept or printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opskit.aws.errors import BadInput, NotFound
from opskit.aws.session import Aws, api_errors

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH_RE = re.compile(r"^/[A-Za-z0-9_.\-/]*\Z")


@dataclass(frozen=True)
class SecretRef:
    """One entry of a container's ``secrets``: env var ``name`` from parameter ARN ``value_from``."""

    name: str
    value_from: str
    parameter: str
    type: str

    def as_ecs(self) -> dict[str, str]:
        return {"name": self.name, "valueFrom": self.value_from}


def normalize_path(path: str) -> str:
    if not path or not _PATH_RE.match(path) or "//" in path:
        raise BadInput(f"SSM path {path!r} must start with '/' and contain only letters, digits, '_', '.', '-', '/'")
    return path.rstrip("/") or "/"


def secrets_under(aws: Aws, path: str) -> list[SecretRef]:
    """Parameters directly under ``path`` (sub-paths excluded), as ECS secrets; exit 3 if none."""
    norm = normalize_path(path)
    ssm = aws.client("ssm")
    refs: list[SecretRef] = []
    with api_errors(f"list SSM parameters under {norm}"):
        for page in ssm.get_paginator("get_parameters_by_path").paginate(
                Path=norm, Recursive=False, WithDecryption=False):
            for param in page.get("Parameters", []):
                name = param["Name"]
                env = name.rsplit("/", 1)[-1]
                if not _ENV_RE.match(env):
                    raise BadInput(f"SSM parameter {name} cannot be an environment variable name "
                                   f"({env!r}: letters, digits and '_', not starting with a digit)")
                arn = param.get("ARN") or _arn(aws, name)
                refs.append(SecretRef(name=env, value_from=arn, parameter=name, type=param.get("Type", "")))
                param.clear()  # drop the (encrypted) value at once
    if not refs:
        raise NotFound(f"no SSM parameters directly under {norm}/ (sub-paths are not included): "
                       "nothing to put into the container's secrets")
    return sorted(refs, key=lambda r: r.name)


def _arn(aws: Aws, name: str) -> str:
    account = aws.client("sts").get_caller_identity()["Account"]
    return f"arn:aws:ssm:{aws.region}:{account}:parameter{name}"
