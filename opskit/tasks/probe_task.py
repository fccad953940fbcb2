"""The ``probe`` task (wired into the ``fleet`` namespace as ``fleet.probe``): is every host ready? (docs/probe.md)"""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner


@task(help={
    "inventory": runner.INVENTORY_HELP,
    "select": runner.SELECT_HELP + " (the hosts probed; their connects go to targets anywhere)",
    "json": runner.JSON_HELP,
    "workers": "parallel hosts (default from the inventory, 32)",
    "timeout": "per-host deadline in seconds (default from the inventory, 60)",
    "connect_timeout": "seconds for one TCP connect (default 3)",
})
def probe(c, inventory=None, select=None, json_=False, workers=None, timeout=None, connect_timeout=None):
    """Per host: nodes placed there, SSH, Docker engine, images present, and every port the plan needs (exit 0/1/2/3)."""
    from opskit.inventory import select as sel
    from opskit.probe.probe import ProbeOptions, probe_fleet
    from opskit.remote.engine import EngineOptions

    with runner.task_errors():
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(
            inv, workers=int(workers) if workers else None, host_timeout=float(timeout) if timeout else None)
        probe_opts = ProbeOptions(connect_timeout=float(connect_timeout) if connect_timeout else 3.0)
        report = probe_fleet(inv, chosen.hosts, opts, probe_opts)
    runner.finish(report, json_)
