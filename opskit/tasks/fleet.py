"""fleet.*: whole-fleet checks."""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner
from opskit.tasks.forecast_task import forecast  # noqa: F401  (fleet.forecast)
from opskit.tasks.probe_task import probe  # noqa: F401  (fleet.probe)


@task(help={
    "inventory": runner.INVENTORY_HELP,
    "select": runner.SELECT_HELP,
    "json": runner.JSON_HELP,
    "workers": "parallel hosts (default from the inventory, 32)",
    "timeout": "per-host deadline in seconds (default from the inventory, 60)",
    "samples": "take K samples of every height (stall detection needs 2 or more)",
    "interval": "seconds between samples (default 10)",
    "textfile": "also write the findings as Prometheus metrics to this node_exporter textfile (atomic)",
    "prometheus": "use the inventory's Prometheus for coverage and heights (default on; --no-prometheus)",
    "getinfo": "also run `peer channel getinfo` for every peer in the fleet's cli (tools) container",
})
def health(c, inventory=None, select=None, json_=False, workers=None, timeout=None, samples=1, interval=10.0,
           textfile=None, prometheus=True, getinfo=False):
    """Check containers, disks, logs, block heights/lag, Raft and monitoring on every selected host (exit 0/1/2/3)."""
    from opskit.health.fleet import HealthOptions, fleet_health
    from opskit.inventory import select as sel
    from opskit.remote.engine import EngineOptions

    with runner.task_errors():
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(
            inv, workers=int(workers) if workers else None, host_timeout=float(timeout) if timeout else None
        )
        report = fleet_health(inv, chosen, opts, HealthOptions(samples=int(samples), interval=float(interval),
                                                               textfile=textfile, use_prometheus=prometheus,
                                                               getinfo=getinfo))
    runner.finish(report, json_)
