"""Shared pytest fixtures. Fixture modules are plugins so each starts its equipment once per session.

The lab (docs/lab.md) is built at most once per session, and only when a test asks for the ``lab``
fixture (or ``lab_session``): tests that need no lab never pay for it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from opskit.lab.lab import Lab, LabConfig

pytest_plugins = ["tests.sshfleet", "tests.kafkalab"]

#: The test lab lives in the first half of the lab subnet; tests/lab/test_down.py builds a throw-away
#: lab in the second half, so both fit in 10.77.0.0/24 next to each other.
TEST_LAB_NAME = os.environ.get("OPSKIT_TEST_LAB_NAME", "pytest")
TEST_LAB_SUBNET = os.environ.get("OPSKIT_TEST_LAB_SUBNET", "10.77.0.0/25")
SPARE_LAB_SUBNET = os.environ.get("OPSKIT_TEST_SPARE_SUBNET", "10.77.0.128/25")


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
    from opskit.lab.wait import wait_for

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
    from opskit.lab.lab import Lab

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
    from opskit.lab.lab import LabConfig

    yield from built_lab(LabConfig(name=TEST_LAB_NAME, subnet=TEST_LAB_SUBNET))


@pytest.fixture
def lab(lab_session: "Lab") -> Iterator["Lab"]:
    """The session's lab for one test: every fault the test applied is undone afterwards, and the lab is
    checked to be healthy again before the next test gets it."""
    from opskit.lab import faults
    from opskit.lab.wait import wait_for

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
