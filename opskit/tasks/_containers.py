"""Shared option handling of container.* and rollout.* (kept light: no heavy imports at load time)."""

from __future__ import annotations

import sys

from opskit.tasks import runner

COMMON_HELP = {   # --inventory, --json, --select: runner.common_help()
    "dry_run": "check mode: read everything, print the plan per node (container changes, compose diff) and change nothing",
    "backup": "back up the node's data paths to a tarball on its host first (default: orderers only)",
    "no_backup": "no backup, not even for orderers",
    "backup_dir": "where backups go on the node's host (default /var/backups/opskit)",
    "keep_old": "keep the old container (stopped, renamed NAME-opskit-kept-<time>) instead of removing it",
    "max_lag": "blocks behind the channel's best a recreated node may be and still pass (default 2)",
    "gate_timeout": "seconds for a recreated node to be healthy and caught up (default 120)",
    "settle": "seconds a recreated container must stay up before it passes (default 2)",
    "batch": "containers changed at once (default 1); quorum and org rules still apply",
    "progress": "print progress lines on stderr even when it is not a terminal",
}
#: the option rules every container.* / rollout.* task shares (opskit.tasks.runner.OpskitTask)
NUMBERS = {"max_lag": runner.count(0), "gate_timeout": runner.seconds(), "settle": runner.seconds(allow_zero=True),
           "batch": runner.count(1)}
RENAMED = {"dry_run": "check"}   # --dry-run keeps working
KEEP_GOING_HELP = ("go on with the next batches after a node failed (default: stop at the first failure); quorum "
                   "rules still apply and nodes on a host that stopped answering are skipped")


def options(backup=None, backup_dir=None, keep_old=False, max_lag=2, gate_timeout=120.0, settle=2.0, batch=1,
            dry_run=False, keep_going=False):  # type: ignore[no-untyped-def]
    from opskit import values as v
    from opskit.container.gate import GateOptions
    from opskit.container.recreate import RecreateOptions

    gate = GateOptions(timeout=v.cli(v.seconds, gate_timeout, "--gate-timeout"),
                       max_lag=v.cli(v.count, max_lag, "--max-lag"),
                       settle=v.cli(v.seconds, settle, "--settle", allow_zero=True))
    o = RecreateOptions(backup=backup, keep_old=bool(keep_old), batch=v.cli(v.count, batch, "--batch", minimum=1),
                        dry_run=bool(dry_run), keep_going=bool(keep_going), gate=gate)
    if backup_dir:
        o.backup_dir = v.cli(v.abs_path, backup_dir, "--backup-dir")
    return o


def progress(enabled: bool, as_json: bool):  # type: ignore[no-untyped-def]
    from opskit.change.progress import Progress

    return Progress(enabled=True if enabled else None)


def print_plan(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """For --check (and changes): per node the container changes and the compose diff, before the table."""
    if as_json:
        return
    for f in report.findings:
        plan = f.data.get("plan") or {}
        if not plan or f.data.get("status") != "planned":
            continue
        print(f"== {f.node} on {f.host} ({plan.get('container')})")
        from opskit.container.config import Difference

        for ch in plan.get("changes", []):
            print(f"   {Difference(ch['key'], ch['current'], ch['desired']).describe()}")
        if plan.get("copy"):
            for path, vol in plan["copy"].items():
                print(f"   copy {path} -> new volume {vol}")
        if plan.get("backup"):
            print("   back up data paths first")
        for note in plan.get("notes", []):
            print(f"   note: {note}")
        if plan.get("compose_diff"):
            print(plan["compose_diff"].rstrip("\n"))
    if report.meta.get("batches") is not None:
        print("batches: " + " | ".join(", ".join(b) for b in report.meta["batches"]) if report.meta["batches"]
              else "batches: none (nothing to change)")
    sys.stdout.flush()


def finish(report, as_json: bool, check: bool, diff: bool, detailed_exitcode: bool) -> None:  # type: ignore[no-untyped-def]
    """The end of every container.* / rollout.* task: the plan, then the report (with --diff, each container's
    changed settings before/after), exit code (--detailed-exitcode: exit 1 when --check found containers to change)."""
    pending = sum(1 for f in report.findings if f.data.get("status") == "planned" and (f.data.get("plan") or {})
                  .get("recreate"))
    runner.mark_check(report, check, pending)
    print_plan(report, as_json)
    runner.finish(report, as_json, detailed_exitcode=detailed_exitcode, diff=diff)


def _short(v) -> str:  # type: ignore[no-untyped-def]
    import json

    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
