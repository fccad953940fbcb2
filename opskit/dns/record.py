"""dns add/update/delete as change operations (:mod:`opskit.change`): ``--check`` reads the zone for real and shows
the UPDATE it would send; a run sends exactly that guarded UPDATE, verifies it by query, and plans again.

The planning and the sending are :class:`~opskit.dns.zone.ZoneClient`'s ``plan_*`` and ``apply_record``, which
``ZoneClient.add/update/delete`` use too: one code path for the library, the check and the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from opskit.change import Change, Plan
from opskit.dns.zone import ChangeResult, RecordPlan, ZoneClient, _fmt

Action = Literal["add", "update", "delete"]
_VERB = {"added": "create", "updated": "update", "deleted": "delete"}


@dataclass
class RecordChange:
    """Bring one name of one org's zone to a wanted state: add, update (compare-and-set) or delete a value."""

    client: ZoneClient
    action: Action
    name: str
    value: str | None = None
    ttl: int | str | None = None
    expect_old: str | None = None
    #: what the last plan found (for a run with nothing to change) and what the apply did (serial, verification)
    planned: ChangeResult | None = None
    result: ChangeResult | None = None

    operation = "dns"

    def _record_plan(self) -> RecordPlan:
        c = self.client
        if self.action == "add":
            assert self.value is not None
            return c.plan_add(self.name, self.value, self.ttl)
        if self.action == "update":
            assert self.value is not None
            return c.plan_update(self.name, self.value, self.ttl, self.expect_old)
        return c.plan_delete(self.name, self.value)

    def plan(self) -> Plan:
        rp = self._record_plan()
        res = rp.result
        plan = Plan(self.operation, state=rp)
        self.planned = res
        if rp.update is None:
            plan.notes.append(res.message())
            return plan
        plan.changes.append(Change(
            _VERB[res.action], f"{res.name} {res.rdtype} in zone {res.zone} ({res.org})",
            before=_fmt(rp.before) if rp.before else None, after=_fmt(rp.expect) if rp.expect else None,
            host=res.org, node=res.name, data={"org": res.org, "zone": res.zone, "type": res.rdtype,
                                                "old": list(res.old), "new": list(res.new), "ttl": res.ttl}))
        return plan

    def apply(self, plan: Plan) -> None:
        self.result = self.client.apply_record(plan.state)

