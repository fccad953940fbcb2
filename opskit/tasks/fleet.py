"""fleet.*: whole-fleet checks: fleet.health, fleet.forecast (docs/ledger.md), fleet.probe (docs/probe.md)."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner


@task(numbers={**runner.ENGINE_NUMBERS, "samples": runner.count(1, 1000), "interval": runner.seconds(allow_zero=True)},
      help={
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
    "certs": "read every node's certificates and report their expiry (default on; --no-certs)",
    "all": "show every OK check in the table (default: one 'N checks ok' line per host)",
})
def health(c, inventory=None, select=None, json_=False, workers=None, timeout=None, samples="1", interval="10",
           textfile=None, prometheus=True, getinfo=False, certs=True, all_=False):
    """Check containers, disks, logs, block heights/lag, Raft and monitoring on every selected host (exit 0/1/2/3)."""
    from opskit.health.fleet import HealthOptions, fleet_health
    from opskit.inventory import select as sel
    from opskit.remote.engine import EngineOptions

    with runner.task_errors():
        from opskit import values as v

        workers = v.cli_optional(v.count, workers, "--workers", minimum=1, maximum=1024)
        timeout = v.cli_optional(v.seconds, timeout, "--timeout")
        samples = v.cli(v.count, samples, "--samples", minimum=1, maximum=1000)
        interval = v.cli(v.seconds, interval, "--interval", allow_zero=True)
        if textfile:
            v.cli(v.file_path, textfile, "--textfile")
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(inv, workers=workers, host_timeout=timeout)
        report = fleet_health(inv, chosen, opts, HealthOptions(samples=samples, interval=interval,
                                                               textfile=textfile, use_prometheus=prometheus,
                                                               getinfo=getinfo, certs=certs))
    report.collapse_ok = not all_
    runner.finish(report, json_)


@task(numbers={k: runner.seconds() for k in ("days", "block_size", "txs_per_block", "window")}, help={
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
def forecast(c, inventory=None, select=None, days="90", block_size=None, txs_per_block=None, samples_dir=None,
             window="7", prometheus=None, no_record=False, json_=False):
    """Per host and data filesystem: growth/day, days to 90% and 100%, and the ledger growth that fits (exit 0/1/2/3)."""
    from opskit.inventory import select as sel
    from opskit.health.forecast import SampleStore, fleet_forecast

    with runner.task_errors():
        from opskit import values as v

        days = v.cli(v.seconds, days, "--days")
        window = v.cli(v.seconds, window, "--window")
        block_size = v.cli_optional(v.seconds, block_size or None, "--block-size")
        txs_per_block = v.cli_optional(v.seconds, txs_per_block or None, "--txs-per-block")
        if samples_dir:
            v.cli(v.file_path, samples_dir, "--samples-dir")
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        report = fleet_forecast(
            inv, chosen.hosts, target_days=days,
            avg_block_bytes=block_size, txs_per_block=txs_per_block,
            store=SampleStore(samples_dir), record=not no_record, window_days=window,
            prometheus_url=prometheus,
        )
    runner.finish(report, json_)


@task(numbers={**runner.ENGINE_NUMBERS, "connect_timeout": runner.seconds()}, help={
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
        from opskit import values as v

        workers = v.cli_optional(v.count, workers, "--workers", minimum=1, maximum=1024)
        timeout = v.cli_optional(v.seconds, timeout, "--timeout")
        connect_timeout = v.cli_optional(v.seconds, connect_timeout, "--connect-timeout")
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(inv, workers=workers, host_timeout=timeout)
        probe_opts = ProbeOptions(connect_timeout=connect_timeout or 3.0)
        report = probe_fleet(inv, chosen.hosts, opts, probe_opts)
    runner.finish(report, json_)


@task(numbers=runner.ENGINE_NUMBERS, help={
    "inventory": runner.INVENTORY_HELP,
    "select": runner.SELECT_HELP,
    "json": runner.JSON_HELP,
    "workers": "parallel hosts (default from the inventory, 32)",
    "timeout": "per-host deadline in seconds (default from the inventory, 60)",
})
def certs(c, inventory=None, select=None, json_=False, workers=None, timeout=None):
    """Every node's certificates (TLS, MSP, CA, admin), soonest expiry first, with days left (exit 0/1/2/3).

    Read on each host where the containers mount them; WARNING/CRITICAL under the inventory's
    thresholds cert_warning_days (30) / cert_critical_days (7).
    """
    import sys

    from invoke.exceptions import Exit

    from opskit.health.certs import cert_findings
    from opskit.health.fleet import read_certs
    from opskit.inventory import select as sel
    from opskit.output.report import Report
    from opskit.remote.engine import Engine, EngineOptions

    report = Report("fleet.certs")
    with runner.task_errors():
        inv = runner.inventory(inventory)
        report.inventory = inv.source
        chosen = sel(inv, select)
        opts = EngineOptions.from_inventory(
            inv, workers=int(workers) if workers else None, host_timeout=float(timeout) if timeout else None
        )
        with Engine(inv, opts) as engine:
            found, problems = read_certs(inv, engine, chosen)
        report.extend(problems)
        report.extend(cert_findings(inv, found, per_cert=True))
    if json_:
        runner.finish(report, True)
        return
    from opskit.output.table import print_rows

    rows = [[f.data["days_left"], f.severity.label(), f.node or "-", f.host, f.data["path"], f.data["subject"],
             f.data["not_after"][:10]] for f in report.findings if f.check == "cert" and "path" in f.data]
    notes = [f for f in report.findings if "path" not in f.data]
    code = print_rows(report, ["days left", "severity", "node", "host", "path", "subject", "not after"], rows, notes)
    sys.stdout.flush()
    if code:
        raise Exit(code=code)
