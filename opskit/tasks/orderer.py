"""orderer.*: channel configuration of the ordering service (batch parameters, Kafka -> Raft migration).

Online (default): configs are fetched, signed by every orderer-org admin and submitted through the fleet's Fabric
tools container (``peer channel fetch|signconfigtx|update``, opskit.orderer.online); the migration is a journaled
state machine (opskit.orderer.migrate). Offline: ``--config-block FILE`` reads a config block / ``common.Config``
file and ``--output FILE`` writes the CONFIG_UPDATE envelope for review and air-gapped signing; nothing is contacted.
"""

from __future__ import annotations

import sys

from invoke import task

from opskit.tasks import runner

BLOCK_HELP = "config block (`peer channel fetch config`), CONFIG envelope or common.Config protobuf file"
OUTPUT_HELP = "write the unsigned CONFIG_UPDATE envelope here (and FILE.json, its configtxlator-style decoding)"
PLAN_HELP = "only show what would change; write nothing"
OFFLINE_HINT = "offline mode: --config-block FILE --output FILE"


def _require(value, flag):
    from opskit.errors import OpskitError

    if not value:
        raise OpskitError(f"{flag} is required ({OFFLINE_HINT})")
    return value


def _channel_of(loaded, channel, what="--config-block"):
    from opskit.orderer.config import ChannelConfigError

    if channel and loaded.channel_id and channel != loaded.channel_id:
        raise ChannelConfigError(f"{what} {loaded.source} is for channel {loaded.channel_id!r}, not {channel!r}")
    ch = channel or loaded.channel_id
    if not ch:
        raise ChannelConfigError(f"{loaded.source} is a bare common.Config: give the channel (--channel)")
    return ch


@task(help={
    "original": "the config before the change: " + BLOCK_HELP,
    "updated": "the changed config (same kinds of file)",
    "channel": "channel ID (default: the one in the original block)",
    "output": OUTPUT_HELP,
    "bare": "write a bare common.ConfigUpdate (configtxlator compute_update output) instead of the envelope",
    "json": runner.JSON_HELP,
})
def compute_update(c, original, updated, output, channel=None, bare=False, json_=False):
    """Compute the config update between two configs, as `configtxlator compute_update` does (offline)."""
    from opskit.orderer.config import diff_configs, load_config_file
    from opskit.orderer.update import compute_update as compute, write_update
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        orig = load_config_file(original)
        upd = load_config_file(updated)
        ch = _channel_of(orig, channel, "--original")
        cu = compute(orig.config, upd.config, ch)
        changes = diff_configs(orig.config, upd.config)
        if bare:
            from pathlib import Path

            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_bytes(cu.SerializeToString(deterministic=True))
            files = [output]
        else:
            files = [str(p) for p in write_update(output, cu, ch)]
    report = Report("orderer.compute-update")
    report.add(Finding("update", Severity.OK, f"{ch}: {len(changes)} change(s) written to {files[0]}",
                       node=ch, data={"files": files, "changes": [x.describe(200) for x in changes]}))
    for x in changes:
        report.add(Finding("change", Severity.OK, x.describe(), node=ch))
    runner.finish(report, json_)


ONLINE_HELP = {
    "inventory": runner.INVENTORY_HELP,
    "cli": "tools container node (default: the inventory's node of kind cli)",
}


def _session_factory(engine, inv):
    return lambda host: engine.session(inv.hosts[host])


def _print_summary(doc: dict, kind_note: str) -> None:
    cons = doc["consensus"]
    bs = doc["batch_size"]
    lines = [
        f"channel       {doc['channel'] or '-'}  (sequence {doc['sequence']}, {kind_note})",
        f"consensus     {cons['type']}  {cons['state']}",
        f"batch         timeout {doc['batch_timeout']}, max_message_count {bs['max_message_count']}, "
        f"absolute_max_bytes {bs['absolute_max_bytes']}, preferred_max_bytes {bs['preferred_max_bytes']}",
    ]
    if "consenters" in cons:
        lines.append(f"consenters    {', '.join(cons['consenters'])}")
        if cons.get("options"):
            lines.append("raft options  " + ", ".join(f"{k} {v}" for k, v in cons["options"].items()))
    if doc.get("kafka_brokers"):
        lines.append(f"kafka         {', '.join(doc['kafka_brokers'])}")
    lines.append("capabilities  " + "; ".join(f"{k} {','.join(v) or '-'}" for k, v in doc["capabilities"].items()))
    lines.append(f"orderer orgs  {', '.join(doc['orderer_orgs'])}")
    if doc.get("application_orgs"):
        lines.append(f"app orgs      {', '.join(doc['application_orgs'])}")
    print("\n".join(lines))


@task(help={
    "channel": "channel ID",
    "config_block": "offline: read this file instead of fetching (" + BLOCK_HELP + ")",
    "json": "print the summary as JSON",
    "full": "print the whole config as configtxlator JSON",
    **ONLINE_HELP,
})
def config(c, channel, config_block=None, json_=False, full=False, inventory=None, cli=None):
    """Summary of a channel config: consensus type and state, batch parameters, consenters, capabilities.

    Online it is fetched from the channel's first answering orderer through the tools container.
    """
    import json as jsonlib

    from opskit.orderer.config import load_config_file, render_config, summary

    with runner.task_errors():
        if config_block:
            loaded = load_config_file(config_block)
            ch = _channel_of(loaded, channel)
            cfg = loaded.config
            doc = {"channel": ch, "source": loaded.source, "kind": loaded.kind, "block": loaded.block_number,
                   **summary(cfg)}
            note = loaded.kind + (f" {loaded.block_number}" if loaded.block_number is not None else "")
        else:
            from opskit.orderer.online import ChannelAdmin, summary_of
            from opskit.remote import Engine

            inv = runner.inventory(inventory)
            with Engine(inv) as engine:
                admin = ChannelAdmin(inv, _session_factory(engine, inv), cli=cli)
                try:
                    fetched = admin.fetch_config(channel)
                finally:
                    admin.close()
            cfg = fetched.config
            doc = summary_of(fetched, channel)
            note = f"config block {fetched.block_number} from {fetched.orderer}"
        if full:
            print(jsonlib.dumps(render_config(cfg), indent=2, sort_keys=True))
            return
    if json_:
        print(jsonlib.dumps(doc, indent=2))
        return
    _print_summary(doc, note)


@task(help={
    "channel": "channel ID",
    "config_block": "offline: start from this file (" + BLOCK_HELP + ") and write the update to --output",
    "output": OUTPUT_HELP,
    "timeout": "BatchTimeout, a Go duration such as 2s or 500ms",
    "max_message_count": "BatchSize.max_message_count",
    "absolute_max_bytes": "BatchSize.absolute_max_bytes",
    "preferred_max_bytes": "BatchSize.preferred_max_bytes",
    "plan": "fetch the current config and show the exact diff; change nothing",
    "json": runner.JSON_HELP,
    **ONLINE_HELP,
})
def set_batch(c, channel, config_block=None, output=None, timeout=None, max_message_count=None,
              absolute_max_bytes=None, preferred_max_bytes=None, plan=False, json_=False, inventory=None, cli=None):
    """Change BatchTimeout / BatchSize of CHANNEL: fetch, sign by the orderer-org admins, submit, verify.

    Offline (--config-block FILE --output FILE) it writes the unsigned update for review instead.
    """
    from opskit.errors import OpskitError
    from opskit.orderer.config import (
        clone,
        diff_configs,
        duration_ns,
        get_batch_size,
        get_batch_timeout,
        load_config_file,
        render_update,
        set_batch_size,
        set_batch_timeout,
    )
    from opskit.orderer.update import NoDifferences, compute_update as compute, write_update
    from opskit.output.report import Finding, Report, Severity

    report = Report("orderer.set-batch")
    with runner.task_errors():
        if timeout is None and max_message_count is None and absolute_max_bytes is None and preferred_max_bytes is None:
            raise OpskitError("nothing to change: give --timeout and/or --max-message-count, --absolute-max-bytes, "
                              "--preferred-max-bytes")
        if timeout is not None and duration_ns(timeout) <= 0:  # checked before anything is contacted
            raise OpskitError(f"--timeout must be positive, got {timeout!r}")
        sizes = {}
        for k, v in (("max_message_count", max_message_count), ("absolute_max_bytes", absolute_max_bytes),
                     ("preferred_max_bytes", preferred_max_bytes)):
            if v is None:
                continue
            try:
                sizes[k] = int(v)
            except ValueError:
                raise OpskitError(f"--{k.replace('_', '-')} must be a whole number, got {v!r}") from None

        def changed(cfg):
            new = clone(cfg)
            if timeout is not None:
                set_batch_timeout(new, timeout)
            if sizes:
                set_batch_size(new, **sizes)
            return new

        if config_block:
            loaded = load_config_file(config_block)
            ch = _channel_of(loaded, channel)
            if not plan:
                _require(output, "--output")
            new = changed(loaded.config)
            cu = compute(loaded.config, new, ch)
            changes = diff_configs(loaded.config, new)
            files = [] if plan else [str(p) for p in write_update(output, cu, ch)]
            what = "would write" if plan else f"wrote {files[0]}"
            report.add(Finding("update", Severity.OK, f"{ch}: {len(changes)} change(s); {what}", node=ch,
                               data={"files": files, "update": render_update(cu)}))
            for x in changes:
                report.add(Finding("change", Severity.OK, x.describe(), node=ch))
        else:
            from opskit.orderer.online import ChannelAdmin
            from opskit.remote import Engine
            from opskit.runlock import fleet_lock

            inv = runner.inventory(inventory)
            report.inventory = inv.source
            with fleet_lock(inv.source or "inventory", "orderer.set-batch", scope=f"channel-{channel}") \
                    if not plan else _nolock(), Engine(inv) as engine:
                admin = ChannelAdmin(inv, _session_factory(engine, inv), cli=cli,
                                     progress=lambda m: None if json_ else print(f"set-batch: {m}", file=sys.stderr))
                try:
                    current = admin.fetch_config(channel)
                    new = changed(current.config)
                    changes = diff_configs(current.config, new)
                    try:
                        cu = compute(current.config, new, channel)
                    except NoDifferences:
                        cu = None
                    if cu is None:
                        report.add(Finding("update", Severity.OK, f"{channel}: already as asked (BatchTimeout "
                                           f"{get_batch_timeout(current.config)}, {get_batch_size(current.config)}): "
                                           "nothing to change", node=channel))
                    elif plan:
                        report.add(Finding("update", Severity.OK, f"{channel}: {len(changes)} change(s) against config "
                                           f"sequence {current.config.sequence} from {current.orderer}; nothing "
                                           "submitted (--plan)", node=channel, data={"update": render_update(cu)}))
                    else:
                        target_timeout = get_batch_timeout(new)
                        target_size = get_batch_size(new)
                        res = admin.submit(channel, current.config, cu, name="set-batch",
                                           expect=lambda c: get_batch_timeout(c) == target_timeout
                                           and get_batch_size(c) == target_size)
                        report.add(Finding("update", Severity.OK, f"{channel}: config sequence {res.sequence} "
                                           f"(block {res.block}) via {res.orderer}, signed by {', '.join(res.signers)}; "
                                           f"verified on {', '.join(res.verified_on)}", node=channel,
                                           data={"update": render_update(cu), "sequence": res.sequence,
                                                 "block": res.block, "verified_on": res.verified_on}))
                    for x in changes:
                        report.add(Finding("change", Severity.OK, x.describe(), node=channel))
                finally:
                    admin.close()
    runner.finish(report, json_)


def _nolock():
    import contextlib

    return contextlib.nullcontext()


def _progress(json_):
    return (lambda m: None) if json_ else (lambda m: print(f"migrate-raft: {m}", file=sys.stderr, flush=True))


@task(iterable=["config_block"], help={
    "config_block": "offline: config block of a channel to migrate; repeat for every channel (system channel "
                    "included); with --output-dir writes the three updates of every channel",
    "consenters": "YAML/JSON file: consenters (host, port, client_tls_cert, server_tls_cert) and etcdraft options",
    "output_dir": "offline: write DIR/stepN_*/NN-<channel>.pb (+ .json) and DIR/plan.json",
    "system_channel": "offline: name of the system channel (default: the channel with a Consortiums group)",
    "plan": "read everything (configs from every orderer, versions, room for backups) and print every step with "
            "its exact config diff; change nothing",
    "channels": "comma-separated channel names; must name every channel of the ordering service",
    "resume": "continue an interrupted migration from its journal",
    "abort": "undo the migration: before the type switch exit maintenance, after it restore the backups; "
             "refused once a channel left maintenance on etcdraft",
    "backup_dir": "where the backups go on each host (default /var/backups/opskit/migrate-raft)",
    "wait": "deadline in seconds of every wait (orderers agree, restarts, leaders; default 120)",
    "json": runner.JSON_HELP,
    **ONLINE_HELP,
})
def migrate_raft(c, config_block=None, consenters=None, output_dir=None, system_channel=None, plan=False,
                 channels=None, resume=False, abort=False, backup_dir=None, wait=None, json_=False, inventory=None,
                 cli=None):
    """Kafka -> Raft migration of every channel, following Fabric's procedure (docs/orderer.md).

    prechecks, enter maintenance, backup (stop, copy volumes, start), switch to etcdraft, restart the orderers
    with their Raft settings, verify a leader on every channel, exit maintenance; journaled: --resume, --abort.
    """
    from opskit.errors import OpskitError

    if config_block:
        with runner.task_errors():
            if resume or abort or channels:
                raise OpskitError("--resume, --abort and --channels belong to the online migration; offline takes "
                                  "--config-block FILE (repeat) --consenters FILE --output-dir DIR")
        return _migrate_offline(config_block, consenters, output_dir, system_channel, plan, json_)
    from opskit.orderer.migrate import MigrateOptions, Migration
    from opskit.runlock import fleet_lock

    with runner.task_errors():
        if resume and abort:
            raise OpskitError("--resume and --abort exclude each other")
        if plan and (resume or abort):
            raise OpskitError("--plan shows the remaining steps by itself; drop --resume/--abort")
        inv = runner.inventory(inventory)
        opts = MigrateOptions(consenters=consenters, cli=cli,
                              channels=[x.strip() for x in channels.split(",") if x.strip()] if channels else None)
        if backup_dir:
            opts.backup_dir = backup_dir
        if wait:
            opts.timeout = float(wait)
        m = Migration(inv, opts, progress=_progress(json_))
        try:
            if plan:
                report = m.plan()
            else:
                with fleet_lock(inv.source or "inventory", "orderer.migrate-raft", scope="orderer"):
                    report = m.abort() if abort else m.run(resume=resume)
        finally:
            m.close()
    runner.finish(report, json_)


def _migrate_offline(config_block, consenters, output_dir, system_channel, plan, json_):
    import json as jsonlib
    from pathlib import Path

    from opskit.errors import OpskitError
    from opskit.orderer.config import load_config_file, render_envelope
    from opskit.orderer.migration import load_consenters, plan_migration, precheck, raft_metadata
    from opskit.output.report import Finding, Report, Severity

    report = Report("orderer.migrate-raft")
    with runner.task_errors():
        blocks = config_block or []
        _require(consenters, "--consenters")
        if not plan:
            _require(output_dir, "--output-dir")
        configs = {}
        for b in blocks:
            loaded = load_config_file(b)
            ch = _channel_of(loaded, None)
            if ch in configs:
                raise OpskitError(f"channel {ch} given twice")
            configs[ch] = loaded.config
        if system_channel is None:
            sys_chans = [ch for ch, cfg in configs.items() if "Consortiums" in cfg.channel_group.groups]
            system_channel = sys_chans[0] if len(sys_chans) == 1 else None
        specs, options = load_consenters(consenters)
        findings = precheck(configs, specs)
        report.extend(findings)
        if any(f.severity is Severity.CRITICAL for f in findings):
            runner.finish(report, json_)
            return
        metadata = raft_metadata(specs, options)
        steps = plan_migration(configs, metadata, system_channel=system_channel)
        written = []
        counters: dict[int, int] = {}
        for s in steps:
            idx = counters.get(s.number, 0)
            counters[s.number] = idx + 1
            rel = Path(s.name) / f"{idx:02d}-{s.channel}.pb"
            entry = {"step": s.number, "name": s.name, "channel": s.channel, "before": s.before.value,
                     "after": s.after.value, "file": str(rel), "changes": s.changes}
            if not plan:
                out = Path(output_dir) / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                env = s.envelope()
                out.write_bytes(env.SerializeToString())
                out.with_name(out.name + ".json").write_text(
                    jsonlib.dumps(render_envelope(env), indent=2, sort_keys=True) + "\n")
            written.append(entry)
            report.add(Finding(f"plan.{s.name}", Severity.OK,
                               f"{s.channel}: {s.before.value} -> {s.after.value}"
                               + ("" if plan else f" ({rel})"), node=s.channel, data=entry))
        if not steps:
            report.add(Finding("plan", Severity.OK, "every channel is already etcdraft/STATE_NORMAL: nothing to do"))
        if not plan:
            doc = {"system_channel": system_channel, "channels": list(configs), "steps": written,
                   "consenters": [s.endpoint for s in specs], "options": metadata.options.__dict__,
                   "procedure": ["submit every step1_to_maintenance update (system channel first) and check each "
                                 "channel shows kafka + STATE_MAINTENANCE on every orderer",
                                 "backup: stop orderers, Kafka, ZooKeeper; copy ledgers, Kafka logs, ZK data; restart",
                                 "submit every step2_to_etcdraft update (system channel first); it must be the last "
                                 "config tx before the restart",
                                 "restart the orderers as Raft (cluster TLS, WAL/snap dirs), without Kafka/ZooKeeper; "
                                 "wait for a leader on every channel",
                                 "submit every step3_to_normal update (system channel first)"]}
            Path(output_dir, "plan.json").write_text(jsonlib.dumps(doc, indent=2) + "\n")
        report.meta["system_channel"] = system_channel
    runner.finish(report, json_)


@task(iterable=["config_block"], help={
    "config_block": "offline: config block of a channel; repeat for every channel",
    "json": runner.JSON_HELP,
    **ONLINE_HELP,
})
def migration_status(c, config_block=None, json_=False, inventory=None, cli=None):
    """Which migration state every channel shows on every orderer, its Raft leader, and any open journal."""
    from opskit.orderer.config import load_config_file
    from opskit.orderer.migration import ChannelStep, channel_step
    from opskit.output.report import Finding, Report, Severity

    if not config_block:
        from opskit.orderer.migrate import MigrateOptions, Migration

        with runner.task_errors():
            inv = runner.inventory(inventory)
            m = Migration(inv, MigrateOptions(cli=cli))
            try:
                report = m.status()
            finally:
                m.close()
        runner.finish(report, json_)
        return
    report = Report("orderer.migration-status")
    with runner.task_errors():
        for b in config_block:
            loaded = load_config_file(b)
            ch = _channel_of(loaded, None)
            step = channel_step(loaded.config)
            sev = Severity.OK if step in (ChannelStep.KAFKA_NORMAL, ChannelStep.RAFT_NORMAL) else Severity.WARNING
            nxt = step.next_update
            msg = f"{ch}: {step.value}" + (f" (next: update {nxt})" if nxt else " (migrated)" if
                                           step is ChannelStep.RAFT_NORMAL else "")
            report.add(Finding("migration.state", sev, msg, node=ch,
                               data={"channel": ch, "state": step.value, "next_update": nxt}))
    runner.finish(report, json_)
