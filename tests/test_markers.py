"""tests/conftest.py marks tests by the fixtures they use: ``lab`` (lab, Kafka lab) and ``real_fabric`` (fabric_*)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

CONFTEST = '''
import pytest

from tests.conftest import pytest_collection_modifyitems  # noqa: F401  (the hook under test)


@pytest.fixture
def lab():
    return "lab"


@pytest.fixture
def kafka_lab():
    return "kafka"


@pytest.fixture
def through_lab(lab):
    return lab


@pytest.fixture
def fabric_lab():
    return "fabric"


@pytest.fixture
def fabric_peer(fabric_lab):
    return fabric_lab
'''

SAMPLE_TESTS = '''
def test_plain(tmp_path):
    pass


def test_direct(lab):
    pass


def test_indirect(through_lab):
    pass


def test_kafka(kafka_lab):
    pass


def test_fabric(fabric_lab):
    pass


def test_fabric_prefix(fabric_peer):
    pass
'''


def _selected(tmp_path: Path, expr: str) -> set[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-m", expr,
                          "--rootdir", str(tmp_path), "-c", os.devnull, "-W", "ignore::pytest.PytestUnknownMarkWarning",
                          str(tmp_path / "test_sample.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode in (0, 5), res.stdout + res.stderr
    return {line.split("::")[1] for line in res.stdout.splitlines() if "::" in line}


def test_lab_marker_follows_the_fixtures(tmp_path: Path) -> None:
    assert _selected(tmp_path, "lab") == {"test_direct", "test_indirect", "test_kafka", "test_fabric",
                                          "test_fabric_prefix"}


def test_real_fabric_marker_for_fabric_fixtures(tmp_path: Path) -> None:
    assert _selected(tmp_path, "real_fabric") == {"test_fabric", "test_fabric_prefix"}
    assert _selected(tmp_path, "not lab and not real_fabric") == {"test_plain"}


def test_markers_are_registered() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"lab:' in text and '"real_fabric:' in text
