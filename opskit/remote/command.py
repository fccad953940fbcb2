"""Build remote command lines from argv lists, never by pasting strings.

Every remote command opskit runs is an argv list. Over SSH it is joined with
:func:`shlex.join`, so a value such as ``x; touch /tmp/pwned`` reaches the remote
program as one literal argument. Shell features (pipes, redirections) are only
available through :func:`script`, whose text is a constant written in opskit and
whose variable parts are passed as positional parameters ("$1", "$2", ...).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from opskit.errors import UnsafeValueError

Argv = Sequence[str]


def check_argv(argv: Argv) -> list[str]:
    """Refuse anything that is not a non-empty list of strings without NUL bytes."""
    if isinstance(argv, (str, bytes)):
        raise UnsafeValueError("a command must be an argv list, not a string (no string pasting)")
    out = []
    for item in argv:
        if not isinstance(item, str):
            raise UnsafeValueError(f"command argument {item!r} is not a string")
        if "\0" in item:
            raise UnsafeValueError("command argument contains a NUL byte")
        out.append(item)
    if not out:
        raise UnsafeValueError("empty command")
    return out


def join(argv: Argv, env: Mapping[str, str] | None = None) -> str:
    """The shell-safe command line for ``argv`` (with ``env`` set through env(1))."""
    parts = check_argv(argv)
    if env:
        for key in env:
            if not key.isidentifier():
                raise UnsafeValueError(f"environment variable name {key!r} is not valid")
        parts = ["env", *(f"{k}={v}" for k, v in env.items()), *parts]
    return shlex.join(parts)


def script(text: str, *args: str) -> list[str]:
    """An argv that runs the constant shell ``text`` with ``args`` as "$1".."$N".

    ``text`` must be a literal from opskit's own code; only ``args`` may carry
    values from inventories or the command line.
    """
    return ["sh", "-c", text, "opskit", *(check_argv(list(args)) if args else [])]
