"""Errors of the AWS capability, each with the exit code the task ends with.

Convention (docs/exit-codes.md): 2 = a change was attempted and failed (critical),
3 = bad input, unknown resource or a problem found before anything was changed.
"""

from __future__ import annotations

from opskit.change.plan import ApplyFailed
from opskit.errors import OpskitError


class AwsError(OpskitError):
    """Base class of the AWS capability (exit 3 unless stated otherwise)."""


class BadInput(AwsError):
    """An argument or a property value is not acceptable; nothing was changed."""


class NotFound(AwsError):
    """A cluster, service, repository, configuration or parameter path does not exist."""


class AwsConfigError(AwsError):
    """No credentials, no region or an unknown profile: boto3 cannot even start."""


class AwsApiError(AwsError):
    """An AWS API call failed. Exit 3 before any change, 2 once a change was under way."""

    def __init__(self, message: str, *, code: str = "", exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.code = code


class DeploymentFailed(AwsError, ApplyFailed):
    """A deployment or cluster operation was started and did not succeed (exit 2; a CRITICAL result of the run)."""

    exit_code = 2

    def __init__(self, message: str, *, rolled_back_to: str | None = None, state: str | None = None) -> None:
        ApplyFailed.__init__(self, message, rolled_back_to=rolled_back_to, state=state)
        self.rolled_back_to = rolled_back_to
        self.state = state


class DeploymentTimeout(DeploymentFailed):
    """The deadline passed before the deployment or operation finished (exit 2)."""
