"""container/plan.py: groups, order and batches on the example long-term fleet (fast: no lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.container.plan import QuorumError, batches, check_batch, groups, order
from opskit.errors import OpskitError
from opskit.inventory import load_inventory, load_text
from opskit.inventory.model import Inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet() -> Inventory:
    return load_inventory(ROOT / "inventories" / "longterm-example.yaml")


def test_groups_of_the_fleet(fleet: Inventory) -> None:
    got = {g.name: (len(g.members), g.allowed) for g in groups(fleet)}
    assert got == {"orderers of mychannel, system-channel": (4, 1), "peers of org1": (4, 1), "peers of org2": (4, 1),
                   "peers of org3": (4, 1), "zookeeper ensemble": (3, 1), "kafka ensemble": (4, 1)}
    orderers = next(g for g in groups(fleet) if g.name.startswith("orderers"))
    assert orderers.why == "Raft quorum: 4 orderers need 3 up"


def test_batches_keep_every_group_within_its_allowance(fleet: Inventory) -> None:
    plan = batches(fleet, fleet.nodes.values(), size=3)
    names = [[n.name for n in b] for b in plan]
    assert sorted(sum(names, [])) == sorted(fleet.nodes)  # every node exactly once
    assert all(len(b) <= 3 for b in plan)
    for b in names:
        check_batch(fleet, b)  # no batch breaks a group on a healthy fleet
        assert sum(n.startswith("orderer") for n in b) <= 1
    assert names[0] == ["cli", "grafana", "prometheus"]  # tools first, orderers last
    assert names[-1] == ["kafka3", "orderer4"]
    assert [n.name for n in order(fleet.nodes.values())][-4:] == ["orderer1", "orderer2", "orderer3", "orderer4"]


def test_check_batch_counts_what_is_already_down(fleet: Inventory) -> None:
    with pytest.raises(QuorumError, match=r"taking down orderer1, orderer2 leaves 2 of the 4 orderers") as err:
        check_batch(fleet, ["orderer1", "orderer2"])
    assert err.value.exit_code == 2
    with pytest.raises(QuorumError, match="orderer2 while orderer3 is already down"):
        check_batch(fleet, ["orderer2"], down=["orderer3"])
    check_batch(fleet, ["orderer2", "peer0.org1"], down=["peer0.org2"])  # separate groups: allowed
    with pytest.raises(QuorumError, match="peers of org1"):
        check_batch(fleet, ["couchdb0.org1", "peer1.org1"])


def test_single_peer_org_and_batch_size() -> None:
    inv = load_text("version: 2\nname: t\nhosts:\n  vm1:\n    address: 192.0.2.1\n"
                    "orgs:\n  org1:\n    domain: org1.example.com\n    msp_id: Org1MSP\n"
                    "nodes:\n  peer0.org1:\n    kind: peer\n    host: vm1\n    org: org1\n"
                    "  orderer1:\n    kind: orderer\n    host: vm1\n", "t.yaml")
    g = {x.name: x for x in groups(inv)}
    assert g["peers of org1"].allowed == 1 and "single peer" in g["peers of org1"].why
    assert g["orderers of (all orderers)"].allowed == 0  # one orderer, no channel: no quorum to spare
    with pytest.raises(QuorumError):
        check_batch(inv, ["orderer1"])
    with pytest.raises(OpskitError, match="at least 1"):
        batches(inv, inv.nodes.values(), size=0)
