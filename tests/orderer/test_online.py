"""Inventory -> what the tools container is told (no network): addresses, TLS flags, admins, clear errors."""

from __future__ import annotations

import pytest

from opskit.errors import InventoryError, SelectorError
from opskit.inventory.model import Inventory
from opskit.orderer.online import channel_orderers, orderer_admins, tools_node


def inventory(**node_extra) -> Inventory:
    return Inventory.model_validate({
        "hosts": {"vm1": {"address": "10.0.0.1"}, "vm2": {"address": "10.0.0.2"}},
        "orgs": {"oo1": {"kind": "orderer", "domain": "oo1.example.com", "msp_id": "OO1MSP",
                         "admin_msp_path": "/crypto/oo1/admin/msp"},
                 "oo2": {"kind": "orderer", "domain": "oo2.example.com", "msp_id": "OO2MSP"}},
        "nodes": {"orderer1": {"kind": "orderer", "host": "vm1", "org": "oo1", "hostname": "orderer1.oo1.example.com",
                               "listen_port": 7050, **node_extra},
                  "orderer2": {"kind": "orderer", "host": "vm2", "org": "oo2", "container": "o2"},
                  "cli": {"kind": "cli", "host": "vm2"}},
        "channels": {"mychannel": {"orderers": ["orderer2", "orderer1"]}},
    })


def test_orderer_addresses_follow_the_inventory():
    refs = channel_orderers(inventory(), "mychannel")
    assert [(r.node, r.address, r.tls_args) for r in refs] == [
        ("orderer2", "o2:7050", []), ("orderer1", "orderer1.oo1.example.com:7050", [])]


def test_tls_ca_file_adds_the_tls_flags():
    ref = channel_orderers(inventory(tls_ca_file="/crypto/tlsca.pem"), "mychannel")[1]
    assert ref.tls_args == ["--tls", "--cafile", "/crypto/tlsca.pem"]


def test_only_orgs_with_an_admin_msp_sign_and_errors_are_clear():
    inv = inventory()
    assert [(a.org, a.msp_id, a.msp_path) for a in orderer_admins(inv)] == [("oo1", "OO1MSP", "/crypto/oo1/admin/msp")]
    assert tools_node(inv).name == "cli"
    with pytest.raises(SelectorError, match="unknown channel 'nochan'"):
        channel_orderers(inv, "nochan")
    with pytest.raises(SelectorError, match="unknown node 'clix'"):
        tools_node(inv, "clix")
    inv.orgs["oo1"].admin_msp_path = None
    with pytest.raises(InventoryError, match="admin_msp_path"):
        orderer_admins(inv)
