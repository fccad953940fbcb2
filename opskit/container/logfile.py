"""``container.truncate-log``: empty a container's json log file in place, in an emergency (a full disk)."""

from __future__ import annotations

from collections.abc import Callable

from opskit.change import Change, Plan, execute
from opskit.container.docker import DockerError, DockerHost
from opskit.errors import OpskitError, SelectorError
from opskit.inventory.model import Inventory, Node
from opskit.output.report import Finding, Report, Severity
from opskit.remote.engine import Engine, EngineOptions

_TRUNCATE = r"""
set -e
lp="$1"
before=$(stat -c %s "$lp")
truncate -s 0 "$lp"
echo "$before $(stat -c %s "$lp")"
"""


class LogTruncation:
    """Empty one container's json log in place (change contract, :mod:`opskit.change`): the plan reads the file's
    size; applying truncates the same file (same inode: the daemon keeps appending to it) and the verification is
    that it got smaller, since a running container writes again at once."""

    operation = "truncate"

    def __init__(self, node: Node, dh: DockerHost) -> None:
        self.node = node
        self.dh = dh
        self.before: int | None = None
        self.after: int | None = None

    def plan(self) -> Plan:
        node, dh = self.node, self.dh
        cfg = dh.inspect(node.container_name)
        if cfg is None:
            raise OpskitError(f"{node.name}: there is no container {node.container_name} on {node.host}", exit_code=2)
        if cfg.log_driver not in ("json-file", "") or not cfg.log_path:
            raise OpskitError(f"{node.name}: log driver {cfg.log_driver}: no json log file to truncate", exit_code=2)
        size = dh.run(["stat", "-c", "%s", cfg.log_path], check=False).stdout.strip()
        plan = Plan(self.operation, state=cfg)
        if size == "0":
            plan.notes.append(f"the log of {node.container_name} is already empty ({cfg.log_path})")
        else:
            plan.changes.append(Change("empty", f"the log of {node.container_name} on {node.host} ({cfg.log_path})",
                                       before=f"{size} bytes", after="0 bytes", host=node.host, node=node.name,
                                       data={"path": cfg.log_path, "size": size}))
        return plan

    def apply(self, plan: Plan) -> None:
        path = plan.state.log_path
        try:
            res = self.dh.sh(_TRUNCATE, path)
        except DockerError as exc:
            raise OpskitError(f"{self.node.name}: truncating {path} failed: {exc}", exit_code=2) from None
        self.before, self.after = (int(x) for x in res.stdout.split()[:2])

    def verify(self, plan: Plan) -> None:
        if self.before is None or self.after is None or self.after >= self.before:
            raise OpskitError(f"{self.node.name}: {plan.state.log_path} did not get smaller "
                              f"({self.before} -> {self.after} bytes)", exit_code=2)


def truncate_log(inv: Inventory, node_name: str, confirm: Callable[[str], bool] | None = None,
                 engine_options: EngineOptions | None = None, *, check: bool = False, diff: bool = False) -> Report:
    """Empty the node's json log file in place (the daemon keeps appending to the same file).

    ``confirm(question)`` is asked once the size is known; ``check`` only reads and shows what would be emptied.
    """
    if node_name not in inv.nodes:
        raise SelectorError(f"unknown node {node_name!r} (nodes: {', '.join(sorted(inv.nodes))})")
    node = inv.nodes[node_name]
    report = Report(task="container.truncate-log", inventory=inv.source)

    def ask(plan: Plan) -> bool:
        c = plan.changes[0]
        return confirm is None or confirm(f"Empty {c.subject}, {c.before}? Its content is lost")

    with Engine(inv, engine_options) as engine:
        dh = DockerHost(inv.hosts[node.host], lambda h: engine.session(h))
        op = LogTruncation(node, dh)
        outcome = execute(op, check=check, confirm=ask)
    report.extend(outcome.findings(diff=diff))
    for f in report.findings:
        if f.changed:
            f.message = f"log emptied: {op.before} -> {op.after} bytes ({f.data['path']})"
            f.data.update(bytes_before=op.before, bytes_after=op.after)
    report.meta.update(check=check, pending=len(outcome.plan.changes) if outcome.pending else 0)
    if not outcome.plan.state.log_opts.get("max-size"):
        report.add(Finding("rotation", Severity.WARNING, "this container has no log rotation: run rollout.logging",
                           host=node.host, node=node.name))
    return report.finish()
