"""Secret-looking values are shown as ``<secret>``: in plans, journals, ``--json`` and progress lines.

A value is secret when its name (an environment variable, a label, a key of a mapping) contains one of
:data:`MARKERS` (case-insensitive), e.g. ``COUCHDB_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``, ``GITHUB_TOKEN``,
``CORE_PEER_TLS_KEY_FILE`` is *not* a secret value (a path) but is masked anyway: masking too much costs a
look at the host; masking too little puts a password in a file that outlives the run.
"""

from __future__ import annotations

import re
from typing import Any

MARKERS = ("PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE", "AUTH", "COOKIE",
           "SESSION", "SIGNATURE", "CERT_PEM")
MASK = "<secret>"
CHANGED = "<secret, changed>"
_ENV_ITEM = re.compile(r"^((?:--?[A-Za-z-]+=)?[A-Za-z_][A-Za-z0-9_.-]*)=(.*)$", re.DOTALL)


def is_secret_name(name: str) -> bool:
    up = name.upper()
    return any(m in up for m in MARKERS)


def mask_env(env: dict[str, Any]) -> dict[str, Any]:
    return {k: (MASK if is_secret_name(str(k)) and v not in (None, "") else v) for k, v in env.items()}


def mask_env_pair(current: dict[str, Any], desired: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both sides of an env change masked, still showing *that* a secret changed (never its value)."""
    cur, want = mask_env(current), dict(desired)
    for k, v in desired.items():
        if is_secret_name(str(k)) and v not in (None, ""):
            want[k] = MASK if current.get(k) == v else CHANGED
    return cur, want


def mask(obj: Any, key: str = "") -> Any:
    """A copy of ``obj`` (dicts, lists, strings) with every secret-looking value masked: mapping items whose key
    looks secret, and ``NAME=VALUE`` strings whose NAME does."""
    if isinstance(obj, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and isinstance(v, (str, int, float))
                    and v not in ("", None) else mask(v, str(k))) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mask(x, key) for x in obj]
    if isinstance(obj, str):
        m = _ENV_ITEM.match(obj)
        if m and is_secret_name(m.group(1).rpartition("=")[2]) and m.group(2):
            return f"{m.group(1)}={MASK}"
    return obj
