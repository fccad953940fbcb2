"""Parsers and height analysis on real Fabric 2.5 scrapes (tests/fixtures/fabric-2.5/03_raft_network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.health.chains import Height, RaftView, lag_findings, raft_findings, stall_findings
from opskit.health.fabric_metrics import NodeOutputError, parse_getinfo, parse_healthz, parse_metrics
from opskit.inventory.model import Thresholds
from opskit.output.report import Severity

SNAP = Path(__file__).resolve().parents[1] / "fixtures" / "fabric-2.5" / "03_raft_network" / "snapshots"
ORDERERS = ["orderer1", "orderer2", "orderer3", "orderer4"]


def _metrics(phase: str, node: str):
    return parse_metrics((SNAP / phase / "metrics" / f"{node}.metrics.txt").read_text())


def test_real_orderer_and_peer_metrics():
    m = _metrics("phase1_all_up", "orderer1")
    assert m.heights["mychannel"] == 35 and m.version == "2.5.12"
    assert m.cluster_size["mychannel"] == 4
    p = _metrics("phase2_orderer3_down", "peer0.org1")
    assert p.heights == {"mychannel": 43} and p.gossip_heights == {"mychannel": 43}
    assert not p.is_leader


def test_exactly_one_leader_per_channel_in_every_phase():
    for phase, nodes in [("phase1_all_up", ORDERERS), ("phase2_orderer3_down", ["orderer1", "orderer2", "orderer4"]),
                         ("phase3_orderer3_restarted", ORDERERS)]:
        views = []
        for n in nodes:
            m = _metrics(phase, n)
            views += [RaftView(n, ch, m.is_leader.get(ch, False), m.cluster_size.get(ch), m.active_nodes.get(ch))
                      for ch in m.heights]
        leaders = [f for f in raft_findings(views) if f.check == "raft.leader"]
        assert {f.data["channel"] for f in leaders} == {"mychannel", "system-channel"}
        assert all(f.severity is Severity.OK and len(f.data["leaders"]) == 1 for f in leaders), phase
        cluster = [f for f in raft_findings(views) if f.check == "raft.cluster"]
        if phase == "phase2_orderer3_down":
            # 3 of 4 consenters active: quorum holds, but it is a warning
            assert {f.data["channel"] for f in cluster} == {"mychannel", "system-channel"}
            assert all(f.severity is Severity.WARNING and f.data["active_nodes"] == 3 for f in cluster)
        else:
            assert cluster == []


def test_two_leaders_and_no_leader_are_critical():
    views = [RaftView("o1", "ch", True, 3, 3), RaftView("o2", "ch", True, 3, 3), RaftView("o3", "ch2", False, 3, 1)]
    f = {x.data["channel"]: x for x in raft_findings(views) if x.check == "raft.leader"}
    assert f["ch"].severity is Severity.CRITICAL and f["ch"].data["leaders"] == ["o1", "o2"]
    assert f["ch2"].severity is Severity.CRITICAL
    quorum = [x for x in raft_findings(views) if x.check == "raft.cluster"]
    assert quorum[0].severity is Severity.CRITICAL  # 1 of 3 active: quorum lost


def test_phase2_orderer3_down_lag_from_its_ledger():
    """Phase 2: orderer3 is down, the others are at 43; its block files say 35: 8 behind."""
    th = Thresholds()
    heights = [Height(n, "mychannel", _metrics("phase2_orderer3_down", n).heights["mychannel"], "operations")
               for n in ("orderer1", "orderer2", "orderer4")]
    assert (SNAP / "phase2_orderer3_down" / "metrics" / "orderer3.metrics.unreachable.txt").exists()
    from opskit.ledger import blockfile

    ledger = SNAP.parent / "ledgers" / "orderer3_lagging_h35" / "mychannel"
    heights.append(Height("orderer3", "mychannel", blockfile.height(str(ledger))["height"], "ledger"))
    f = {x.node: x for x in lag_findings(heights, th, down={"orderer3"})}
    assert [f[n].data["height"] for n in ("orderer1", "orderer2", "orderer4")] == [43, 43, 43]
    assert all(f[n].severity is Severity.OK for n in ("orderer1", "orderer2", "orderer4"))
    assert f["orderer3"].data == {"channel": "mychannel", "height": 35, "best": 43, "lag": 8, "source": "ledger"}
    assert f["orderer3"].severity is Severity.WARNING
    assert "8 blocks behind 43" in f["orderer3"].message


def test_stall_detection():
    s1 = [Height("o1", "ch", 10, "operations"), Height("o2", "ch", 10, "operations")]
    s2 = [Height("o1", "ch", 13, "operations"), Height("o2", "ch", 10, "operations")]
    stalls = stall_findings([s1, s2])
    assert [(x.node, x.severity) for x in stalls] == [("o2", Severity.CRITICAL)]
    # the whole channel idle is not a stall
    assert stall_findings([s1, s1]) == []


def test_healthz_and_getinfo():
    ok = parse_healthz(200, (SNAP / "phase1_all_up" / "metrics" / "orderer1.healthz.json").read_text())
    assert ok.ok and ok.failed_checks == []
    bad = parse_healthz(503, '{"status":"Service Unavailable","time":"x","failed_checks":[{"component":"docker","reason":"failed to connect"}]}')
    assert not bad.ok and bad.failed_checks == [("docker", "failed to connect")]
    info = parse_getinfo((SNAP / "phase2_orderer3_down" / "cli" / "peer0.org1.getinfo_mychannel.txt").read_text())
    assert info.height == 43 and info.current_block_hash == "xJAHgP8o7PZs5kyArglCNVKZscRetUHbLLe49QIsFVM="


@pytest.mark.parametrize("garbage", ["", "not metrics at all {{{", "\x00\x01binary"])
def test_garbage_metrics_is_a_clear_error(garbage):
    with pytest.raises(NodeOutputError):
        parse_metrics(garbage)
    with pytest.raises(NodeOutputError):
        parse_healthz(200, garbage)
    with pytest.raises(NodeOutputError):
        parse_getinfo(garbage)


def test_a_new_leader_that_has_not_counted_yet_is_a_warning_not_quorum_lost():
    """Fabric's tracker sets consensus_etcdraft_active_nodes to 0 while there is no leader and a new leader updates it
    only once its active set is stable (seen on real 2.5.12 orderers just after the leader left the channel)."""
    views = [RaftView("o1", "ch", True, 3, 0), RaftView("o2", "ch", False, 3, 0), RaftView("o3", "ch", False, 3, 3)]
    cluster = [x for x in raft_findings(views) if x.check == "raft.cluster"]
    assert [(x.severity, x.node, x.data["active_nodes"]) for x in cluster] == [(Severity.WARNING, "o1", None)]
    assert "not counted" in cluster[0].message
    # a follower's 0 with a leader that has counted stays the leader's view
    views = [RaftView("o1", "ch", True, 3, 3), RaftView("o2", "ch", False, 3, 0)]
    assert [x for x in raft_findings(views) if x.check == "raft.cluster"] == []
