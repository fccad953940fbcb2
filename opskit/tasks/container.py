"""container.*: recreate one node's container safely (new image, changed settings), truncate a runaway log."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner
from opskit.tasks._containers import COMMON_HELP, NUMBERS, RENAMED, finish, options, progress


@task(iterable=["set_"], numbers=NUMBERS, renamed=RENAMED, help={
    **{k: v for k, v in COMMON_HELP.items() if k != "batch"},
    "node": "the node whose container is recreated (inventory name)",
    "image": "new image, e.g. hyperledger/fabric-orderer:1.4.7 (present on the host or pullable)",
    "set_": "KEY=VALUE change (repeatable): env.NAME=V, unset-env=NAME, label.K=V, log-driver=D, log-opt.K=V, "
            "restart=POLICY, hostname=H, volume./PATH=VOLUME, command='[\"json\",\"list\"]'",
})
def replace(c, node, image=None, set_=None, inventory=None, json_=False, dry_run=False, backup=False, no_backup=False, backup_dir=None,
            keep_old=False, max_lag="2", gate_timeout="120", settle="2", progress_=False, diff=False,
            detailed_exitcode=False):
    """Recreate NODE's container keeping its data: same settings plus --image/--set; rolls back on failure."""
    from opskit.container.config import parse_set
    from opskit.container.replace import replace as do_replace

    with runner.task_errors():
        from opskit import values as v

        v.cli(v.arg, node, "NODE")
        changes = parse_set(list(set_ or []))
        if image:
            changes.image = v.cli(v.image_ref, image, "--image")
        opts = options(True if backup else False if no_backup else None, backup_dir, keep_old, max_lag, gate_timeout, settle, 1, dry_run)
        inv = runner.inventory(inventory)
        if dry_run:
            report = do_replace(inv, node, changes, opts, progress=progress(progress_, json_))
        else:
            from opskit.runlock import fleet_lock

            with fleet_lock(inv.source or inv.name, "container.replace", scope="containers"):
                report = do_replace(inv, node, changes, opts, progress=progress(progress_, json_))
    finish(report, json_, dry_run, diff, detailed_exitcode)


@task(name="truncate-log", help={
    "node": "the node whose container's json log is emptied",
    "yes": "do not ask for confirmation",
})
def truncate_log(c, node, yes=False, inventory=None, json_=False, check=False, diff=False, detailed_exitcode=False):
    """Emergency: empty NODE's container log file in place (asks first unless --yes). Prefer rollout.logging."""
    from opskit.container.logfile import truncate_log as do_truncate

    with runner.task_errors():
        inv = runner.inventory(inventory)
        report = do_truncate(inv, node, confirm=None if yes else _ask, check=check, diff=diff)
    runner.finish(report, json_, detailed_exitcode=detailed_exitcode)


def _ask(question: str) -> bool:
    import sys

    if not sys.stdin.isatty():
        print(f"{question} [y/N] (no terminal: answer with --yes)", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
