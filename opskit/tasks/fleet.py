"""fleet.*: whole-fleet checks."""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner


@task(help={
    "inventory": runner.INVENTORY_HELP,
    "select": runner.SELECT_HELP,
    "json": runner.JSON_HELP,
    "workers": "parallel hosts (default from the inventory, 32)",
    "timeout": "per-host deadline in seconds (default from the inventory, 60)",
})
def health(c, inventory=None, select=None, json_=False, workers=None, timeout=None):
    """Check disks, Docker and containers on every selected host in parallel (exit 0/1/2/3)."""
    from opskit.health.basic import basic_health
    from opskit.inventory import select as sel
    from opskit.remote.engine import EngineOptions

    with runner.task_errors():
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(
            inv, workers=int(workers) if workers else None, host_timeout=float(timeout) if timeout else None
        )
        report = basic_health(inv, chosen.hosts, opts)
    runner.finish(report, json_)
