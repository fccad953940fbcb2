"""ruff and mypy pass (issue 17); their settings, and the baseline of modules mypy does not check yet, are in
pyproject.toml. Runs with README's test command, so CI runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from tests.conftest import REPO_ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    res = _run("ruff", "check", "--no-cache", "opskit", "tests", "tasks.py", "bench")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]


def test_mypy() -> None:
    cache = os.path.join(tempfile.gettempdir(), f"opskit-mypy-{os.geteuid()}")  # the tree may not be writable
    res = _run("mypy", "--cache-dir", cache, "opskit")
    assert res.returncode == 0 and "Success: no issues found" in res.stdout, res.stdout[-5000:] + res.stderr[-2000:]
