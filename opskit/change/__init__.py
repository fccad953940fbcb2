"""One contract for every change: read the real state, plan ordered changes, apply them, verify.

An :class:`Operation` has two methods. ``plan()`` does real reads and returns a :class:`Plan`: the ordered
:class:`Change` list that would bring the target to the wanted state, each with its before and after. ``apply(plan)``
carries out exactly those changes, in order, and refuses when the target moved since the plan was read.
:func:`execute` is the only caller of both, so ``--check`` (plan only) and a real run (plan, apply) go through the
same code and cannot disagree; after applying it plans again, and a second plan that still holds changes is an
error (the change did not take, or something fights it): the verification that makes a second run a no-op.

    outcome = execute(CrontabBlock(...), check=args.check)
    report.extend(outcome.findings(diff=args.diff))

This is the shape pyinfra (operations planned before they run) and octoDNS (plan, then apply with safety
thresholds) follow; :mod:`opskit.change.plan` holds the data, this module the runner.
"""

from __future__ import annotations

from opskit.change.plan import (
    ApplyFailed,
    Change,
    ChangeNotConverged,
    Operation,
    Outcome,
    Plan,
    execute,
    text_diff,
)

__all__ = ["ApplyFailed", "Change", "ChangeNotConverged", "Operation", "Outcome", "Plan", "execute", "text_diff"]
