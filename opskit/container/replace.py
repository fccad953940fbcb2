"""``container.replace``: recreate one node's container with the same settings plus requested changes."""

from __future__ import annotations

from opskit.container.compose import ComposeChange
from opskit.container.config import Changes, ContainerConfig
from opskit.container.docker import DockerHost
from opskit.container.recreate import NodeChange, Recreator, RecreateOptions
from opskit.errors import SelectorError
from opskit.inventory.model import Inventory, Node
from opskit.output.report import Report
from opskit.remote.engine import EngineOptions
from opskit.change.progress import ProgressFn


def replace_change(changes: Changes):  # type: ignore[no-untyped-def]
    def fn(node: Node, current: ContainerConfig, dh: DockerHost) -> NodeChange:
        compose = ComposeChange(image=changes.image, log_driver=changes.log_driver, log_opts=dict(changes.log_opts),
                                volumes=dict(changes.volumes))
        return NodeChange(changes, compose=None if compose.is_empty() else compose)
    return fn


def replace(inv: Inventory, node_name: str, changes: Changes, options: RecreateOptions,
            engine_options: EngineOptions | None = None, progress: ProgressFn | None = None) -> Report:
    if node_name not in inv.nodes:
        raise SelectorError(f"unknown node {node_name!r} (nodes: {', '.join(sorted(inv.nodes))})")
    node = inv.nodes[node_name]
    r = Recreator(inv, "container.replace", replace_change(changes), options, engine_options=engine_options,
                  progress=progress)
    try:
        return r.run([node])
    finally:
        r.close()
