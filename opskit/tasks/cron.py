"""cron.*: install, list and remove opskit's block in the user's crontab (change contract: --check, --diff)."""

from __future__ import annotations

from opskit.tasks import runner
from opskit.tasks.runner import task


def _parse_schedules(items):  # type: ignore[no-untyped-def]
    out = {}
    for item in items or []:
        name, eq, sched = item.partition("=")
        if not eq:
            from opskit.cron.crontab import CronError

            raise CronError(f"--schedule takes JOB=CRON, e.g. 'health=*/10 * * * *', not {item!r}")
        out[name.strip()] = sched.strip()
    return out


@task(iterable=["schedule"], renamed={"plan": "check"}, help={
    "schedule": "override a job's schedule: JOB='*/10 * * * *' (jobs: health, forecast, dns-check, load); repeatable",
    "log_dir": "where cron runs write JSON lines (default ~/.opskit/cron)",
    "textfile": "node_exporter textfile path for the health job's metrics",
    "user": "crontab of this user (default: the current user)",
})
def install(c, inventory=None, schedule=None, log_dir=None, textfile=None, user=None, plan=False, diff=False,
            detailed_exitcode=False, json_=False):
    """Write opskit's marked block into the crontab (idempotent: a second run changes nothing)."""
    import os

    from opskit.cron.crontab import Crontab, CrontabBlock, default_jobs, default_log_dir, render_block

    with runner.task_errors():
        from opskit import values as v

        if log_dir:
            log_dir = v.cli(v.file_path, log_dir, "--log-dir")
        if textfile:
            textfile = v.cli(v.file_path, textfile, "--textfile")
        if user:
            v.cli(v.arg, user, "--user")
        inv = runner.inventory(inventory)
    source = os.path.abspath(inv.source or "")

    def build() -> CrontabBlock:
        jobs = default_jobs(inv.chaincode is not None, textfile, _parse_schedules(schedule))
        block = render_block(jobs, inventory=source, log_dir=str(log_dir or default_log_dir()))
        return CrontabBlock(Crontab(user), source, block)

    runner.run_change("cron.install", inv.source, build, check=plan, diff=diff, as_json=json_,
                      detailed_exitcode=detailed_exitcode, meta={"user": user})


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


@task(help={"user": "crontab of this user"})
def remove(c, inventory=None, user=None, check=False, diff=False, detailed_exitcode=False, json_=False):
    """Remove this inventory's opskit block from the crontab (other lines are kept)."""
    import os

    from opskit.cron.crontab import Crontab, CrontabBlock

    with runner.task_errors():
        if user:
            from opskit import values as v

            v.cli(v.arg, user, "--user")
        inv = runner.inventory(inventory)
    source = os.path.abspath(inv.source or "")
    runner.run_change("cron.remove", inv.source, lambda: CrontabBlock(Crontab(user), source, None), check=check,
                      diff=diff, as_json=json_, detailed_exitcode=detailed_exitcode, meta={"user": user})
