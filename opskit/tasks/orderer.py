"""orderer.*: channel configuration of the ordering service (batch parameters, Kafka -> Raft migration).

Online (default): configs are fetched, signed by every orderer-org admin and submitted through the fleet's Fabric
tools container (``peer channel fetch|signconfigtx|update``, opskit.orderer.online); the migration is a journaled
state machine (opskit.orderer.migrate). Offline: ``--config-block FILE`` reads a config block / ``common.Config``
file and ``--output FILE`` writes the CONFIG_UPDATE envelope for review and air-gapped signing; nothing is contacted.
"""

from __future__ import annotations

import sys

from opskit.tasks.runner import task

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


@task(numbers={**{k: runner.count(1) for k in ("max_message_count", "absolute_max_bytes", "preferred_max_bytes")},
               "timeout": runner.Parsed("opskit.orderer.config:duration_ns")},
      renamed={"plan": "check"}, help={
    "channel": "channel ID",
    "config_block": "offline: start from this file (" + BLOCK_HELP + ") and write the update to --output",
    "output": OUTPUT_HELP,
    "timeout": "BatchTimeout, a Go duration such as 2s or 500ms",
    "max_message_count": "BatchSize.max_message_count",
    "absolute_max_bytes": "BatchSize.absolute_max_bytes",
    "preferred_max_bytes": "BatchSize.preferred_max_bytes",
    "plan": "fetch the current config and show the exact diff; change nothing",
    **ONLINE_HELP,
})
def set_batch(c, channel, config_block=None, output=None, timeout=None, max_message_count=None,
              absolute_max_bytes=None, preferred_max_bytes=None, plan=False, json_=False, inventory=None, cli=None,
              diff=False, detailed_exitcode=False):
    """Change BatchTimeout / BatchSize of CHANNEL: fetch, sign by the orderer-org admins, submit, verify.

    Offline (--config-block FILE --output FILE) it writes the unsigned update for review instead.
    """
    from opskit.orderer.batch import BatchSettings, BatchUpdate
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        settings = BatchSettings.from_cli(timeout, max_message_count=max_message_count,
                                          absolute_max_bytes=absolute_max_bytes,
                                          preferred_max_bytes=preferred_max_bytes)
        if config_block:
            from opskit.orderer.config import diff_configs, load_config_file, render_update
            from opskit.orderer.update import compute_update as compute, write_update

            report = Report("orderer.set-batch")
            loaded = load_config_file(config_block)
            ch = _channel_of(loaded, channel)
            if not plan:
                _require(output, "--output")
            new = settings.applied_to(loaded.config)
            cu = compute(loaded.config, new, ch)
            changes = diff_configs(loaded.config, new)
            files = [] if plan else [str(p) for p in write_update(output, cu, ch)]
            what = "would write" if plan else f"wrote {files[0]}"
            report.add(Finding("update", Severity.OK, f"{ch}: {len(changes)} change(s); {what}", node=ch,
                               data={"files": files, "update": render_update(cu)}))
            for x in changes:
                report.add(Finding("change", Severity.OK, x.describe(), node=ch))
            runner.finish(report, json_, detailed_exitcode=detailed_exitcode, diff=diff)
            return
        inv = runner.inventory(inventory)

    def build(session_for, say, stack):  # type: ignore[no-untyped-def]
        from opskit.orderer.online import ChannelAdmin

        admin = ChannelAdmin(inv, session_for, cli=cli, progress=say)
        stack.callback(admin.close)
        return BatchUpdate(admin, channel, settings)

    _channel_change("orderer.set-batch", inv, channel, plan, json_, diff, detailed_exitcode, build)


@task(iterable=["config_block"], numbers={"wait": runner.seconds()}, renamed={"plan": "check"}, help={
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
    **ONLINE_HELP,
})
def migrate_raft(c, config_block=None, consenters=None, output_dir=None, system_channel=None, plan=False,
                 channels=None, resume=False, abort=False, backup_dir=None, wait=None, json_=False, inventory=None,
                 cli=None, diff=False, detailed_exitcode=False):
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
    import contextlib

    from opskit.change import execute
    from opskit.orderer.migrate import MigrateOptions, Migration, MigrationOperation
    from opskit.runlock import fleet_lock

    with runner.task_errors():
        if resume and abort:
            raise OpskitError("--resume and --abort exclude each other")
        if plan and (resume or abort):
            raise OpskitError("--check shows the remaining steps by itself; drop --resume/--abort")
        inv = runner.inventory(inventory)
        opts = MigrateOptions(consenters=consenters, cli=cli,
                              channels=[x.strip() for x in channels.split(",") if x.strip()] if channels else None)
        if backup_dir:
            opts.backup_dir = backup_dir
        if wait:
            opts.timeout = float(wait)
        m = Migration(inv, opts, progress=_say(json_, "migrate-raft"))
        pending = 0
        try:
            if abort:   # the undo is an operation of its own: journal-driven, no plan to check
                with fleet_lock(inv.source or "inventory", "orderer.migrate-raft", scope="orderer"):
                    report = m.abort()
            else:
                op = MigrationOperation(m, resume=None if plan else resume)
                with fleet_lock(inv.source or "inventory", "orderer.migrate-raft", scope="orderer") \
                        if not plan else contextlib.nullcontext():
                    outcome = execute(op, check=plan)
                report = op.report(outcome)
                pending = len(outcome.plan.changes)
        finally:
            m.close()
    runner.mark_check(report, plan, pending)
    runner.finish(report, json_, detailed_exitcode=detailed_exitcode, diff=diff)


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


# --------------------------------------------------------------------------------------------------- participation

PARTICIPATION_HELP = {
    "cli": "tools container node that runs osnadmin (default: the inventory's node of kind cli)",
}


def _finish_listing(report, json_, columns, rows, notes):
    from invoke.exceptions import Exit

    if json_:
        runner.finish(report, True)
        return
    from opskit.output.table import print_rows

    code = print_rows(report, columns, rows, notes)
    sys.stdout.flush()
    if code:
        raise Exit(code=code)


@task(help={"select": runner.SELECT_HELP + " (orderers of it; default every orderer)", **PARTICIPATION_HELP})
def channels(c, select=None, json_=False, inventory=None, cli=None):
    """Every channel each orderer holds: status, consensus relation, height (osnadmin channel list, one table)."""
    from opskit.errors import SelectorError
    from opskit.inventory import select as sel
    from opskit.inventory.model import NodeKind
    from opskit.orderer.participation import Participation, require_admin
    from opskit.output.report import Finding, Report, Severity
    from opskit.remote import Engine

    report = Report("orderer.channels")
    with runner.task_errors():
        inv = runner.inventory(inventory)
        report.inventory = inv.source
        orderers = [n for n in sel(inv, select).nodes if n.kind is NodeKind.ORDERER]
        if not orderers:
            raise SelectorError(f"no orderer in the selection {select!r}")
        endpoints = [require_admin(inv, n.name) for n in orderers]   # exit 3 before any host is contacted
        with Engine(inv) as engine:
            part = Participation(inv, _session_factory(engine, inv), cli=cli)
            try:
                listing = part.read(endpoints)
            finally:
                part.close()
        rows, notes = [], []
        status_sev = {"active": Severity.OK, "onboarding": Severity.WARNING, "inactive": Severity.WARNING,
                      "failed": Severity.CRITICAL}
        for n in orderers:
            oc = listing[n.name]
            if oc.error:
                notes.append(report.add(Finding("channels", Severity.UNKNOWN, oc.error, host=n.host, node=n.name)))
                rows.append([n.name, n.host, "?", "unreadable", "", ""])
                continue
            for info in sorted(oc.channels.values(), key=lambda i: i.channel):
                report.add(Finding("channel", status_sev.get(info.status, Severity.WARNING),
                                   f"{info.channel}: {info.status}, {info.consensus_relation}, height {info.height}",
                                   host=n.host, node=n.name, data=info.to_dict()))
                rows.append([n.name, n.host, info.channel, info.status, info.consensus_relation, info.height])
            for ch in inv.channels_of(n):
                if ch not in oc.channels:
                    notes.append(report.add(Finding(
                        "channel.missing", Severity.WARNING, f"{ch}: the inventory lists it for this orderer; "
                        "not joined", host=n.host, node=n.name, data={"orderer": n.name, "channel": ch})))
            if not oc.channels:
                rows.append([n.name, n.host, "-", "no channels", "", ""])
    _finish_listing(report, json_, ["orderer", "host", "channel", "status", "relation", "height"], rows, notes)


def _say(json_, what):
    return (lambda m: None) if json_ else (lambda m: print(f"{what}: {m}", file=sys.stderr, flush=True))


@task(numbers={"wait": runner.seconds()}, renamed={"plan": "check"}, help={
    "channel": "channel ID (must be in the inventory)",
    "orderer": "the orderer (inventory node name) that joins",
    "block": "config block file to join with (local; copied into the tools container); default: the latest "
             "config block fetched from another orderer of the channel",
    "plan": "read everything (participation of every orderer of the channel, the block) and say what would be "
            "done; change nothing",
    "wait": "seconds to wait for the joined orderer to reach the others' height (default 120)",
    **PARTICIPATION_HELP,
})
def join(c, channel, orderer, block=None, plan=False, wait=120.0, json_=False, inventory=None, cli=None, diff=False,
         detailed_exitcode=False):
    """Join ORDERER to CHANNEL (osnadmin channel join) and wait until its height reaches the other orderers'."""
    import contextlib

    from opskit.orderer.participation import ChannelJoin, Participation, participation_target, read_block_file

    with runner.task_errors():
        from opskit import values as v

        inv = runner.inventory(inventory)
        participation_target(inv, channel, orderer)                          # checked before any host is contacted
        data = read_block_file(block, channel) if block else None
        timeout = v.cli(v.seconds, wait, "--wait")

    def build(session_for, say, stack):  # type: ignore[no-untyped-def]
        part = stack.enter_context(contextlib.closing(Participation(inv, session_for, cli=cli)))
        return ChannelJoin(part, channel, orderer, block=data, block_source=f"--block {block}" if block else None,
                           timeout=timeout, progress=say)

    _channel_change("orderer.join", inv, channel, plan, json_, diff, detailed_exitcode, build)


@task(renamed={"plan": "check"}, help={
    "channel": "channel ID (must be in the inventory)",
    "orderer": "the orderer (inventory node name) that leaves",
    "plan": "read everything (participation, the channel's consenters) and say what would be done; change nothing",
    **PARTICIPATION_HELP,
})
def leave(c, channel, orderer, plan=False, json_=False, inventory=None, cli=None, diff=False, detailed_exitcode=False):
    """Remove CHANNEL from ORDERER (osnadmin channel remove), never leaving the channel's consenters below quorum."""
    import contextlib

    from opskit.orderer.participation import ChannelLeave, Participation, participation_target

    with runner.task_errors():
        inv = runner.inventory(inventory)
        participation_target(inv, channel, orderer)                          # checked before any host is contacted

    def build(session_for, say, stack):  # type: ignore[no-untyped-def]
        part = stack.enter_context(contextlib.closing(Participation(inv, session_for, cli=cli)))
        return ChannelLeave(part, channel, orderer, progress=say)

    _channel_change("orderer.leave", inv, channel, plan, json_, diff, detailed_exitcode, build)


def _channel_change(task_name, inv, channel, check, json_, diff, detailed_exitcode, build):  # type: ignore[no-untyped-def]
    """A channel operation (set-batch, join, leave) on the change contract: one SSH session per host, the fleet lock
    unless --check. ``build(session_for, say, stack)`` makes the operation and registers its clean-up on ``stack``."""
    import contextlib

    from opskit.remote import Engine
    from opskit.runlock import fleet_lock

    with contextlib.ExitStack() as stack:
        def operation():  # type: ignore[no-untyped-def]
            if not check:
                stack.enter_context(fleet_lock(inv.source or "inventory", task_name, scope=f"channel-{channel}"))
            engine = stack.enter_context(Engine(inv))
            return build(_session_factory(engine, inv), _say(json_, task_name.split(".")[-1]), stack)

        runner.run_change(task_name, inv.source, operation, check=check, diff=diff, as_json=json_,
                          detailed_exitcode=detailed_exitcode)
