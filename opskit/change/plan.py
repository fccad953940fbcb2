"""Changes, plans, operations and the one runner that plans and applies them (see :mod:`opskit.change`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opskit.change.progress import ProgressFn
from opskit.errors import OpskitError
from opskit.output.report import Finding, Severity


class ChangeNotConverged(OpskitError):
    """The operation applied its plan, yet reading the target again still shows changes to make."""

    exit_code = 2


class ApplyFailed(OpskitError):
    """The operation started changing the target and did not get there (a deployment that rolled back, a cluster
    that went FAILED, a deadline that passed): :func:`execute` reports it as a CRITICAL result of the run, with
    ``data`` (what the operation knows of where the target was left), instead of a bare error line."""

    exit_code = 2

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.data = {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Change:
    """One change to one thing, with what it is now (``before``) and what it will be (``after``).

    ``before``/``after`` are text as an operator would read it (a crontab block, a record's addresses, a
    container's settings); ``None`` means "absent", so ``before=None`` is a creation and ``after=None`` a removal.
    """

    action: str                 #: create | update | delete | or a verb of the operation (recreate, join, ...)
    subject: str                #: what changes, e.g. "crontab block for inventories/lab.yaml"
    before: str | None = None
    after: str | None = None
    host: str | None = None
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: the ordered steps that make this change, when it takes more than one (copy a task definition, register
    #: it, update the service, watch the rollout): shown under the change, one per line
    steps: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.action} {self.subject}"

    def diff(self) -> str:
        """A unified diff of before -> after (empty when neither is given)."""
        return text_diff(self.before, self.after)


def text_diff(before: str | None, after: str | None) -> str:
    """A unified diff of two texts as an operator reads them; ``None`` is "absent". Empty when both are ``None``.

    The one rendering of ``--diff``: :class:`Change` uses it, and so does every task whose findings carry
    ``before``/``after`` in their data (:func:`opskit.tasks.runner.finish`).
    """
    if before is None and after is None:
        return ""
    lines = difflib.unified_diff(str(before or "").splitlines(), str(after or "").splitlines(),
                                 "before", "after", lineterm="", n=2)
    return "\n".join(lines)


@dataclass
class Plan:
    """The ordered changes an operation would make; empty means the target is already as wanted."""

    operation: str
    changes: list[Change] = field(default_factory=list)
    #: what the reads found that an operator should know, though nothing changes for it
    notes: list[str] = field(default_factory=list)
    #: what the reads found wrong that does not stop the change (reported as WARNING)
    warnings: list[str] = field(default_factory=list)
    #: the state the plan was computed from, for ``apply`` to check that nothing moved in between
    state: Any = None

    @property
    def empty(self) -> bool:
        return not self.changes


class Operation(Protocol):
    """Something that can be brought to a wanted state. Implementations keep their inputs validated."""

    operation: str   #: its kind, e.g. "cron", "dns": the prefix of its findings' check names

    def plan(self) -> Plan:
        """Read the target for real and return the changes that would bring it to the wanted state."""
        ...

    def apply(self, plan: Plan) -> None:
        """Make ``plan``'s changes, in order; raise (an :class:`OpskitError`) if the target moved since the plan."""
        ...


@dataclass
class Outcome:
    """What :func:`execute` did: the plan, whether it was applied, and whether this was a check."""

    operation: str
    plan: Plan
    applied: bool
    check: bool
    #: the apply started and did not get there (see :class:`ApplyFailed`)
    failure: ApplyFailed | None = None

    @property
    def changed(self) -> bool:
        """True when the run changed what it planned (never in check mode, nor when the apply failed)."""
        return self.applied and not self.plan.empty and self.failure is None

    @property
    def pending(self) -> bool:
        """True when check mode found changes to make."""
        return self.check and not self.plan.empty

    def findings(self, *, diff: bool = False) -> list[Finding]:
        """One finding per change, in plan order (or one "no changes" finding); ``diff`` adds before/after."""
        verb = "would " if self.check else ""
        out = []
        for c in self.plan.changes:
            text = f"{verb}{c.describe()}" + "".join(f"\n  - {step}" for step in c.steps)
            data: dict[str, Any] = {"action": c.action, "subject": c.subject, "pending": self.pending, **c.data}
            if c.steps:
                data["steps"] = list(c.steps)
            if diff:
                data.update(before=c.before, after=c.after)
                body = c.diff()
                if body:
                    text += "\n" + body
            out.append(Finding(f"{self.operation}.{c.action}", Severity.OK, text, host=c.host, node=c.node, data=data,
                               changed=self.changed))
        if self.plan.empty and not self.plan.notes:
            out.append(Finding(self.operation, Severity.OK, "no changes: already as wanted", data={"pending": False}))
        out += [Finding(self.operation, Severity.WARNING, w, data={"pending": False}) for w in self.plan.warnings]
        out += [Finding(self.operation, Severity.OK, note, data={"pending": False}) for note in self.plan.notes]
        if self.failure is not None:
            out.append(Finding(f"{self.operation}.failed", Severity.CRITICAL, str(self.failure),
                               data={"pending": False, **self.failure.data}))
        return out


def execute(op: Operation, *, check: bool = False, progress: ProgressFn | None = None,
            confirm: Callable[[Plan], bool] | None = None) -> Outcome:
    """Plan ``op``; unless ``check`` (or nothing to do), apply the plan and verify it.

    An apply that raises :class:`ApplyFailed` (it started and did not get there) ends in an outcome that reports
    it as CRITICAL; any other error propagates (nothing was changed, or the operation says what it left).
    ``confirm(plan)`` (an operator's yes, for destructive changes) is asked after the plan is shown and before
    anything changes; a no ends the run as a check would, with a note. The verification is the operation's own
    ``verify(plan)`` when it has one (a log that the daemon keeps writing is never "as wanted" on a second read),
    else a second plan that must be empty: otherwise :class:`ChangeNotConverged` names what is still different.
    """
    plan = op.plan()
    if check or plan.empty:
        return Outcome(op.operation, plan, applied=False, check=check)
    if confirm is not None and not confirm(plan):
        plan.notes.append("not confirmed: nothing done")
        return Outcome(op.operation, plan, applied=False, check=True)
    if progress:
        for c in plan.changes:
            progress(c.describe())
    try:
        op.apply(plan)
    except ApplyFailed as exc:
        return Outcome(op.operation, plan, applied=True, check=False, failure=exc)
    verify = getattr(op, "verify", None)
    if verify is not None:
        verify(plan)
        return Outcome(op.operation, plan, applied=True, check=False)
    again = op.plan()
    if not again.empty:
        left = "; ".join(c.describe() for c in again.changes)
        raise ChangeNotConverged(f"{op.operation}: applied, but reading it again still shows changes to make: {left}")
    return Outcome(op.operation, plan, applied=True, check=False)
