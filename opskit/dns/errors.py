"""DNS error classes. Every message is safe to print: none ever contains a TSIG secret."""

from __future__ import annotations

from opskit.errors import OpskitError


class DnsError(OpskitError):
    """Base class for everything the DNS module reports."""

    exit_code = 2


class DnsInputError(DnsError):
    """A name, address, TTL or org given on the command line is not acceptable (nothing was sent)."""

    exit_code = 3


class DnsKeyError(DnsError):
    """The TSIG key file is missing, unreadable or malformed (nothing was sent)."""

    exit_code = 3


class DnsAuthError(DnsError):
    """The server rejected the key: BADSIG, BADKEY, BADTIME or REFUSED (the zone is unchanged)."""


class DnsConflict(DnsError):
    """A prerequisite failed: the record or zone is not what the change expected (the zone is unchanged)."""


class DnsServerError(DnsError):
    """The server could not be reached, answered with an error, or did not answer in time."""


class DnsTimeoutUnverified(DnsServerError):
    """An UPDATE got no answer and opskit could not tell whether it was applied."""

    exit_code = 3


class DnsVerifyError(DnsError):
    """The server accepted a change but a query afterwards does not show it."""


class SyncRefused(DnsError):
    """A sync plan would delete or change more of a zone than the safety threshold allows."""
