"""Validated values: what may reach a remote argv, a ``--mount``, a crontab line, a DNS name or a file path.

One place for the inventory model (as pydantic ``Annotated`` types) and for task arguments (``cli_*`` helpers that
turn a bad value into :class:`BadValue`, exit 3, before any host is contacted). Each check refuses what would
become *syntax* downstream rather than data:

* control characters (newline, carriage return, NUL, escape ...) anywhere: a newline is a new crontab line, a new
  compose key, a new log record;
* ``,`` and ``=`` in mount paths and volume names: ``--mount type=volume,source=V,destination=P`` is a key=value
  list, so ``/x,type=bind,source=/etc`` would be a second mount option;
* a leading ``-`` in a value that is one argv element: it would be read as an option;
* scoped IPv6 addresses (``fe80::1%eth0``), prefixes outside 0..32/128, URLs without scheme or host;
* numbers: non-numeric, negative, NaN/infinite, or zero where zero means "no limit".
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

from opskit.errors import UnsafeValueError

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_VOLUME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_SIZE_RE = re.compile(r"^([0-9]{1,15})([bkmg]?)$", re.IGNORECASE)
_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}\Z")


class BadValue(UnsafeValueError):
    """A value given on the command line or in the inventory is not acceptable (exit 3, nothing was run)."""


# -- checks: each returns the (normalised) value or raises ValueError with a message for an operator ----------
def no_control(value: str, what: str = "value") -> str:
    m = _CONTROL.search(value)
    if m:
        raise ValueError(f"{what} contains a control character ({m.group()!r}); newlines, tabs, NUL and escapes "
                         "are not accepted")
    return value


def text(value: str) -> str:
    """Free text that still ends up in a command, a file or a log line: no control characters."""
    return no_control(value, "text")


def arg(value: str) -> str:
    """One argv element given by a user: no control characters and no leading '-' (it would read as an option)."""
    no_control(value, "argument")
    if value.startswith("-"):
        raise ValueError(f"{value!r} starts with '-' and would be read as an option")
    if not value:
        raise ValueError("empty value")
    return value


def file_path(value: str) -> str:
    """A file path (absolute, relative or ~): no control characters, not empty, no leading '-'."""
    if not value:
        raise ValueError("empty path")
    no_control(value, "path")
    if value.startswith("-"):
        raise ValueError(f"path {value!r} starts with '-'")
    return value


def abs_path(value: str) -> str:
    """An absolute POSIX path (or ~...), normalised; no control characters."""
    file_path(value)
    if not value.startswith("/") and not value.startswith("~"):
        raise ValueError(f"{value!r} must be an absolute path")
    return str(PurePosixPath(value)) if value.startswith("/") else value


def mount_path(value: str) -> str:
    """A container path that becomes ``destination=`` of ``--mount``: absolute, no ',' '=' or control characters."""
    v = abs_path(value)
    if not v.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path inside the container")
    bad = sorted({c for c in v if c in ",=\"'"})
    if bad:
        raise ValueError(f"mount path {value!r} contains {' '.join(repr(c) for c in bad)}, which docker's --mount "
                         "would read as option syntax")
    return v


def volume_name(value: str) -> str:
    """A docker named volume: letters, digits, '_', '.', '-' (docker's own rule), nothing else."""
    if not _VOLUME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid volume name: letters, digits, '_', '.', '-' (first a letter "
                         "or digit, at most 128)")
    return value


def image_ref(value: str) -> str:
    """An image reference such as ``hyperledger/fabric-orderer:2.5.4`` or ``repo@sha256:...``."""
    if not _IMAGE_RE.match(value):
        raise ValueError(f"{value!r} is not an image reference (letters, digits and . _ / : @ + -, no leading '-')")
    return value


def ip(value: str) -> str:
    """An IPv4 or IPv6 address (no zone index)."""
    if "%" in value:
        raise ValueError(f"{value!r} is a scoped IPv6 address; the zone (%{value.split('%', 1)[1]}) only means "
                         "something on one machine: give the address without it")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None


def network(value: str) -> str:
    """A network in CIDR notation (host bits must be zero)."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network (CIDR such as 10.81.0.0/25): {exc}") from None


def url(value: str) -> str:
    """An http(s) URL with a host."""
    no_control(value, "URL")
    try:
        parts = urlsplit(value)
        parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(f"{value!r} is not a URL (expected http(s)://HOST[:PORT][/PATH])")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        n = value if isinstance(value, (int, float)) else float(str(value))
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, not {value!r}") from None
    if isinstance(n, float) and not math.isfinite(n):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return n


def seconds(value: object, what: str = "seconds", *, allow_zero: bool = False) -> float:
    """A positive number of seconds (0 would mean "no deadline" to many libraries: refused unless allowed)."""
    n = float(_number(value, what))
    if n < 0 or (n == 0 and not allow_zero):
        raise ValueError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} number of seconds, "
                         f"not {value!r}")
    return n


def count(value: object, what: str = "count", *, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole number >= minimum (and <= maximum)."""
    if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        raise ValueError(f"{what} must be a whole number, not {value!r}")
    n = _number(value, what)
    if n != int(n):
        raise ValueError(f"{what} must be a whole number, not {value!r}")
    i = int(n)
    if i < minimum or (maximum is not None and i > maximum):
        rng = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{what} must be {rng}, not {value!r}")
    return i


def size(value: object, what: str = "size") -> str:
    """A docker size such as ``50m`` / ``1g`` / ``100k`` / ``4096``: positive, lower-case unit."""
    m = _SIZE_RE.match(str(value).strip()) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"{what} must be a positive size such as 50m, 1g or 100k, not {value!r}")
    return f"{int(m.group(1))}{m.group(2).lower()}"


# -- pydantic types for the inventory model ------------------------------------------------------------------
Text = Annotated[str, AfterValidator(text)]
FilePath = Annotated[str, AfterValidator(file_path)]
AbsPath = Annotated[str, AfterValidator(abs_path)]
MountPath = Annotated[str, AfterValidator(mount_path)]
VolumeName = Annotated[str, AfterValidator(volume_name)]
ImageRef = Annotated[str, AfterValidator(image_ref)]
Url = Annotated[str, AfterValidator(url)]
Arg = Annotated[str, AfterValidator(arg)]


# -- command-line front: the same checks, as BadValue naming the option ----------------------------------------
def cli(check, value, option: str, **kw):  # type: ignore[no-untyped-def]
    """``check(value, ...)`` for the task option ``option``; a ValueError becomes :class:`BadValue` (exit 3)."""
    try:
        if check in (seconds, count, size):
            return check(value, option, **kw)
        return check(value, **kw)
    except ValueError as exc:
        msg = str(exc)
        raise BadValue(msg if msg.startswith(option) else f"{option}: {msg}") from None


def cli_optional(check, value, option: str, **kw):  # type: ignore[no-untyped-def]
    """As :func:`cli`, None passes through (the option was not given)."""
    return None if value is None else cli(check, value, option, **kw)
