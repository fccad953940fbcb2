"""AWS waits: durations like ``20m`` (the polling itself is :mod:`opskit.wait`, progress :mod:`opskit.change.progress`).

Watchers take ``clock`` and ``sleep`` so tests can run a 20-minute deadline in
microseconds with a fake clock. The sleep here is the *interval between two
status requests* to AWS, never a wait standing in for readiness.
"""

from __future__ import annotations

import re
from typing import TypeVar

from opskit.aws.errors import BadInput


T = TypeVar("T")

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\Z")


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """``90``, ``90s``, ``20m``, ``1h30m`` -> seconds (> 0)."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        m = _DURATION_RE.match(value)
        if not value or not m or not any(m.groups()):
            raise BadInput(f"{what} {text!r} is not a duration: use e.g. 90s, 20m, 1h30m")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise BadInput(f"{what} must be positive, got {text!r}")
    return seconds
