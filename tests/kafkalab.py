"""pytest plugin: a Kafka lab (orderers on Kafka, real Kafka genesis blocks) for migration tests.

``kafka_lab_session`` builds the lab once per session, only when a test asks for it, and tears it down (with a
leftovers check) at the end, like ``tests/conftest.py::lab_session``. ``kafka_lab`` gives each test a lab whose
orderers, Kafka brokers, ZooKeeper nodes and cli are back at their first start (``Lab.reset_fleet``): a test
may migrate channels, restart orderers with other settings or leave recreate leftovers behind.

Enable with ``pytest_plugins = [..., "tests.kafkalab"]`` or ``-p tests.kafkalab``. Name and subnet:
``OPSKIT_TEST_KLAB_NAME`` (default ``pytestk``), ``OPSKIT_TEST_KLAB_SUBNET`` (default ``10.77.1.0/25``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import built_lab

if TYPE_CHECKING:
    from opskit_lab.lab import Lab

KAFKA_LAB_NAME = os.environ.get("OPSKIT_TEST_KLAB_NAME", "pytestk")
KAFKA_LAB_SUBNET = os.environ.get("OPSKIT_TEST_KLAB_SUBNET", "10.77.1.0/25")


@pytest.fixture(scope="session")
def kafka_lab_session() -> Iterator["Lab"]:
    """The session's Kafka lab (4 hosts: every orderer on 7050, as the Kafka genesis blocks name them)."""
    from opskit_lab.lab import LabConfig

    for lab in built_lab(LabConfig(name=KAFKA_LAB_NAME, subnet=KAFKA_LAB_SUBNET, hosts=4, consensus="kafka")):
        lab.reset_seconds = []  # every reset_fleet of the session (seconds), for reports
        yield lab


@pytest.fixture
def kafka_lab(kafka_lab_session: "Lab") -> Iterator["Lab"]:
    """The Kafka lab with orderers/Kafka/ZooKeeper/cli reset to their first start (kafka, STATE_NORMAL)."""
    from opskit_lab import faults

    errors = faults.undo_all(kafka_lab_session)  # a fault left by the previous test (before the reset)
    assert not errors, f"undoing faults failed: {errors}"
    times = kafka_lab_session.reset_fleet()
    kafka_lab_session.reset_seconds.append(times["total"])
    found = kafka_lab_session.problems()
    assert not found, f"the Kafka lab is not healthy after reset_fleet: {found}"
    yield kafka_lab_session
    errors = faults.undo_all(kafka_lab_session)
    assert not errors, f"undoing faults failed: {errors}"
