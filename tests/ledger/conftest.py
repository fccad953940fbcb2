"""Shared fixtures: the real Fabric 2.5 block files (copied from shared/fixtures) and getinfo outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fabric-2.5" / "03_raft_network"
LEDGERS = FIX / "ledgers"
SNAPSHOTS = FIX / "snapshots"


def getinfo(phase: str, peer: str = "peer0.org1") -> dict:
    text = (SNAPSHOTS / phase / "cli" / f"{peer}.getinfo_mychannel.txt").read_text()
    assert text.startswith("Blockchain info: ")
    return json.loads(text[len("Blockchain info: "):])


@pytest.fixture(scope="session")
def facts() -> dict:
    return json.loads((LEDGERS / "expected_facts_ledgers.json").read_text())["03_ledgers"]


def facts_of(facts: dict, name: str) -> dict:
    return facts[f"03_raft_network/ledgers/{name}/mychannel/blockfile_000000"]


@pytest.fixture
def chain_copy(tmp_path):
    """copy("orderer1_h43") -> a writable copy of that node's mychannel directory."""

    def copy(name: str, dest: str = "mychannel") -> Path:
        d = tmp_path / name / dest
        shutil.copytree(LEDGERS / name / "mychannel", d)
        for f in d.iterdir():
            f.chmod(0o644)
        return d

    return copy
