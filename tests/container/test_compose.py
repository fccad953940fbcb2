"""compose.edit_text on Fabric's own test-network compose file (fast: no engine, no root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from opskit.container.compose import ComposeChange, ComposeError, edit_text, find_service
from opskit.inventory import load_text
from opskit.inventory.model import Node

COMPOSE = Path(__file__).resolve().parents[1] / "fixtures" / "compose" / "compose-test-net.yaml"
TEXT = COMPOSE.read_text()


def _node(name: str = "orderer1", container: str | None = "orderer.example.com", service: str | None = None) -> Node:
    extra = (f"    container: {container}\n" if container else "") + (f"    compose_service: {service}\n" if service else "")
    inv = load_text("version: 2\nname: t\nhosts:\n  vm1:\n    address: 192.0.2.1\nnodes:\n"
                    f"  {name}:\n    kind: orderer\n    host: vm1\n" + extra, "t.yaml")
    return inv.nodes[name]


def _data(text: str) -> Any:
    return YAML(typ="safe").load(text)


def test_service_found_by_container_name_then_by_compose_service() -> None:
    doc = _data(TEXT)
    assert find_service(doc, _node()) == "orderer.example.com"
    assert find_service(doc, _node("peer0", container=None, service="peer0.org1.example.com")) == "peer0.org1.example.com"
    with pytest.raises(ComposeError, match="no service for node orderer7"):
        find_service(doc, _node("orderer7", container="orderer7.example.com"))
    with pytest.raises(ComposeError, match="no service 'nope'"):
        find_service(doc, _node(service="nope"))


def test_image_change_touches_one_line_and_keeps_comments() -> None:
    edit = edit_text(TEXT, _node(), ComposeChange(image="hyperledger/fabric-orderer:2.5.9"))
    assert edit.changed and edit.service == "orderer.example.com"
    removed = [ln[1:] for ln in edit.diff().splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in edit.diff().splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    # the image line is the only change of content. Known limit (ruamel.yaml keeps one sequence indent per file):
    # this file indents the service's `volumes:` list by 4 and its other lists by 2, so those three volume lines
    # come back re-indented by 2 (same data).
    assert [ln.strip() for ln in removed if ln.strip() not in {a.strip() for a in added}] == \
        ["image: hyperledger/fabric-orderer:latest"]
    assert [ln.strip() for ln in added if ln.strip() not in {r.strip() for r in removed}] == \
        ["image: hyperledger/fabric-orderer:2.5.9"]
    assert len(removed) <= 4
    before, after = _data(TEXT), _data(edit.new)
    after["services"]["orderer.example.com"]["image"] = "hyperledger/fabric-orderer:latest"
    assert after == before
    # comments, the licence header and the file's own indentation survive the round trip
    assert edit.new.startswith("# Copyright IBM Corp. All Rights Reserved.")
    assert "      #- FABRIC_LOGGING_SPEC=DEBUG\n" in edit.new
    assert "      - ORDERER_GENERAL_LISTENPORT=7050\n" in edit.new
    # the same change again: nothing to do
    assert not edit_text(edit.new, _node(), ComposeChange(image="hyperledger/fabric-orderer:2.5.9")).changed


def test_logging_and_new_volume_change_only_that_service() -> None:
    change = ComposeChange(log_driver="json-file", log_opts={"max-size": "50m", "max-file": "5"},
                           volumes={"/var/hyperledger/production/orderer": "other",   # mounted already: kept
                                    "/var/hyperledger/snapshots": "orderer-snapshots"})
    edit = edit_text(TEXT, _node(), change)
    before, after = _data(TEXT), _data(edit.new)
    svc = after["services"]["orderer.example.com"]
    assert svc["logging"] == {"driver": "json-file", "options": {"max-size": "50m", "max-file": "5"}}
    assert svc["volumes"][-2:] == ["orderer.example.com:/var/hyperledger/production/orderer",
                                   "orderer-snapshots:/var/hyperledger/snapshots"]
    # the new named volume is declared external, so `docker compose down -v` never deletes it
    assert after["volumes"]["orderer-snapshots"] == {"external": True}
    for name in ("peer0.org1.example.com", "peer0.org2.example.com"):
        assert after["services"][name] == before["services"][name]
    assert {k: v for k, v in after["volumes"].items() if k != "orderer-snapshots"} == before["volumes"]
    assert not edit_text(edit.new, _node(), change).changed


def test_log_driver_change_drops_the_old_driver_options() -> None:
    first = edit_text(TEXT, _node(), ComposeChange(log_driver="json-file", log_opts={"max-size": "50m"})).new
    second = edit_text(first, _node(), ComposeChange(log_driver="local"))
    assert _data(second.new)["services"]["orderer.example.com"]["logging"] == {"driver": "local", "options": {}}


def test_bad_files_are_refused_with_the_path() -> None:
    with pytest.raises(ComposeError, match="/srv/x.yaml is not valid YAML"):
        edit_text("services: [\n", _node(), ComposeChange(image="x"), path="/srv/x.yaml")
    with pytest.raises(ComposeError, match="empty or not a mapping"):
        edit_text("", _node(), ComposeChange(image="x"))
    with pytest.raises(ComposeError, match="no `services:` section"):
        edit_text("version: '2'\n", _node(), ComposeChange(image="x"))
