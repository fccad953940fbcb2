"""The change runner's contract on a tiny in-memory operation: check plans only, a run applies then verifies, an
operation whose change does not take is reported, findings keep plan order and carry before/after with --diff.

The operation here is a dict standing in for a target on purpose: this tests the runner, not a capability (each
capability's operation is tested against the real thing beside it, e.g. tests/cron).
"""

from __future__ import annotations

import pytest

from opskit.change import Change, ChangeNotConverged, Plan, execute


class Settings:
    operation = "settings"

    def __init__(self, have: dict[str, str], want: dict[str, str], sticky: bool = False) -> None:
        self.have, self.want, self.sticky = have, want, sticky
        self.applied = 0

    def plan(self) -> Plan:
        plan = Plan(self.operation, state=dict(self.have))
        for k in sorted(set(self.have) | set(self.want)):
            before, after = self.have.get(k), self.want.get(k)
            if before != after:
                action = "create" if before is None else "delete" if after is None else "update"
                plan.changes.append(Change(action, k, before=before, after=after, host="h1"))
        return plan

    def apply(self, plan: Plan) -> None:
        self.applied += 1
        if self.sticky:
            return
        for c in plan.changes:
            if c.after is None:
                del self.have[c.subject]
            else:
                self.have[c.subject] = c.after


def test_check_reads_and_plans_but_changes_nothing():
    op = Settings({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"})
    out = execute(op, check=True)
    assert op.applied == 0 and op.have == {"a": "1", "b": "2"}
    assert out.pending and not out.changed
    assert [f.message for f in out.findings()] == ["would update b", "would create c"]
    assert all(f.data["pending"] and not f.changed for f in out.findings())


def test_run_applies_in_plan_order_then_a_second_run_is_a_no_op():
    op = Settings({"b": "2", "z": "0"}, {"b": "3", "c": "4"})
    first = execute(op)
    assert first.changed and op.have == {"b": "3", "c": "4"}
    assert all(f.changed for f in first.findings())
    assert [f.check for f in first.findings()] == ["settings.update", "settings.create", "settings.delete"]
    second = execute(op)
    assert not second.changed and op.applied == 1
    assert [f.message for f in second.findings()] == ["no changes: already as wanted"]
    # and check after a real run agrees: nothing pending
    assert not execute(op, check=True).pending


def test_a_change_that_does_not_take_is_an_error_not_a_success():
    op = Settings({"b": "2"}, {"b": "3"}, sticky=True)
    with pytest.raises(ChangeNotConverged, match="still shows changes to make: update b"):
        execute(op)


def test_diff_shows_before_and_after():
    op = Settings({"b": "line1\nold"}, {"b": "line1\nnew"})
    f = execute(op, check=True).findings(diff=True)[0]
    assert f.data["before"] == "line1\nold" and f.data["after"] == "line1\nnew"
    assert "-old" in f.message and "+new" in f.message


def test_poller_backs_off_up_to_its_cap_and_looks_once_more_at_the_deadline():
    """opskit.wait.Poller, the one waiting helper: intervals 0.2, 0.4, 0.8, 1.0, 1.0 ... (fake clock, no sleep)."""
    from opskit.wait import Poller
    from tests.fakes import FakeClock

    clock = FakeClock()
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(round(s, 3))
        clock.sleep(s)

    with pytest.raises(TimeoutError, match="waited 3.0"):
        Poller[bool](3.0, 0.2, backoff=2.0, max_interval=1.0, clock=clock, sleep=sleep).run(
            lambda: None, lambda w: TimeoutError(f"waited {w:.1f}"))
    assert waits == [0.2, 0.4, 0.8, 1.0, 0.6]
    looks = iter([None, None, True])
    p = Poller[bool](3.0, 0.2, clock=clock, sleep=sleep)
    assert p.run(lambda: next(looks), lambda w: TimeoutError()) is True and p.polls == 3
