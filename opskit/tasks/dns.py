"""dns.*: per-organisation DNS zones (RFC 2136 updates signed with each org's TSIG key).

    inv dns.add ORG NAME IP [--ttl T]     create; refuses if NAME has another address (race-safe)
    inv dns.update ORG NAME IP            compare-and-set on the old value
    inv dns.delete ORG NAME [IP]          delete NAME's records (or only IP)
    inv dns.list ORG [--json]             the zone by AXFR
    inv dns.show ORG NAME                 NAME's A/AAAA/CNAME records
    inv dns.sync [--org ORG] [--check]    zones from the inventory, one guarded UPDATE per zone
    inv dns.import-extra-hosts [SELECTOR] extra_hosts of compose files / containers -> zone records
    inv dns.check [SELECTOR]              drift between extra_hosts, DNS and the inventory
    inv dns.server-config ORG             a ready-to-run BIND configuration for that org's server

Library: opskit.dns (docs/dns.md). dnspython is imported inside task bodies.
"""

from __future__ import annotations

import sys
from typing import Any

from invoke.parser import Argument

from opskit.tasks import runner
from opskit.tasks.runner import OpskitArgument, OpskitTask, task

TIMEOUT_HELP = "seconds to wait for each answer of the DNS server (default 5)"
#: --timeout of every dns.* task, --ttl of add/update (checked while parsing: exit 3, nothing contacted)
TIMEOUT_NUMBER = {"timeout": runner.seconds()}
TTL_NUMBERS = {**TIMEOUT_NUMBER, "ttl": runner.count(0, 2**31 - 1)}
ORG_HELP = "organisation (its dns: settings in the inventory give server, zone and TSIG key)"


class _OptionalPositional(OpskitArgument):
    """A trailing positional argument that may be left out (``inv dns.delete ORG NAME [IP]``).

    Invoke's parser treats every positional as required; this one is "missing" (so the parser
    gives it the next word) everywhere except in the end-of-task completeness check.
    """

    @property  # type: ignore[override]
    def value(self) -> Any:
        v = self._value if self._value is not None else self.default
        if v is None:
            frame = sys._getframe(1)
            for _ in range(4):
                if frame is None:
                    break
                if frame.f_code.co_name == "complete_context":
                    return ""
                frame = frame.f_back
        return v

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


class _OptionalTailTask(OpskitTask):
    optional_positional: tuple[str, ...] = ()

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        args = super().get_arguments(ignore_unknown_help)
        for a in args:
            if a.name in self.optional_positional:
                a.__class__ = _OptionalPositional
        return args


class _DeleteTask(_OptionalTailTask):
    optional_positional = ("ip",)


class _SelectTask(_OptionalTailTask):
    optional_positional = ("selector",)


def _progress(line: str) -> None:
    print(f"opskit: {line}", file=sys.stderr, flush=True)


def _client(inv: Any, org: str, timeout: Any) -> Any:
    from opskit.dns.zone import ZoneClient

    return ZoneClient.for_org(inv, org, timeout=_timeout(timeout), progress=_progress)


def _timeout(timeout: Any) -> float:
    from opskit import values as v

    return v.cli(v.seconds, timeout, "--timeout") if timeout is not None else 5.0


def _target(value: str, option: str = "IP") -> str:
    """An address (A/AAAA) or a host name (CNAME) given on the command line."""
    from opskit import values as v
    from opskit.inventory.model import _check_address

    try:
        v.no_control(value, option)
        if ":" in value or "%" in value or value.replace(".", "").isdigit():
            return v.ip(value)
        return _check_address(value)
    except ValueError as exc:
        raise v.BadValue(f"{option}: {exc}") from None


def _check_args(timeout: Any, ttl: Any, *targets: str | None) -> None:
    """Every value checked before the inventory is read or a server contacted (exit 3 with one line)."""
    from opskit import values as v

    with runner.task_errors():
        _timeout(timeout)
        if ttl is not None:
            v.cli(v.count, ttl, "--ttl", minimum=0, maximum=2**31 - 1)
        for t in targets:
            if t is not None:
                _target(t)


def _change(task_name: str, inventory: str | None, org: str, timeout: Any, action: str, name: str,
            value: str | None, *, ttl: Any = None, old: str | None = None, check: bool = False, diff: bool = False,
            detailed_exitcode: bool = False, json_: bool = False) -> None:
    """add/update/delete on the change contract: plan by query, one guarded UPDATE unless --check, verify."""
    from opskit.dns.record import RecordChange
    from opskit.output.report import Finding, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)

    def build() -> RecordChange:
        return RecordChange(_client(inv, org, timeout), action, name, value, ttl=ttl, expect_old=old)  # type: ignore[arg-type]

    def finish(op: RecordChange, report: Any) -> None:
        res = op.result or op.planned
        if res is None:
            return
        for f in report.findings:
            f.data.update(res.to_dict())
            if op.result is not None:   # applied: say what the server holds now (verified, serial)
                f.message = res.message() + (f.message[f.message.index("\n"):] if "\n" in f.message else "")
        if op.result is not None and res.note and "did not answer" in res.note:
            report.add(Finding(task_name, Severity.WARNING, res.note, host=org, node=res.name))
        report.meta.update({"org": org, "zone": res.zone, "serial": res.serial})

    runner.run_change(task_name, inv.source, build, check=check, diff=diff, as_json=json_,
                      detailed_exitcode=detailed_exitcode, finish_report=finish)


@task(numbers=TTL_NUMBERS, help={"org": ORG_HELP, "name": "record name: one label (peer3) or a name inside the org's zone",
            "ip": "IPv4 (A) or IPv6 (AAAA) address, or a host name (CNAME)", "ttl": "TTL in seconds (default 300)",
            "timeout": TIMEOUT_HELP})
def add(c, org, name, ip, ttl=None, inventory=None, json_=False, timeout=None, check=False, diff=False,
        detailed_exitcode=False):
    """Create NAME -> IP in ORG's zone; refuses if NAME already has another address (no race)."""
    _check_args(timeout, ttl, ip)
    _change("dns.add", inventory, org, timeout, "add", name, ip, ttl=ttl, check=check, diff=diff,
            detailed_exitcode=detailed_exitcode, json_=json_)


@task(numbers=TTL_NUMBERS, help={"org": ORG_HELP, "name": "record name", "ip": "the new address (or host name for a CNAME)",
            "ttl": "new TTL (default: keep)", "old": "only if NAME currently has exactly this value",
            "timeout": TIMEOUT_HELP})
def update(c, org, name, ip, ttl=None, old=None, inventory=None, json_=False, timeout=None, check=False, diff=False,
           detailed_exitcode=False):
    """Change NAME's address: compare-and-set against the value read just before (or --old)."""
    _check_args(timeout, ttl, ip, old)
    _change("dns.update", inventory, org, timeout, "update", name, ip, ttl=ttl, old=old, check=check, diff=diff,
            detailed_exitcode=detailed_exitcode, json_=json_)


@task(klass=_DeleteTask, positional=["org", "name", "ip"], numbers=TIMEOUT_NUMBER,
      help={"org": ORG_HELP, "name": "record name", "ip": "delete only this address (optional)",
            "timeout": TIMEOUT_HELP})
def delete(c, org, name, ip=None, inventory=None, json_=False, timeout=None, check=False, diff=False,
           detailed_exitcode=False):
    """Delete NAME's A/AAAA/CNAME records, or only IP; guarded by the values read just before."""
    _check_args(timeout, None, ip or None)
    _change("dns.delete", inventory, org, timeout, "delete", name, ip or None, check=check, diff=diff,
            detailed_exitcode=detailed_exitcode, json_=json_)


@task(name="list", numbers=TIMEOUT_NUMBER, help={"org": ORG_HELP,
                         "all": "also show SOA and NS records", "timeout": TIMEOUT_HELP})
def list_(c, org, inventory=None, json_=False, all_=False, timeout=None):
    """Every record of ORG's zone (AXFR signed with the org's key)."""
    from opskit.dns import names as nm
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)
        snap = _client(inv, org, timeout).axfr()
    report = Report(task="dns.list", inventory=inv.source)
    managed = snap.managed()
    records = []
    for key, rr in sorted(snap.rrsets.items()):
        if key not in managed and not all_:
            continue
        full = snap.zone if rr.name == "@" else nm.fqdn(rr.name, snap.zone)
        for v in rr.values:
            records.append({"name": full, "type": rr.rdtype, "ttl": rr.ttl, "value": v})
            report.add(Finding("dns.list", Severity.OK, f"{rr.rdtype} {v} (ttl {rr.ttl})", host=org, node=full,
                               data=records[-1]))
    report.meta.update({"org": org, "zone": snap.zone, "serial": snap.serial, "records": len(records)})
    if not json_:
        print(f"zone {snap.zone}: SOA serial {snap.serial}, {len(records)} record(s)")
    runner.finish(report, json_)


@task(numbers=TIMEOUT_NUMBER, help={"org": ORG_HELP, "name": "record name",
            "timeout": TIMEOUT_HELP})
def show(c, org, name, inventory=None, json_=False, timeout=None):
    """NAME's A, AAAA and CNAME records as the org's server answers them (exit 1 if none)."""
    from opskit.dns import names as nm
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)
        client = _client(inv, org, timeout)
        rel = nm.record_name(name, client.zone)
        found = client.lookup(rel)
        serial, _ = client.soa()
    full = nm.fqdn(rel, client.zone)
    report = Report(task="dns.show", inventory=inv.source)
    for rdtype, rr in sorted(found.items()):
        report.add(Finding("dns.show", Severity.OK, f"{rdtype} {', '.join(rr.values)} (ttl {rr.ttl})", host=org,
                           node=full, data={"name": full, "type": rdtype, "ttl": rr.ttl, "values": list(rr.values)}))
    if not found:
        report.add(Finding("dns.show", Severity.WARNING, f"{full} has no A, AAAA or CNAME record", host=org, node=full,
                           data={"name": full}))
    report.meta.update({"org": org, "zone": client.zone, "serial": serial})
    runner.finish(report, json_)


def _sync_zone(report: Any, client: Any, desired: Any, check: str, *, dry: bool, diff: bool, force: bool,
               max_delete_pct: float, max_change_pct: float, prune: bool) -> None:
    """One org's zone on the change contract (opskit.dns.sync.ZoneSync): its record changes in plan order, then one
    line saying what happened to the zone (in sync / would apply / applied in N UPDATEs, verified by AXFR)."""
    from opskit.change import Outcome, execute
    from opskit.dns.errors import DnsError
    from opskit.dns.sync import ZoneSync
    from opskit.output.report import Finding, Severity

    op = ZoneSync(client, desired, prune=prune, force=force, max_delete_pct=max_delete_pct,
                  max_change_pct=max_change_pct)
    try:
        outcome = execute(op, check=dry)
        failed = None
    except DnsError as exc:
        outcome, failed = None, exc
    zp = op.zone_plan
    if zp is None:   # the AXFR itself failed
        report.add(Finding(check, Severity.CRITICAL, str(failed), host=client.org))
        return
    for w in zp.warnings:
        report.add(Finding(check, Severity.WARNING, w, host=zp.org))
    entry = report.meta.setdefault("zones", {})
    entry[zp.org] = zp.to_dict()
    shown = outcome
    if shown is None and op.last_plan is not None:   # refused or failed while applying: still show the plan
        shown = Outcome(op.operation, op.last_plan, applied=False, check=False)
    if shown is not None:
        for f in shown.findings(diff=diff):
            if f.data.get("action"):
                f.check = check
                report.add(f)
    if failed is not None:
        report.add(Finding(check, Severity.CRITICAL, str(failed), host=zp.org, data={"serial": zp.serial}))
        return
    assert outcome is not None
    if zp.empty:
        report.add(Finding(check, Severity.OK, f"zone {zp.zone} is in sync: nothing to do (serial {zp.serial})",
                           host=zp.org, data={"serial": zp.serial, "changes": 0}))
    elif dry:
        refused = op.refusal()
        report.add(Finding(check, Severity.WARNING if refused else Severity.OK,
                           f"plan for {zp.zone}: {zp.summary()} (not applied: --check)"
                           + (f"; a run would be refused: {refused}" if refused else ""),
                           host=zp.org, data={"serial": zp.serial, "changes": zp.size}))
    else:
        res = op.result
        assert res is not None
        parts = "one UPDATE" if res.messages == 1 else f"{res.messages} UPDATE messages"
        msg = (f"applied {zp.summary().split(' (')[0]} to {zp.zone} in {parts}: SOA serial {res.old_serial} -> "
               f"{res.serial}, verified by AXFR")
        sev = Severity.OK
        if res.note:
            msg += f" ({res.note})"
            sev = Severity.WARNING
        report.add(Finding(check, sev, msg, host=zp.org, data={"serial": res.serial, "changes": zp.size,
                                                                "messages": res.messages}, changed=True))
        entry[zp.org]["serial_after"] = res.serial


@task(numbers={**TIMEOUT_NUMBER, "max_delete_pct": runner.seconds(allow_zero=True, maximum=100),
               "max_change_pct": runner.seconds(allow_zero=True, maximum=100)}, renamed={"plan": "check"},
      help={"org": "only this org (default: every org with dns: settings)", "plan": "print the plan, change nothing",
            "force": "apply even if the plan deletes/changes more than the safety thresholds",
            "max_delete_pct": "refuse plans deleting more than this share of a zone (default 30)",
            "max_change_pct": "refuse plans changing more than this share of a zone (default 30)",
            "timeout": TIMEOUT_HELP})
def sync(c, org=None, plan=False, force=False, max_delete_pct=None, max_change_pct=None, inventory=None,
         json_=False, timeout=None, diff=False, detailed_exitcode=False):
    """Make every org zone hold the inventory's names: plan (AXFR diff), then one guarded UPDATE per zone."""
    from opskit.dns.errors import DnsError
    from opskit.dns.plan import MAX_CHANGE_PCT, MAX_DELETE_PCT, desired_from_inventory
    from opskit.dns.zone import dns_orgs
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)
        orgs = dns_orgs(inv, org)
    report = Report(task="dns.sync", inventory=inv.source)
    report.meta["check"] = bool(plan)
    for name in orgs:
        try:
            client = _client(inv, name, timeout)
            desired = desired_from_inventory(inv, name)
        except DnsError as exc:
            report.add(Finding("dns.sync", Severity.CRITICAL, str(exc), host=name))
            continue
        _sync_zone(report, client, desired, "dns.sync", dry=plan, diff=diff, force=force,
                   max_delete_pct=float(max_delete_pct) if max_delete_pct is not None else MAX_DELETE_PCT,
                   max_change_pct=float(max_change_pct) if max_change_pct is not None else MAX_CHANGE_PCT, prune=True)
    report.meta["pending"] = sum(len(z["adds"]) + len(z["changes"]) + len(z["deletes"])
                                 for z in report.meta.get("zones", {}).values()) if plan else 0
    runner.finish(report, json_, detailed_exitcode=detailed_exitcode)


def _harvest(inv: Any, selector: str | None, source: str) -> Any:
    from opskit.dns.extra_hosts import harvest
    from opskit.inventory import select as sel

    chosen = sel(inv, selector)
    sources = [s.strip() for s in (source or "compose").split(",") if s.strip()]
    if sources == ["all"]:
        sources = ["compose", "containers"]
    return harvest(inv, chosen.hosts, chosen.nodes, sources)


def _harvest_findings(report: Any, got: Any, check: str) -> None:
    from opskit.output.report import Finding, Severity

    report.hosts.extend(got.outcomes)
    for host, msg in got.warnings:
        report.add(Finding(check, Severity.WARNING, msg, host=host))
    for host, msg in got.failures:
        report.add(Finding(check, Severity.CRITICAL, f"not read: {msg}", host=host))


SOURCE_HELP = "where to read extra_hosts: compose (default), containers (docker inspect), or all"


@task(klass=_SelectTask, positional=["selector"], numbers=TIMEOUT_NUMBER, renamed={"plan": "check"},
      help={"selector": runner.SELECT_HELP + " (default: all)", "plan": "print the plan, change nothing",
            "source": SOURCE_HELP,
            "timeout": TIMEOUT_HELP})
def import_extra_hosts(c, selector=None, plan=False, source="compose", inventory=None, json_=False, timeout=None,
                       diff=False, detailed_exitcode=False):
    """Turn the fleet's extra_hosts into zone records (adds and changes only; one guarded UPDATE per zone)."""
    from opskit.dns.errors import DnsError
    from opskit.dns.extra_hosts import desired_from_extra_hosts, outside_zones, zone_of
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)
        got = _harvest(inv, selector or None, source)
    report = Report(task="dns.import-extra-hosts", inventory=inv.source)
    _harvest_findings(report, got, "dns.import")
    for e in outside_zones(inv, got.entries):
        report.add(Finding("dns.import", Severity.OK, f"{e.name} -> {e.address} ({e.where()}) is outside every org zone: "
                           "skipped", host=e.host))
    orgs = []
    for e in got.entries:
        hit = zone_of(inv, e.name)
        if hit and hit[0] not in orgs:
            orgs.append(hit[0])
    report.meta["entries"] = len(got.entries)
    if not got.entries:
        report.add(Finding("dns.import", Severity.OK, "no extra_hosts entries found on the selected hosts"))
    report.meta["check"] = bool(plan)
    for name in orgs:
        try:
            client = _client(inv, name, timeout)
            desired = desired_from_extra_hosts(inv, name, got.entries)
        except DnsError as exc:
            report.add(Finding("dns.import", Severity.CRITICAL, str(exc), host=name))
            continue
        _sync_zone(report, client, desired, "dns.import", dry=plan, diff=diff, force=False,
                   max_delete_pct=100.0, max_change_pct=100.0, prune=False)
    report.meta["pending"] = sum(len(z["adds"]) + len(z["changes"]) + len(z["deletes"])
                                 for z in report.meta.get("zones", {}).values()) if plan else 0
    runner.finish(report, json_, detailed_exitcode=detailed_exitcode)


@task(klass=_SelectTask, positional=["selector"], numbers=TIMEOUT_NUMBER,
      help={"selector": runner.SELECT_HELP + " (default: all)", "source": SOURCE_HELP,
            "timeout": TIMEOUT_HELP})
def check(c, selector=None, source="compose", inventory=None, json_=False, timeout=None):
    """Report drift between extra_hosts, the org zones' answers and the inventory (exit 1 on drift)."""
    from opskit.dns.check import check_drift
    from opskit.dns.zone import dns_orgs
    from opskit.output.report import Report

    with runner.task_errors():
        inv = runner.inventory(inventory)
        got = _harvest(inv, selector or None, source)
        orgs = dns_orgs(inv)
    report = Report(task="dns.check", inventory=inv.source)
    _harvest_findings(report, got, "dns.check")
    report.extend(check_drift(inv, orgs, got.entries, lambda o: _client(inv, o, timeout)))
    runner.finish(report, json_)


@task(numbers={"port": runner.count(1, 65535)}, help={"org": ORG_HELP, "out": "directory to write (default ./dns-server-ORG)",
            "port": "port to listen on (default: the inventory's dns.port)",
            "listen": "address to listen on (default: the inventory's dns.server if it is an IP)"})
def server_config(c, org, out=None, port=None, listen=None, inventory=None, json_=False):
    """Write a ready-to-run BIND config for ORG's own DNS server: named.conf, zone file (from the inventory), key."""
    import ipaddress
    import os

    from opskit.dns.errors import DnsInputError
    from opskit.dns.keys import generate_key, load_key, resolve_key_path
    from opskit.dns.plan import desired_from_inventory
    from opskit.dns.server_config import ZoneConfig, check_config, write_server_config
    from opskit.dns.zone import org_dns
    from opskit.output.report import Finding, Report, Severity

    with runner.task_errors():
        inv = runner.inventory(inventory)
        settings = org_dns(inv, org)
        addr = listen
        if addr is None:
            try:
                addr = str(ipaddress.ip_address(settings.server))
            except ValueError:
                addr = "0.0.0.0"
        base = os.path.dirname(inv.source) if inv.source else None
        key_path = resolve_key_path(settings.tsig_key_file, base)
        generated = not key_path.exists()
        key = generate_key(settings.tsig_key_name, settings.tsig_algorithm) if generated else \
            load_key(key_path, settings.tsig_key_name, settings.tsig_algorithm)
        desired = desired_from_inventory(inv, org)
        records = [(rr.name, rr.rdtype, rr.ttl, v) for rr in desired.records.values() for v in rr.values]
        target = out or f"dns-server-{org}"
        try:
            p = int(port) if port is not None else settings.port
        except ValueError:
            raise DnsInputError(f"port {port!r} is not a number") from None
        files = write_server_config(target, [ZoneConfig(settings.zone, key, records)], listen=addr, port=p,
                                    server_id=f"opskit-{org}")
        check_config(files)
    report = Report(task="dns.server-config", inventory=inv.source)
    report.add(Finding("dns.server-config", Severity.OK,
                       f"wrote {files.named_conf}, {files.zone_files[settings.zone]} ({len(records)} records) and "
                       f"{files.key_files[key.name]}; run: named -g -c {files.named_conf}", host=org,
                       data={"named_conf": str(files.named_conf), "zone_file": str(files.zone_files[settings.zone]),
                             "key_file": str(files.key_files[key.name]), "listen": addr, "port": p,
                             "key_generated": generated}))
    if generated:
        report.add(Finding("dns.server-config", Severity.WARNING,
                           f"{key_path} did not exist: a new key was generated into {files.key_files[key.name]}; "
                           f"copy it to {key_path} (mode 0600) so opskit can sign updates", host=org))
    for w in desired.warnings:
        report.add(Finding("dns.server-config", Severity.WARNING, w, host=org))
    runner.finish(report, json_)
