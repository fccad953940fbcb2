"""Block heights across nodes: lag behind the channel's best, stalls, Raft leadership.

Pure functions over collected figures, so that one orderer falling behind is
found the same way whether its height came from its operations endpoint,
Prometheus, `peer channel getinfo` or its own block files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from opskit.inventory.model import Thresholds
from opskit.output.report import Finding, Severity

SOURCES = ("operations", "prometheus", "getinfo", "ledger")


@dataclass(frozen=True)
class Height:
    node: str
    channel: str
    height: int
    source: str  # one of SOURCES
    host: str | None = None


def lag_findings(heights: list[Height], th: Thresholds, *, down: set[str] = frozenset()) -> list[Finding]:
    """One finding per node and channel: its height, the channel's best, and the lag.

    ``down`` names nodes whose endpoint did not answer: their figure (if any, e.g. from
    block files) is reported for information and their lag does not raise the severity
    above what the unreachable finding already says.
    """
    best: dict[str, int] = defaultdict(int)
    for h in heights:
        best[h.channel] = max(best[h.channel], h.height)
    out = []
    for h in sorted(heights, key=lambda x: (x.channel, x.node)):
        lag = best[h.channel] - h.height
        if lag >= th.lag_critical_blocks:
            sev = Severity.CRITICAL
        elif lag >= th.lag_warning_blocks:
            sev = Severity.WARNING
        else:
            sev = Severity.OK
        msg = f"{h.channel}: height {h.height} ({h.source})"
        msg += f", {lag} block{'s' if lag != 1 else ''} behind {best[h.channel]}" if lag else ", at the best height"
        if h.node in down:
            msg += " (node down; figure from its ledger)" if h.source == "ledger" else " (node down)"
        out.append(Finding("height", sev, msg, host=h.host, node=h.node, data={
            "channel": h.channel, "height": h.height, "best": best[h.channel], "lag": lag, "source": h.source,
        }))
    return out


def stall_findings(samples: list[list[Height]]) -> list[Finding]:
    """Nodes whose height did not move while their channel's best did, over successive samples."""
    if len(samples) < 2:
        return []
    first = {(h.node, h.channel): h for h in samples[0]}
    last = {(h.node, h.channel): h for h in samples[-1]}
    best_first: dict[str, int] = defaultdict(int)
    best_last: dict[str, int] = defaultdict(int)
    for h in samples[0]:
        best_first[h.channel] = max(best_first[h.channel], h.height)
    for h in samples[-1]:
        best_last[h.channel] = max(best_last[h.channel], h.height)
    out = []
    for key, h1 in sorted(last.items()):
        h0 = first.get(key)
        if h0 is None:
            continue
        moved = best_last[h1.channel] - best_first[h1.channel]
        if h1.height == h0.height and moved > 0:
            out.append(Finding("stall", Severity.CRITICAL,
                               f"{h1.channel}: height stuck at {h1.height} while the channel advanced {moved} block(s)",
                               host=h1.host, node=h1.node,
                               data={"channel": h1.channel, "height": h1.height, "channel_advanced": moved}))
    return out


@dataclass(frozen=True)
class RaftView:
    """One orderer's Raft figures for one channel (from its /metrics)."""

    node: str
    channel: str
    is_leader: bool
    cluster_size: int | None
    active_nodes: int | None
    host: str | None = None
    selected: bool = True   #: False for an orderer read only for the channel's Raft view (outside the selection)


def raft_findings(views: list[RaftView]) -> list[Finding]:
    """Exactly one leader per channel; active nodes below cluster size; quorum.

    ``views`` should hold every orderer of each channel (selected or not): leadership is the channel's. The
    cluster's size and active nodes are the leader's view: a follower that has just restarted reports 0 active
    consenters for a few seconds while the cluster is whole. Without a single leader the best view counts.
    """
    by_channel: dict[str, list[RaftView]] = defaultdict(list)
    for v in views:
        by_channel[v.channel].append(v)
    out = []
    for channel, vs in sorted(by_channel.items()):
        leaders = sorted(v.node for v in vs if v.is_leader)
        if len(leaders) == 1:
            out.append(Finding("raft.leader", Severity.OK, f"{channel}: leader {leaders[0]}",
                               data={"channel": channel, "leaders": leaders}))
        elif not leaders:
            out.append(Finding("raft.leader", Severity.CRITICAL, f"{channel}: no orderer reports being the Raft leader",
                               data={"channel": channel, "leaders": []}))
        else:
            out.append(Finding("raft.leader", Severity.CRITICAL,
                               f"{channel}: {len(leaders)} orderers claim leadership: {', '.join(leaders)}",
                               data={"channel": channel, "leaders": leaders}))
        known = [v for v in vs if v.cluster_size is not None and v.active_nodes is not None]
        if not known:
            continue
        leader_views = [v for v in known if v.is_leader]
        v = leader_views[0] if len(leader_views) == 1 else max(known, key=lambda x: x.active_nodes or 0)
        assert v.cluster_size is not None and v.active_nodes is not None
        quorum = v.cluster_size // 2 + 1
        if v.is_leader and v.active_nodes == 0:
            # Fabric's tracker (orderer/consensus/etcdraft/tracker.go) sets the gauge to 0 while there is no leader
            # and a new leader only updates it once its set of active peers has been stable for a few checks. A
            # leader always counts itself, so 0 from a leader means "not counted yet", not "quorum lost".
            out.append(Finding("raft.cluster", Severity.WARNING,
                               f"{channel}: leader {v.node} has not counted the active consenters yet "
                               f"(Fabric reads 0 for a few seconds after an election); run again to confirm",
                               host=v.host, node=v.node,
                               data={"channel": channel, "active_nodes": None, "cluster_size": v.cluster_size,
                                     "view_of": v.node}))
            continue
        if v.active_nodes < quorum:
            sev = Severity.CRITICAL
        elif v.active_nodes < v.cluster_size:
            sev = Severity.WARNING
        else:
            continue
        whose = "the leader's view" if len(leader_views) == 1 else "the best view, no single leader"
        out.append(Finding("raft.cluster", sev,
                           f"{channel}: {v.active_nodes} of {v.cluster_size} consenters active (quorum {quorum}; "
                           f"{whose}: {v.node})",
                           host=v.host, node=v.node,
                           data={"channel": channel, "active_nodes": v.active_nodes, "cluster_size": v.cluster_size,
                                 "view_of": v.node}))
    return out
