"""orderer.*: channel configuration of the ordering service (batch parameters, Kafka -> Raft migration).

Offline mode (available now): every task reads a config block / ``common.Config`` file (``--config-block``)
and writes the CONFIG_UPDATE envelope (``--output``) for review and air-gapped signing with
``peer channel signconfigtx``; nothing is contacted. The online variants (fetch through the fleet's Fabric tools
container, sign, submit; migration journal with --resume/--abort) are pending: they need the lab.
"""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner

BLOCK_HELP = "config block (`peer channel fetch config`), CONFIG envelope or common.Config protobuf file"
OUTPUT_HELP = "write the unsigned CONFIG_UPDATE envelope here (and FILE.json, its configtxlator-style decoding)"
PLAN_HELP = "only show what would change; write nothing"
ONLINE_PENDING = ("online mode (fetch/sign/submit through the fleet) is not available yet: pass --config-block FILE "
                  "and --output FILE to work offline")


def _require(value, flag):
    from opskit.errors import OpskitError

    if not value:
        raise OpskitError(f"{flag} is required ({ONLINE_PENDING})")
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


@task(help={
    "channel": "channel ID (offline: checked against the block's; online mode is pending)",
    "config_block": BLOCK_HELP,
    "json": "print the summary as JSON",
    "full": "print the whole config as configtxlator JSON",
})
def config(c, channel, config_block=None, json_=False, full=False):
    """Summary of a channel config: consensus type and state, batch parameters, consenters, capabilities."""
    import json as jsonlib

    from opskit.orderer.config import load_config_file, render_config, summary

    with runner.task_errors():
        loaded = load_config_file(_require(config_block, "--config-block"))
        ch = _channel_of(loaded, channel)
        doc = {"channel": ch, "source": loaded.source, "kind": loaded.kind, "block": loaded.block_number,
               **summary(loaded.config)}
        if full:
            print(jsonlib.dumps(render_config(loaded.config), indent=2, sort_keys=True))
            return
    if json_:
        print(jsonlib.dumps(doc, indent=2))
        return
    cons = doc["consensus"]
    bs = doc["batch_size"]
    lines = [
        f"channel       {ch or '-'}  (sequence {doc['sequence']}, {loaded.kind}"
        + (f" {loaded.block_number}" if loaded.block_number is not None else "") + ")",
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
    "channel": "channel ID (must match the block's)",
    "config_block": BLOCK_HELP,
    "output": OUTPUT_HELP,
    "timeout": "BatchTimeout, a Go duration such as 2s or 500ms",
    "max_message_count": "BatchSize.max_message_count",
    "absolute_max_bytes": "BatchSize.absolute_max_bytes",
    "preferred_max_bytes": "BatchSize.preferred_max_bytes",
    "plan": PLAN_HELP,
    "json": runner.JSON_HELP,
})
def set_batch(c, channel, config_block=None, output=None, timeout=None, max_message_count=None,
              absolute_max_bytes=None, preferred_max_bytes=None, plan=False, json_=False):
    """Change BatchTimeout / BatchSize of CHANNEL: offline, writes the config update for signing."""
    from opskit.errors import OpskitError
    from opskit.orderer.config import (
        clone,
        diff_configs,
        load_config_file,
        render_update,
        set_batch_size,
        set_batch_timeout,
    )
    from opskit.orderer.update import compute_update as compute, write_update
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        loaded = load_config_file(_require(config_block, "--config-block"))
        ch = _channel_of(loaded, channel)
        if timeout is None and max_message_count is None and absolute_max_bytes is None and preferred_max_bytes is None:
            raise OpskitError("nothing to change: give --timeout and/or --max-message-count, --absolute-max-bytes, "
                              "--preferred-max-bytes")
        if not plan:
            _require(output, "--output")
        new = clone(loaded.config)
        if timeout is not None:
            set_batch_timeout(new, timeout)
        sizes = {}
        for k, v in (("max_message_count", max_message_count), ("absolute_max_bytes", absolute_max_bytes),
                     ("preferred_max_bytes", preferred_max_bytes)):
            if v is None:
                continue
            try:
                sizes[k] = int(v)
            except ValueError:
                raise OpskitError(f"--{k.replace('_', '-')} must be a whole number, got {v!r}") from None
        if sizes:
            set_batch_size(new, **sizes)
        cu = compute(loaded.config, new, ch)
        changes = diff_configs(loaded.config, new)
        files = [] if plan else [str(p) for p in write_update(output, cu, ch)]
    report = Report("orderer.set-batch")
    what = "would write" if plan else f"wrote {files[0]}"
    report.add(Finding("update", Severity.OK, f"{ch}: {len(changes)} change(s); {what}", node=ch,
                       data={"files": files, "update": render_update(cu)}))
    for x in changes:
        report.add(Finding("change", Severity.OK, x.describe(), node=ch))
    runner.finish(report, json_)


@task(iterable=["config_block"], help={
    "config_block": "config block of a channel to migrate; repeat for every channel (system channel included)",
    "consenters": "YAML/JSON file: consenters (host, port, client_tls_cert, server_tls_cert) and etcdraft options",
    "output_dir": "write DIR/stepN_*/NN-<channel>.pb (+ .json) and DIR/plan.json",
    "system_channel": "name of the system channel (goes first in every step; default: the channel with a Consortiums group)",
    "plan": PLAN_HELP,
    "channels": "comma-separated channel names (online mode, pending)",
    "resume": "continue from the journal (online mode, pending)",
    "abort": "abort the migration (online mode, pending)",
    "json": runner.JSON_HELP,
})
def migrate_raft(c, config_block=None, consenters=None, output_dir=None, system_channel=None, plan=False,
                 channels=None, resume=False, abort=False, json_=False):
    """Kafka -> Raft migration. Offline now: prechecks, then the three config updates of every channel.

    Online mode (enter maintenance, backup, switch, restart as Raft, verify leaders, exit maintenance, with a
    journal, --resume and --abort) is pending: it needs the lab.
    """
    import json as jsonlib
    from pathlib import Path

    from opskit.errors import OpskitError
    from opskit.orderer.config import load_config_file, render_envelope
    from opskit.orderer.migration import load_consenters, plan_migration, precheck, raft_metadata
    from opskit.output.report import Finding, Report, Severity

    report = Report("orderer.migrate-raft")
    with runner.task_errors():
        if resume or abort or channels:
            raise OpskitError("--resume, --abort and --channels belong to the online migration, which is not "
                              "available yet; offline: --config-block FILE (repeat) --consenters FILE --output-dir DIR")
        blocks = config_block or []
        if not blocks:
            _require(None, "--config-block")
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
    "config_block": "config block of a channel; repeat for every channel (offline); online mode is pending",
    "json": runner.JSON_HELP,
})
def migration_status(c, config_block=None, json_=False):
    """Which migration state every channel's config shows (kafka/etcdraft x NORMAL/MAINTENANCE)."""
    from opskit.orderer.config import load_config_file
    from opskit.orderer.migration import ChannelStep, channel_step
    from opskit.output.report import Finding, Report, Severity

    report = Report("orderer.migration-status")
    with runner.task_errors():
        blocks = config_block or []
        if not blocks:
            _require(None, "--config-block")
        for b in blocks:
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
