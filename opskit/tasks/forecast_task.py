"""The ``forecast`` task (wired into the ``fleet`` namespace as ``fleet.forecast``)."""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner


@task(help={
    "inventory": runner.INVENTORY_HELP,
    "select": runner.SELECT_HELP,
    "days": "target number of days the disks must last under 90% (default 90)",
    "block_size": "average block size in bytes: also give the blocks/day that fit",
    "txs_per_block": "transactions per block (with --block-size): also give the tx/day that fit",
    "samples_dir": "opskit's own sample store (default $OPSKIT_SAMPLES_DIR or ~/.opskit/samples)",
    "window": "days of Prometheus history to fit (default 7)",
    "prometheus": "Prometheus base URL (default: monitoring.prometheus_url of the inventory)",
    "no_record": "do not append this run's df sample to the sample store",
    "json": runner.JSON_HELP,
})
def forecast(c, inventory=None, select=None, days=90, block_size=None, txs_per_block=None, samples_dir=None,
             window=7, prometheus=None, no_record=False, json_=False):
    """Per host and data filesystem: growth/day, days to 90% and 100%, and the ledger growth that fits (exit 0/1/2/3)."""
    from opskit.inventory import select as sel
    from opskit.ledger.forecast import SampleStore, fleet_forecast

    with runner.task_errors():
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        report = fleet_forecast(
            inv, chosen.hosts, target_days=float(days),
            avg_block_bytes=float(block_size) if block_size else None,
            txs_per_block=float(txs_per_block) if txs_per_block else None,
            store=SampleStore(samples_dir), record=not no_record, window_days=float(window),
            prometheus_url=prometheus,
        )
    runner.finish(report, json_)
