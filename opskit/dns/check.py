"""Drift between three views of a name: the fleet's extra_hosts, the org's DNS zone and the inventory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opskit.dns import names as nm
from opskit.dns.errors import DnsError
from opskit.dns.extra_hosts import ExtraHost, desired_from_extra_hosts, outside_zones
from opskit.dns.plan import desired_from_inventory
from opskit.dns.zone import ZoneClient
from opskit.output.report import Finding, Severity

CHECK = "dns.check"


def check_drift(inv: Any, orgs: list[str], entries: list[ExtraHost],
                client_for: Callable[[str], ZoneClient]) -> list[Finding]:
    """One finding per disagreement (WARNING), one OK summary per zone, CRITICAL if a zone cannot be read."""
    findings: list[Finding] = []
    for e in outside_zones(inv, entries):
        findings.append(Finding(CHECK, Severity.OK, f"{e.name} -> {e.address} ({e.where()}) is outside every org "
                                "zone: not checked", host=e.host, data={"name": e.name, "address": e.address}))
    for org in orgs:
        try:
            client = client_for(org)
            snap = client.axfr()
        except DnsError as exc:
            findings.append(Finding(CHECK, Severity.CRITICAL, f"zone cannot be read: {exc}", host=org))
            continue
        zone = snap.zone
        have = {k: v.values for k, v in snap.managed().items()}
        by_name: dict[str, dict[str, tuple[str, ...]]] = {}
        for (name, rdtype), values in have.items():
            by_name.setdefault(name, {})[rdtype] = values
        inventory_want = desired_from_inventory(inv, org)
        extra_want = desired_from_extra_hosts(inv, org, entries)
        problems = 0
        for w in extra_want.warnings:
            problems += 1
            findings.append(Finding(CHECK, Severity.WARNING, f"extra_hosts disagree: {w}", host=org))
        agree = 0
        for source, want in (("extra_hosts", extra_want), ("inventory", inventory_want)):
            for key, rr in sorted(want.records.items()):
                full = nm.fqdn(key[0], zone)
                got = have.get(key)
                where = want.sources.get(key, source)
                data = {"name": full, "type": key[1], "want": list(rr.values), "dns": list(got or ()),
                        "source": source, "where": where}
                if got is None:
                    other = by_name.get(key[0])
                    said = "; ".join(f"{t} {', '.join(v)}" for t, v in sorted(other.items())) if other else "nothing"
                    problems += 1
                    findings.append(Finding(CHECK, Severity.WARNING,
                                            f"drift: {source} ({where}) says {full} {key[1]} {', '.join(rr.values)}, "
                                            f"DNS has {said}", host=org, data=data))
                elif got != rr.values:
                    problems += 1
                    findings.append(Finding(CHECK, Severity.WARNING,
                                            f"drift: {source} ({where}) says {full} {key[1]} {', '.join(rr.values)}, "
                                            f"DNS answers {', '.join(got)}", host=org, data=data))
                else:
                    agree += 1
        for key, rr in sorted(extra_want.records.items()):
            inv_rr = inventory_want.records.get(key)
            if inv_rr is not None and inv_rr.values != rr.values:
                problems += 1
                findings.append(Finding(CHECK, Severity.WARNING,
                                        f"drift: extra_hosts ({extra_want.sources[key]}) says {nm.fqdn(key[0], zone)} "
                                        f"{', '.join(rr.values)}, the inventory says {', '.join(inv_rr.values)}",
                                        host=org))
        findings.append(Finding(CHECK, Severity.OK if not problems else Severity.WARNING,
                                f"zone {zone} (serial {snap.serial}): {agree} record(s) agree, {problems} problem(s)",
                                host=org, data={"zone": zone, "serial": snap.serial, "agree": agree,
                                                "problems": problems}))
    return findings
