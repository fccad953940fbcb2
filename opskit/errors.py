"""Error classes with messages an operator can act on.

Every opskit error carries the process exit code it should end with, so the
Invoke front end can turn any of them into a clean message and a Nagios-style
code (see docs/exit-codes.md) without a traceback.
"""

from __future__ import annotations


class OpskitError(Exception):
    """Base class: a problem opskit detected and can explain."""

    exit_code: int = 3

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InventoryError(OpskitError):
    """The inventory file is missing, malformed or inconsistent."""


class SelectorError(OpskitError):
    """A host/node selector names something the inventory does not have."""


class UnsafeValueError(OpskitError):
    """A value that would be pasted into a remote command is not acceptable."""


class RemoteError(OpskitError):
    """A remote command or connection failed."""


class HostUnreachable(RemoteError):
    """The host could not be reached or authenticated within its deadline."""


class CommandTimeout(RemoteError):
    """A remote command did not finish within its deadline (the host may be fine; the command was slow)."""


class CommandFailed(RemoteError):
    """A remote command exited non-zero where success was required."""

    def __init__(self, host: str, argv: str, exit_code: int, stderr: str) -> None:
        tail = stderr.strip().splitlines()[-1:] if stderr else []
        detail = f": {tail[0]}" if tail else ""
        super().__init__(f"{host}: `{argv}` exited {exit_code}{detail}", exit_code=2)
        self.host = host
        self.argv = argv
        self.returncode = exit_code
        self.stderr = stderr


class LockHeld(OpskitError):
    """Another opskit run holds the lock for this inventory/scope."""
