"""Fixtures for the transaction load tests: an inventory of the lab with a `chaincode:` section, a private state
directory, and orderers evened out again afterwards (the stand-in orderers do not replicate blocks)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from opskit_lab import faults
from opskit_lab.standin.launch import control, get

ORDERERS = ["orderer1", "orderer2", "orderer3", "orderer4"]


def write_inventory(lab, path: Path, key: str) -> Path:  # type: ignore[no-untyped-def]
    """The lab's inventory plus a chaincode section that moves 1 from ``key`` to ``key``-b on every invoke."""
    from ruamel.yaml import YAML

    yaml = YAML()
    doc = yaml.load(Path(lab.inventory_path).read_text())
    doc["chaincode"] = {"name": "opskitcc", "channel": "mychannel",
                        "invoke_args": ["invoke", key, f"{key}-b", "1"], "query_args": ["query", key]}
    with open(path, "w") as fh:
        yaml.dump(doc, fh)
    return path


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(d))
    return d


@pytest.fixture
def lab_inv(lab, tmp_path: Path, state_dir: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """Inventory path for this test (its own chaincode key); afterwards every orderer has the same height."""
    key = "k" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]
    yield write_inventory(lab, tmp_path / "inventory.yaml", key)
    heights = {o: orderer_state(lab, o)["heights"]["mychannel"] for o in ORDERERS}
    top = max(heights.values())
    for o, h in heights.items():
        if h < top:
            faults.advance_chain(lab, o, blocks=top - h, channel="mychannel")


def orderer_state(lab, name: str) -> dict:  # type: ignore[no-untyped-def]
    code, body = get(lab.operations_url(name), "/lab/state")
    assert code == 200, body
    return json.loads(body)


def tx_mode(lab, orderer: str, mode: str) -> faults.Fault:  # type: ignore[no-untyped-def]
    """Fault: the orderer stand-in refuses (``refuse``) or silently drops (``drop``) transactions until undone."""
    url = lab.operations_url(orderer)
    control(url, "txmode", mode=mode)
    fault = faults.Fault(f"tx_{mode}", orderer, lambda: control(url, "txmode", mode="normal"), lab=lab)
    lab.faults.append(fault)
    return fault
