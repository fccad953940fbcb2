"""ledger.*: read Fabric block files directly (node running or stopped): height, verify, compare.

TARGET is a local directory holding ``blockfile_*`` (or its parent with --channel), or a peer/orderer of
the inventory, read on its own host with a shipped stdlib-only reader.
"""

from __future__ import annotations

import os

from opskit.tasks.runner import task

from opskit.tasks import runner

TARGET_HELP = "a local directory holding blockfile_* (or its parent, with --channel), or a peer/orderer of the inventory"
CHANNEL_HELP = "channel (default: every channel the inventory lists for the node)"


def _open(target, channel, inventory, engine_box):
    """Resolve TARGET; loads the inventory and opens an engine only when TARGET is not a local directory."""
    from opskit.ledger.remote import resolve_targets

    if os.path.isdir(target):
        return resolve_targets(target, channel, None), None
    from opskit.remote.engine import Engine

    inv = runner.inventory(inventory)
    if not engine_box:
        engine_box.append(Engine(inv))
    engine = engine_box[0]
    return resolve_targets(target, channel, inv, lambda host: engine.session(host)), inv


def _close(ledgers, engine_box):
    for lg in ledgers:
        lg.cleanup()
    for e in engine_box:
        e.close()


@task(help={"target": TARGET_HELP, "channel": CHANNEL_HELP,
            "json": "print the height as `peer channel getinfo` does (plus opskit's fields), one object per channel"})
def height(c, target, channel=None, inventory=None, json_=False):
    """Height and current/previous block hash, reading only the last block file (exit 0, 1 partial tail, 3 unreadable)."""
    import json as jsonlib

    from invoke.exceptions import Exit

    from opskit.ledger.remote import LedgerReadError
    from opskit.output.report import Finding, Report, Severity

    engine_box: list = []
    ledgers: list = []
    with runner.task_errors():
        try:
            ledgers, inv = _open(target, channel, inventory, engine_box)
            report = Report("ledger.height", inventory=inv.source if inv else None)
            docs = []
            for lg in ledgers:
                try:
                    doc = lg.height()
                except LedgerReadError as exc:
                    docs.append({"channel": lg.channel, "node": getattr(lg.node, "name", None) if hasattr(lg, "node") else None,
                                 "error": str(exc)})
                    report.add(Finding("ledger.height", Severity.UNKNOWN, str(exc), node=docs[-1]["node"]))
                    continue
                docs.append(doc)
                sev = Severity.WARNING if doc.get("partial_tail") else Severity.OK
                msg = f"{doc['channel']}: height {doc['height']}, current {doc['currentBlockHash']}"
                if doc.get("partial_tail"):
                    msg += f"; partial record at the end ({doc['partial_tail']['bytes']} bytes, crash mid-write)"
                report.add(Finding("ledger.height", sev, msg, host=doc.get("host"), node=doc.get("node"),
                                   data={k: doc.get(k) for k in ("channel", "height", "currentBlockHash", "previousBlockHash",
                                                                "dir", "files", "mode", "partial_tail")}))
        finally:
            _close(ledgers, engine_box)
    if json_:
        print(jsonlib.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
        if report.exit_code:
            raise Exit(code=report.exit_code)
        return
    runner.finish(report, False)


@task(help={"target": TARGET_HELP, "channel": CHANNEL_HELP})
def verify(c, target, channel=None, inventory=None, json_=False):
    """Verify the whole hash chain (data hashes, previous hashes); report the first broken block (exit 0/1/2/3)."""
    from opskit.ledger.remote import LedgerReadError
    from opskit.output.report import Finding, Report, Severity

    engine_box: list = []
    ledgers: list = []
    with runner.task_errors():
        try:
            ledgers, inv = _open(target, channel, inventory, engine_box)
            report = Report("ledger.verify", inventory=inv.source if inv else None)
            for lg in ledgers:
                try:
                    doc = lg.verify()
                except LedgerReadError as exc:
                    report.add(Finding("ledger.verify", Severity.UNKNOWN, str(exc)))
                    continue
                fb = doc["first_broken"]
                if fb:
                    sev = Severity.CRITICAL
                    msg = (f"{doc['channel']}: chain BROKEN at block {fb['number']} ({fb['file']} offset {fb['offset']}): "
                           f"{fb['reason']}; {doc['problems']} problem(s), {doc['blocks']} blocks read")
                else:
                    sev = Severity.WARNING if doc.get("partial_tail") else Severity.OK
                    msg = (f"{doc['channel']}: {doc['blocks']} blocks verified (height {doc['height']}, "
                           f"{doc['bytes'] / 1e6:.1f} MB in {doc['files']} file(s), {doc['mb_per_s'] or 0:.0f} MB/s)")
                if doc.get("partial_tail"):
                    pt = doc["partial_tail"]
                    msg += f"; partial record at the end of {pt['file']} ({pt['bytes']} bytes, crash mid-write)"
                report.add(Finding("ledger.verify", sev, msg, host=doc.get("host"), node=doc.get("node"), data=doc))
        finally:
            _close(ledgers, engine_box)
    runner.finish(report, json_)


@task(help={"node_a": TARGET_HELP, "node_b": TARGET_HELP, "channel": "channel (required for nodes on several channels)"})
def compare(c, node_a, node_b, channel=None, inventory=None, json_=False):
    """Compare two ledgers: heights, common prefix, first differing block (exit 0 same, 1/2 lag, 2 diverged)."""
    from opskit.inventory.model import Thresholds
    from opskit.ledger.remote import LedgerReadError, compare_targets
    from opskit.output.report import Finding, Report, Severity

    engine_box: list = []
    ledgers: list = []
    with runner.task_errors():
        try:
            la, inv = _open(node_a, channel, inventory, engine_box)
            ledgers += la
            lb, inv_b = _open(node_b, channel, inventory, engine_box)
            ledgers += lb
            inv = inv or inv_b
            if len(la) != 1 or len(lb) != 1:
                raise LedgerReadError("each side must be one channel: give --channel")
            res = compare_targets(la[0], lb[0])
        finally:
            _close(ledgers, engine_box)
        th = inv.defaults.thresholds if inv else Thresholds()
        rel = res["relation"]
        a_name = res["a"].get("node") or res["a"].get("dir")
        b_name = res["b"].get("node") or res["b"].get("dir")
        if rel == "identical":
            sev, msg = Severity.OK, f"{a_name} and {b_name} are identical (height {res['height_a']})"
        elif rel == "diverged":
            sev = Severity.CRITICAL
            msg = (f"{a_name} (height {res['height_a']}) and {b_name} (height {res['height_b']}) DIVERGE at block "
                   f"{res['first_difference']}; common prefix {res['common_prefix']} blocks")
        else:
            behind, ahead = (a_name, b_name) if rel == "a_prefix_of_b" else (b_name, a_name)
            lag = res["lag"]
            sev = (Severity.CRITICAL if lag >= th.lag_critical_blocks else
                   Severity.WARNING if lag >= th.lag_warning_blocks else Severity.OK)
            msg = (f"{behind} is a strict prefix of {ahead}: {lag} block(s) behind "
                   f"(heights {res['height_a']} / {res['height_b']}, common prefix {res['common_prefix']})")
        report = Report("ledger.compare", inventory=inv.source if inv else None)
        report.add(Finding("ledger.compare", sev, msg, data=res))
    runner.finish(report, json_)
