"""rollout.*: named volumes and log rotation for every selected container, rolling, gated and resumable."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner
from opskit.tasks._containers import COMMON_HELP, KEEP_GOING_HELP, NUMBERS, RENAMED, finish, options, progress


def _run(inventory, select, operation, change_fn, opts, json_, progress_):  # type: ignore[no-untyped-def]
    from opskit.container.recreate import Recreator
    from opskit.inventory import select as sel
    from opskit.runlock import fleet_lock

    inv = runner.inventory(inventory)
    nodes = sel(inv, select).nodes
    r = Recreator(inv, operation, change_fn, opts, progress=progress(progress_, json_))
    try:
        if opts.dry_run:
            return r.run(nodes)
        with fleet_lock(inv.source or inv.name, operation, scope="containers"):
            return r.run(nodes)
    finally:
        r.close()


@task(iterable=["paths"], numbers=NUMBERS, renamed=RENAMED, help={
    **COMMON_HELP,
    "paths": "data paths of a kind, KIND=/a,/b (repeatable), e.g. kafka=/var/kafka-logs",
    "keep_going": KEEP_GOING_HELP,
})
def volumes(c, select=None, paths=None, inventory=None, json_=False, dry_run=False, batch="1", backup=False, no_backup=False,
            backup_dir=None, keep_old=False, max_lag="2", gate_timeout="120", settle="2", progress_=False, keep_going=False,
            diff=False, detailed_exitcode=False):
    """Put every data path of the selected nodes on a named volume (data copied in first), one node at a time."""
    from opskit.rollout.volumes import parse_paths, volumes_change

    with runner.task_errors():
        opts = options(True if backup else False if no_backup else None, backup_dir, keep_old, max_lag, gate_timeout, settle, batch, dry_run,
                       keep_going)
        report = _run(inventory, select, "rollout.volumes", volumes_change(parse_paths(list(paths or []))), opts,
                      json_, progress_)
    finish(report, json_, dry_run, diff, detailed_exitcode)


@task(numbers={**NUMBERS, "max_file": runner.count(1)}, renamed=RENAMED, help={
    **COMMON_HELP,
    "max_size": "json-file max-size (default 50m)",
    "max_file": "json-file max-file (default 5)",
    "audit": "only report every container's log size and rotation settings (changes nothing)",
    "keep_going": KEEP_GOING_HELP,
})
def logging(c, select=None, max_size="50m", max_file="5", audit=False, inventory=None, json_=False, dry_run=False,
            batch="1", backup=False, no_backup=False, backup_dir=None, keep_old=False, max_lag="2", gate_timeout="120", settle="2",
            progress_=False, keep_going=False, diff=False, detailed_exitcode=False):
    """json-file log rotation for every selected container (recreates them); --audit to only look."""
    with runner.task_errors():
        from opskit import values as v

        max_size = v.cli(v.size, max_size, "--max-size")
        max_file = v.cli(v.count, max_file, "--max-file", minimum=1)
        if audit:
            from opskit.inventory import select as sel
            from opskit.rollout.audit import audit_logs

            inv = runner.inventory(inventory)
            report = audit_logs(inv, sel(inv, select))
        else:
            from opskit.rollout.logrotate import logging_change

            opts = options(True if backup else False if no_backup else None, backup_dir, keep_old, max_lag, gate_timeout, settle, batch, dry_run,
                           keep_going)
            report = _run(inventory, select, "rollout.logging", logging_change(max_size, max_file), opts, json_,
                          progress_)
    if audit:
        runner.finish(report, json_)
    else:
        finish(report, json_, dry_run, diff, detailed_exitcode)
