"""A zone brought to what it should hold, as a change operation (:mod:`opskit.change`): ``dns.sync`` (the
inventory's names, pruning the rest) and ``dns.import-extra-hosts`` (extra_hosts entries, adds and changes only).

The plan is the AXFR diff (:func:`opskit.dns.plan.compute_plan`), one change per record set; applying it is one
UPDATE guarded by the SOA the plan was read at, refused octoDNS-style when it would delete or change too large a
share of the zone; the verification is a second AXFR whose diff must be empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from opskit.change import Change, Plan
from opskit.dns import names as nm
from opskit.dns.errors import SyncRefused
from opskit.dns.plan import (
    MAX_CHANGE_PCT,
    MAX_DELETE_PCT,
    ApplyResult,
    Desired,
    ZonePlan,
    apply_plan,
    compute_plan,
    verify_applied,
)
from opskit.dns.zone import Rrset, ZoneClient


@dataclass
class ZoneSync:
    """Make ``client``'s zone hold ``desired`` (and nothing else of what opskit manages when ``prune``)."""

    client: ZoneClient
    desired: Desired
    prune: bool = True
    force: bool = False
    max_delete_pct: float = MAX_DELETE_PCT
    max_change_pct: float = MAX_CHANGE_PCT
    #: the zone plan of the last ``plan()`` and the answer of ``apply``, for the report
    zone_plan: ZonePlan | None = None
    last_plan: Plan | None = None
    result: ApplyResult | None = None

    operation = "dns.sync"

    def plan(self) -> Plan:
        zp = compute_plan(self.client.axfr(), self.desired, prune=self.prune)
        self.zone_plan = zp
        plan = Plan(self.operation, state=zp)
        org, zone = zp.org, zp.zone

        def text(r: Rrset) -> str:
            return f"{r.rdtype} {', '.join(r.values)} (ttl {r.ttl})"

        for r in zp.adds:
            plan.changes.append(Change("create", f"{nm.fqdn(r.name, zone)} {r.rdtype}", after=text(r), host=org))
        for a, b in zp.changes:
            plan.changes.append(Change("update", f"{nm.fqdn(a.name, zone)} {a.rdtype}", before=text(a), after=text(b),
                                       host=org))
        for r in zp.deletes:
            plan.changes.append(Change("delete", f"{nm.fqdn(r.name, zone)} {r.rdtype}", before=text(r), host=org))
        self.last_plan = plan
        return plan

    def refusal(self) -> str | None:
        """Why applying the last plan would be refused (the safety thresholds), or None."""
        if self.zone_plan is None:
            return None
        try:
            self.zone_plan.check_safety(force=self.force, max_delete_pct=self.max_delete_pct,
                                        max_change_pct=self.max_change_pct)
        except SyncRefused as exc:
            return str(exc)
        return None

    def apply(self, plan: Plan) -> None:
        zp: ZonePlan = plan.state
        zp.check_safety(force=self.force, max_delete_pct=self.max_delete_pct, max_change_pct=self.max_change_pct)
        self.result = apply_plan(self.client, zp)

    def verify(self, plan: Plan) -> None:
        verify_applied(self.client, self.desired, prune=self.prune)
