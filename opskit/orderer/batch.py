"""BatchTimeout and BatchSize of one channel, on the change contract (:mod:`opskit.change`).

``orderer.set-batch`` is this operation: :meth:`BatchUpdate.plan` fetches the channel config from the orderers
(a real read), computes the config update and returns it as one change with the batch parameters before and after;
:meth:`BatchUpdate.apply` has every orderer-org admin sign that same update, submits it and waits until every
orderer of the channel shows the new values. ``--check`` is the plan alone, so it cannot disagree with the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opskit.change import Change, Plan
from opskit.errors import OpskitError

if TYPE_CHECKING:
    from opskit.orderer.online import ChannelAdmin


@dataclass(frozen=True)
class BatchSettings:
    """The batch parameters asked for; ``None`` keeps the channel's value. Validated when made."""

    timeout: str | None = None
    max_message_count: int | None = None
    absolute_max_bytes: int | None = None
    preferred_max_bytes: int | None = None

    def __post_init__(self) -> None:
        from opskit.orderer.config import duration_ns

        if self.timeout is None and not self.sizes():
            raise OpskitError("nothing to change: give --timeout and/or --max-message-count, --absolute-max-bytes, "
                              "--preferred-max-bytes")
        if self.timeout is not None and duration_ns(self.timeout) <= 0:
            raise OpskitError(f"--timeout must be positive, got {self.timeout!r}")

    @classmethod
    def from_cli(cls, timeout: str | None = None, **sizes: Any) -> "BatchSettings":
        """From command-line texts: each size must be a whole number (checked before anything is contacted)."""
        parsed: dict[str, int] = {}
        for key, value in sizes.items():
            if value is None:
                continue
            try:
                parsed[key] = int(value)
            except (TypeError, ValueError):
                raise OpskitError(f"--{key.replace('_', '-')} must be a whole number, got {value!r}") from None
        return cls(timeout=timeout, **parsed)

    def sizes(self) -> dict[str, int]:
        return {k: v for k, v in (("max_message_count", self.max_message_count),
                                  ("absolute_max_bytes", self.absolute_max_bytes),
                                  ("preferred_max_bytes", self.preferred_max_bytes)) if v is not None}

    def applied_to(self, config: Any) -> Any:
        """A copy of ``config`` (a ``common.Config``) with these values set."""
        from opskit.orderer.config import clone, set_batch_size, set_batch_timeout

        new = clone(config)
        if self.timeout is not None:
            set_batch_timeout(new, self.timeout)
        if self.sizes():
            set_batch_size(new, **self.sizes())
        return new

    def reached_by(self, config: Any) -> bool:
        """True when ``config`` shows every value asked for (how a submitted update is seen to have landed)."""
        from opskit.orderer.config import get_batch_size, get_batch_timeout

        wanted = self.applied_to(config)
        return get_batch_timeout(config) == get_batch_timeout(wanted) and \
            get_batch_size(config) == get_batch_size(wanted)


def batch_text(config: Any) -> str:
    """BatchTimeout and BatchSize as an operator reads them (the before/after of ``--diff``)."""
    from opskit.orderer.config import get_batch_size, get_batch_timeout

    size = get_batch_size(config)
    return "\n".join([f"BatchTimeout: {get_batch_timeout(config)}",
                      f"BatchSize.max_message_count: {size.max_message_count}",
                      f"BatchSize.absolute_max_bytes: {size.absolute_max_bytes}",
                      f"BatchSize.preferred_max_bytes: {size.preferred_max_bytes}"])


@dataclass
class _Read:
    """What :meth:`BatchUpdate.plan` read: the config and the update computed from it."""

    fetched: Any          #: opskit.orderer.online.FetchedConfig
    update: Any | None    #: common.ConfigUpdate, None when nothing differs


class BatchUpdate:
    """Bring one channel's batch parameters to ``settings`` through ``admin`` (one fleet's tools container)."""

    operation = "batch"

    def __init__(self, admin: "ChannelAdmin", channel: str, settings: BatchSettings) -> None:
        self.admin = admin
        self.channel = channel
        self.settings = settings

    def plan(self) -> Plan:
        from opskit.orderer.config import diff_configs, get_batch_size, get_batch_timeout, render_update
        from opskit.orderer.update import NoDifferences, compute_update

        current = self.admin.fetch_config(self.channel)
        new = self.settings.applied_to(current.config)
        try:
            update = compute_update(current.config, new, self.channel)
        except NoDifferences:
            update = None
        plan = Plan(self.operation, state=_Read(current, update))
        if update is None:
            size = get_batch_size(current.config)
            plan.notes.append(f"{self.channel}: nothing to change, already as asked (BatchTimeout "
                              f"{get_batch_timeout(current.config)}, max_message_count {size.max_message_count}, "
                              f"absolute_max_bytes {size.absolute_max_bytes}, preferred_max_bytes "
                              f"{size.preferred_max_bytes})")
            return plan
        what = "; ".join(x.describe() for x in diff_configs(current.config, new))
        plan.changes.append(Change(
            "update", f"{self.channel}: {what} (config sequence {current.config.sequence} from {current.orderer})",
            before=batch_text(current.config), after=batch_text(new), node=self.channel,
            data={"channel": self.channel, "update": render_update(update)}))
        return plan

    def apply(self, plan: Plan) -> None:
        """Sign by every orderer-org admin, submit, wait until every orderer of the channel shows the values."""
        read: _Read = plan.state
        res = self.admin.submit(self.channel, read.fetched.config, read.update, name="set-batch",
                                expect=self.settings.reached_by)
        plan.changes[0].data.update(sequence=res.sequence, block=res.block, orderer=res.orderer,
                                    signers=res.signers, verified_on=res.verified_on)
        plan.notes.append(f"{self.channel}: config sequence {res.sequence} (block {res.block}) via {res.orderer}, "
                          f"signed by {', '.join(res.signers)}; verified on {', '.join(res.verified_on)}")

    def verify(self, plan: Plan) -> None:
        """Nothing more to read: :meth:`apply` returns only once every orderer of the channel shows the values."""
