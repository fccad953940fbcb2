"""cron.*: install, list and remove opskit's block in the user's crontab."""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner


def _parse_schedules(items):  # type: ignore[no-untyped-def]
    out = {}
    for item in items or []:
        name, eq, sched = item.partition("=")
        if not eq:
            from opskit.cron.crontab import CronError

            raise CronError(f"--schedule takes JOB=CRON, e.g. 'health=*/10 * * * *', not {item!r}")
        out[name.strip()] = sched.strip()
    return out


@task(iterable=["schedule"], help={
    "inventory": runner.INVENTORY_HELP,
    "schedule": "override a job's schedule: JOB='*/10 * * * *' (jobs: health, forecast, dns-check, load); repeatable",
    "log_dir": "where cron runs write JSON lines (default ~/.opskit/cron)",
    "textfile": "node_exporter textfile path for the health job's metrics",
    "user": "crontab of this user (default: the current user)",
    "plan": "print the block without installing it",
})
def install(c, inventory=None, schedule=None, log_dir=None, textfile=None, user=None, plan=False):
    """Write opskit's marked block into the crontab (idempotent: a second run changes nothing)."""
    import os

    from opskit.cron.crontab import Crontab, default_jobs, default_log_dir, render_block

    with runner.task_errors():
        inv = runner.inventory(inventory)
        source = os.path.abspath(inv.source or "")
        jobs = default_jobs(inv.chaincode is not None, textfile, _parse_schedules(schedule))
        block = render_block(jobs, inventory=source, log_dir=str(log_dir or default_log_dir()))
        if plan:
            print(block, end="")
            return
        changed = Crontab(user).install(block, source)
    print(("installed" if changed else "unchanged: the crontab already has this block") + f" ({len(jobs)} jobs)")


@task(help={"user": "crontab of this user (default: the current user)"})
def list(c, user=None):  # noqa: A001 - the task is called cron.list
    """Show every opskit block in the crontab."""
    from opskit.cron.crontab import Crontab

    with runner.task_errors():
        blocks = Crontab(user).blocks()
    if not blocks:
        print("no opskit jobs in the crontab")
    for text in blocks.values():
        print(text, end="")


@task(help={"inventory": runner.INVENTORY_HELP, "user": "crontab of this user"})
def remove(c, inventory=None, user=None):
    """Remove this inventory's opskit block from the crontab (other lines are kept)."""
    import os

    from opskit.cron.crontab import Crontab

    with runner.task_errors():
        inv = runner.inventory(inventory)
        changed = Crontab(user).remove(os.path.abspath(inv.source or ""))
    print("removed" if changed else "unchanged: no opskit block for this inventory")
