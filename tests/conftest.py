"""Shared pytest fixtures. Fixture modules are plugins so each starts its equipment once per session.

The lab (docs/lab.md) is built at most once per session, and only when a test asks for the ``lab``
fixture (or ``lab_session``): tests that need no lab never pay for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from opskit_lab.lab import Lab, LabConfig

pytest_plugins = ["tests.sshfleet", "tests.kafkalab", "tests.fabriclab"]

#: the repository root: ``inv`` finds tasks.py here
REPO_ROOT = Path(__file__).resolve().parents[1]


def inv_argv(*args: str, program: str = "invoke") -> list[str]:
    """The argv of ``inv ARGS`` (``program="opskit"``: ``python3 -m opskit ARGS``, the task program cron runs),
    with this interpreter, so the subprocess imports the tree under test (PYTHONPATH is inherited)."""
    return [sys.executable, "-m", program, *args]


def run_inv(*args: str, env: Mapping[str, str] | None = None, unset: Iterable[str] = (),
            cwd: str | os.PathLike[str] = REPO_ROOT, timeout: float = 60, program: str = "invoke",
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as an operator does: ``inv ARGS`` from ``cwd`` (the repository root by default). ``env`` is added
    to this process's environment less the ``unset`` names. Gives the exit code (``returncode``), ``stdout`` and
    ``stderr``; never raises on a non-zero exit."""
    full_env = {k: v for k, v in os.environ.items() if k not in set(unset)}
    full_env.update(env or {})
    return subprocess.run(inv_argv(*args, program=program), cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, input=input)

#: The test lab lives in the first half of the lab subnet; tests/lab/test_down.py builds a throw-away
#: lab in the second half, so both fit in 10.77.0.0/24 next to each other.
TEST_LAB_NAME = os.environ.get("OPSKIT_TEST_LAB_NAME", "pytest")
TEST_LAB_SUBNET = os.environ.get("OPSKIT_TEST_LAB_SUBNET", "10.77.0.0/25")
SPARE_LAB_SUBNET = os.environ.get("OPSKIT_TEST_SPARE_SUBNET", "10.77.0.128/25")


#: fixtures that build (or hand out) a lab: a test that uses one, directly or through other fixtures, gets the
#: ``lab`` marker; one that uses ``fabric_lab`` or any ``fabric_*`` fixture also gets ``real_fabric``.
LAB_FIXTURES = frozenset({"lab", "lab_session", "kafka_lab", "kafka_lab_session"})


#: the session fixture that builds each lab -> the lab it is (one lab, one pytest-xdist worker)
LAB_OF_FIXTURE = {"lab_session": "standin", "kafka_lab_session": "kafka", "fabric_lab": "fabric",
                  "fabric_tls_lab": "fabric-tls", "fabric_kafka_lab": "fabric-kafka"}
#: modules that share something machine-wide with a lab's group: root's crontab (the check-contract test reads it)
SHARES_WITH = {"tests/cron/test_cron.py": "fabric"}


@pytest.fixture(autouse=True)
def _no_inherited_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist workers get COLUMNS=80/LINES=24 in their environment; a test that wants a width sets it."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist reads the xdist_group marks (it runs its own hook last)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the fixtures they use, so ``-m "not lab and not real_fabric"`` selects the fast tests; and
    group them for pytest-xdist (``--dist loadgroup``)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        fabric = any(n == "fabric_lab" or n.startswith("fabric_") for n in names)
        if fabric:
            item.add_marker(pytest.mark.real_fabric)
        if fabric or names & LAB_FIXTURES:
            item.add_marker(pytest.mark.lab)
    if config.pluginmanager.hasplugin("xdist"):
        for item, group in xdist_groups(items).items():
            item.add_marker(pytest.mark.xdist_group(group))


def xdist_groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """Which worker group each test belongs to. Every test of one lab runs on one worker (a lab is built once, by
    one process, and its tests keep their order: health before rollouts); labs that one test uses together share
    a group; a test without a lab stays with its module (module-scoped servers, order within the file)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    labs_of: dict[pytest.Item, list[str]] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        labs = sorted({LAB_OF_FIXTURE[n] for n in getattr(item, "fixturenames", ()) if n in LAB_OF_FIXTURE})
        if path in SHARES_WITH:
            labs.append(SHARES_WITH[path])
        labs_of[item] = labs
        for other in labs[1:]:
            parent[find(other)] = find(labs[0])
    return {item: ("lab-" + find(labs[0])) if labs else item.nodeid.split("::")[0]
            for item, labs in labs_of.items()}


def lab_missing() -> str | None:
    """Why the lab cannot be built here (None when it can)."""
    if os.geteuid() != 0:
        return "the lab needs root"
    missing = [b for b in ("dockerd", "/usr/sbin/sshd", "named", "prometheus", "prometheus-node-exporter", "nsenter")
               if shutil.which(b) is None]
    return f"lab programs missing: {', '.join(missing)} (bash tests/install.sh)" if missing else None


def claim_lab(lab: "Lab", wait_s: float = 240) -> None:
    """Make way for building ``lab``: wait while another live test session owns a lab of that name (two
    sessions on one machine take turns), then remove what an interrupted run left behind."""
    from opskit_lab.wait import wait_for

    if lab.owner() is not None:
        wait_for(lambda: lab.owner() is None, timeout=wait_s,
                 what=f"the test session that owns lab {lab.name} to finish")
    if lab.exists():
        lab.down()


def built_lab(config: "LabConfig") -> Iterator["Lab"]:
    """Build a lab for a session fixture (skip where the lab cannot run), yield it, tear it down and check that
    nothing is left behind. Used as ``yield from built_lab(LabConfig(...))``."""
    why = lab_missing()
    if why:
        pytest.skip(why)
    from opskit_lab.lab import Lab

    lab = Lab(config)
    claim_lab(lab)
    lab.up_result = lab.up()
    try:
        yield lab
    finally:
        problems = lab.down()
        left = lab.leftovers()
        assert not problems and not left, f"lab.down: problems={problems} leftovers={left}"


@pytest.fixture(scope="session")
def lab_session() -> Iterator["Lab"]:
    """The session's lab (6 hosts, fleet, BIND, Prometheus, moto); torn down and checked at the end."""
    from opskit_lab.lab import LabConfig

    # rotate_logs off: the health and rollout tests start from the unrotated logs that rollout.logging fixes
    yield from built_lab(LabConfig(name=TEST_LAB_NAME, subnet=TEST_LAB_SUBNET, rotate_logs=False))


@pytest.fixture
def lab(lab_session: "Lab") -> Iterator["Lab"]:
    """The session's lab for one test: every fault the test applied is undone afterwards, and the lab is
    checked to be healthy again before the next test gets it."""
    from opskit_lab import faults
    from opskit_lab.wait import wait_for

    before = lab_session.problems()
    assert not before, f"the lab was not healthy before this test: {before}"
    yield lab_session
    errors = faults.undo_all(lab_session)
    assert not errors, f"undoing faults failed: {errors}"

    def healthy() -> bool:
        found = lab_session.problems()
        if found:
            raise AssertionError("; ".join(found))
        return True

    wait_for(healthy, timeout=30, what="the lab to be healthy again after the test's faults were undone")
    if lab_session.config.fleet:
        faults.level_chains(lab_session)  # stand-ins do not replicate: even out what the test advanced
