"""boto3 sessions and clients for one inventory: region, profile and endpoint from ``aws:``.

Credentials always come from boto3's normal chain (environment, shared files, SSO,
instance/container roles); the inventory may name a profile but never holds secrets.
Nothing here prints or logs a credential.

Retries use botocore's ``standard`` mode; ``AWS_MAX_ATTEMPTS`` (or the profile's
``max_attempts``) still applies, so tests can set it to 1 against servers that answer
500 for calls they do not implement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opskit.aws.errors import AwsApiError, AwsConfigError, BadInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from opskit.inventory.model import Inventory

#: Error codes that mean "the thing you named does not exist" (exit 3 before any change).
NOT_FOUND_CODES = frozenset({
    "ClusterNotFoundException", "ServiceNotFoundException", "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException", "ParameterNotFound", "NotFoundException", "ResourceNotFoundException",
    "InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidSecurityGroupID.NotFound", "InvalidVpcID.NotFound",
})


@dataclass(frozen=True)
class AwsTarget:
    """Where API calls go. ``None`` fields fall back to boto3's chain (env, profile, defaults)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_inventory(cls, inventory: "Inventory") -> "AwsTarget":
        aws = inventory.aws
        return cls(region=aws.region, profile=aws.profile, endpoint_url=aws.endpoint_url)

    def describe(self) -> str:
        """Where calls go, for people: never a credential."""
        parts = [f"region {self.region or '(from the boto3 chain)'}"]
        if self.profile:
            parts.append(f"profile {self.profile}")
        if self.endpoint_url:
            parts.append(f"endpoint {self.endpoint_url}")
        return ", ".join(parts)


class Aws:
    """One boto3 session and its clients (cached per service), bound to one :class:`AwsTarget`."""

    def __init__(self, target: AwsTarget | None = None, *, max_attempts: int | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0) -> None:
        import boto3
        from botocore.exceptions import ProfileNotFound

        import os

        from opskit import values

        self.target = target or AwsTarget()
        for var, check in (("AWS_MAX_ATTEMPTS", lambda x: values.count(x, "AWS_MAX_ATTEMPTS", minimum=1,
                                                                         maximum=100)),
                           ("AWS_ENDPOINT_URL", values.url), ("AWS_PROFILE", values.arg), ("AWS_REGION", values.arg),
                           ("AWS_DEFAULT_REGION", values.arg)):
            if os.environ.get(var):
                try:
                    check(os.environ[var])
                except ValueError as exc:
                    raise AwsConfigError(f"environment variable {var}: {exc}") from None
        if self.target.endpoint_url:
            try:
                values.url(self.target.endpoint_url)
            except ValueError as exc:
                raise AwsConfigError(f"aws.endpoint_url: {exc}") from None
        try:
            self.session = boto3.Session(profile_name=self.target.profile, region_name=self.target.region)
        except ProfileNotFound as exc:
            profile = self.target.profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") \
                or getattr(exc, "kwargs", {}).get("profile")
            where = "the inventory's aws.profile" if self.target.profile else "AWS_PROFILE in the environment"
            raise AwsConfigError(f"AWS profile {profile!r} (from {where}) is not configured "
                                 "(~/.aws/config or AWS_CONFIG_FILE)") from None
        if not self.session.region_name:
            raise AwsConfigError("no AWS region: set aws.region in the inventory, AWS_REGION, or a region in the profile")
        self.region: str = self.session.region_name
        retries: dict[str, Any] = {"mode": "standard"}
        if max_attempts is not None:
            retries["total_max_attempts"] = max_attempts
        self._config_kwargs = {"retries": retries, "connect_timeout": connect_timeout, "read_timeout": read_timeout}
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """A botocore client; request validation against the AWS model stays on."""
        if service not in self._clients:
            from botocore.config import Config

            self._clients[service] = self.session.client(
                service, endpoint_url=self.target.endpoint_url, config=Config(**self._config_kwargs))
        return self._clients[service]

    def has_credentials(self) -> bool:
        return self.session.get_credentials() is not None


@contextlib.contextmanager
def api_errors(action: str, *, during_change: bool = False) -> Iterator[None]:
    """Turn botocore exceptions into opskit errors with an actionable message.

    Before a change, problems are exit 3 (unknown resource, bad input, no access);
    ``during_change=True`` makes API failures exit 2 (a change was under way).
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(err.get("Code") or "")
        message = str(err.get("Message") or "").strip()
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(exc.response, dict) else None
        detail = f"{code}: {message}" if message else (code or f"HTTP {status}")
        if code in NOT_FOUND_CODES and not during_change:
            raise NotFound(f"{action}: {detail}") from None
        raise AwsApiError(f"{action} failed: {detail}", code=code, exit_code=2 if during_change else 3) from None
    except ParamValidationError as exc:
        raise BadInput(f"{action}: the AWS API refuses these parameters: {exc}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise AwsConfigError(f"{action}: no usable AWS credentials (environment, profile, SSO or role)") from None
    except NoRegionError:
        raise AwsConfigError(f"{action}: no AWS region configured") from None
    except BotoCoreError as exc:
        raise AwsApiError(f"{action} failed: {exc}", exit_code=2 if during_change else 3) from None
