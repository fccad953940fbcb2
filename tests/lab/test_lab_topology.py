"""The lab's fleet placement (no lab needed)."""

from __future__ import annotations

from collections import Counter

import pytest

from opskit_lab.lab import LabConfig, LabError
from opskit_lab.topology import default_topology


@pytest.mark.parametrize("n", [1, 2, 3, 6, 10, 20])
def test_fleet_shape_is_complete_on_any_number_of_hosts(n: int) -> None:
    topo = default_topology(n)
    kinds = Counter(node.kind for node in topo.nodes)
    assert kinds == {"orderer": 4, "kafka": 4, "zookeeper": 3, "peer": 6, "couchdb": 6, "cli": 1}
    assert {node.org for node in topo.orderers} == {f"ordererorg{i}" for i in range(1, 5)}
    assert Counter(node.org for node in topo.peers) == {"org1": 2, "org2": 2, "org3": 2}
    assert set(node.host for node in topo.nodes) <= set(topo.hosts)
    assert len(topo.hosts) == n
    # containers share the host's network: no two nodes on one host may use the same port
    for host in topo.hosts:
        ports = [p for node in topo.nodes_on(host) for p in node.ports.values()]
        assert len(ports) == len(set(ports)), (host, ports)
        names = [node.container for node in topo.nodes_on(host)]
        assert len(names) == len(set(names))


def test_default_six_hosts_spread_the_fleet() -> None:
    topo = default_topology(6)
    # every host carries part of the fleet, every orderer and every peer is on a host of its own kind
    assert all(topo.nodes_on(h) for h in topo.hosts)
    assert len({n.host for n in topo.orderers}) == 4
    assert len({n.host for n in topo.peers}) == 6
    # each peer's CouchDB sits with its peer
    for peer in topo.peers:
        couch = topo.node(peer.name.replace("peer", "couchdb", 1))
        assert couch.host == peer.host


def test_ten_or_more_hosts_give_every_group_its_own_host() -> None:
    topo = default_topology(20)
    assert topo.role_of("vm1") == "orderer" and topo.role_of("vm5") == "peer"
    assert [topo.role_of(h) for h in topo.hosts[10:]] == ["spare"] * 10


def test_lab_config_refuses_bad_values() -> None:
    with pytest.raises(LabError):
        LabConfig(name="Bad Name")
    with pytest.raises(LabError):
        LabConfig(subnet="8.8.8.0/24")
    with pytest.raises(LabError):
        LabConfig(subnet="10.77.0.0/28", hosts=6)
    with pytest.raises(ValueError):
        default_topology(0)
