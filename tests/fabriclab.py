"""pytest plugin: labs on real Hyperledger Fabric (``opskit_lab.fabric``), built once per session on demand.

``fabric_lab`` is the real network with TLS (3 etcdraft orderer orgs, 3 peers of 2 orgs, a cli container);
``fabric_tls_lab`` is the same with mutual TLS required by orderers and peers and HTTPS operations endpoints;
``fabric_kafka_lab`` has the orderers on Kafka (a system channel, a tansu broker) for the Raft migration.
Both need a Fabric release: ``$OPSKIT_FABRIC_RELEASE`` (a release directory or tarball), else the one in
``../shared/fabric/`` next to the checkout; without one the tests are skipped with a reason that says so.

Each test gets the network healthy (every container running, every /healthz 200, every node at the same height)
and leaves it so: containers a test stopped or removed are started again afterwards and the heights levelled.
Names and subnets: ``OPSKIT_TEST_FABRIC_NAME``/``_SUBNET`` (default ``pytestf``, ``10.77.2.0/25``) and
``OPSKIT_TEST_FABRIC_TLS_NAME``/``_SUBNET`` (default ``pytestt``, ``10.77.2.128/25``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import built_lab

if TYPE_CHECKING:
    from opskit_lab.lab import Lab

FABRIC_LAB_NAME = os.environ.get("OPSKIT_TEST_FABRIC_NAME", "pytestf")
FABRIC_LAB_SUBNET = os.environ.get("OPSKIT_TEST_FABRIC_SUBNET", "10.77.2.0/25")
FABRIC_TLS_LAB_NAME = os.environ.get("OPSKIT_TEST_FABRIC_TLS_NAME", "pytestt")
FABRIC_TLS_LAB_SUBNET = os.environ.get("OPSKIT_TEST_FABRIC_TLS_SUBNET", "10.77.2.128/25")
FABRIC_KAFKA_LAB_NAME = os.environ.get("OPSKIT_TEST_FABRIC_KAFKA_NAME", "pytestr")
FABRIC_KAFKA_LAB_SUBNET = os.environ.get("OPSKIT_TEST_FABRIC_KAFKA_SUBNET", "10.77.3.0/25")
#: where the migration tests put their backups (on each host's lab disk)
MIGRATION_BACKUPS = "/var/hyperledger/opskit-backups"


def _release() -> str:
    from opskit_lab.fabric import default_release, fabric_missing

    why = fabric_missing()
    if why:
        pytest.skip(why)
    return str(default_release())


@pytest.fixture(scope="session")
def fabric_lab_session() -> Iterator["Lab"]:
    from opskit_lab.lab import LabConfig

    yield from built_lab(LabConfig(name=FABRIC_LAB_NAME, subnet=FABRIC_LAB_SUBNET, fabric=_release()))


@pytest.fixture(scope="session")
def fabric_tls_lab_session() -> Iterator["Lab"]:
    from opskit_lab.lab import LabConfig

    yield from built_lab(LabConfig(name=FABRIC_TLS_LAB_NAME, subnet=FABRIC_TLS_LAB_SUBNET, hosts=4,
                                   fabric=_release(), mtls=True, ops_tls=True))


@pytest.fixture(scope="session")
def fabric_kafka_lab_session() -> Iterator["Lab"]:
    from opskit_lab.lab import LabConfig

    # a Raft orderer preallocates 64 MiB of WAL per channel, and the migration's backups go to the hosts' disks
    yield from built_lab(LabConfig(name=FABRIC_KAFKA_LAB_NAME, subnet=FABRIC_KAFKA_LAB_SUBNET, fabric=_release(),
                                   consensus="kafka", disk_mb=1024))


@pytest.fixture
def fabric_kafka_lab(fabric_kafka_lab_session: "Lab") -> Iterator["Lab"]:
    """Real orderers on Kafka (a tansu broker), reset to their first start (kafka/STATE_NORMAL, fresh ledgers and
    topics) before the test: a test may migrate them, crash a migration or abort it."""
    from opskit_lab import faults

    errors = faults.undo_all(fabric_kafka_lab_session)
    assert not errors, f"undoing faults failed: {errors}"
    for host in fabric_kafka_lab_session.hosts.values():   # the previous test's migration backups
        host.exec(["rm", "-rf", MIGRATION_BACKUPS])
    fabric_kafka_lab_session.fabric.reset()
    found = fabric_kafka_lab_session.problems()
    assert not found, f"the real Kafka lab is not healthy after its reset: {found}"
    yield fabric_kafka_lab_session


def _healthy_around(lab: "Lab") -> Iterator["Lab"]:
    from opskit_lab import faults

    before = lab.problems()
    assert not before, f"the real-Fabric lab was not healthy before this test: {before}"
    yield lab
    errors = faults.undo_all(lab)
    assert not errors, f"undoing faults failed: {errors}"
    lab.fabric.repair()


@pytest.fixture
def fabric_lab(fabric_lab_session: "Lab") -> Iterator["Lab"]:
    """The real-Fabric lab (TLS), healthy before and after the test."""
    yield from _healthy_around(fabric_lab_session)


@pytest.fixture
def fabric_tls_lab(fabric_tls_lab_session: "Lab") -> Iterator["Lab"]:
    """The real-Fabric lab with mutual TLS and HTTPS operations endpoints, healthy before and after the test."""
    yield from _healthy_around(fabric_tls_lab_session)
