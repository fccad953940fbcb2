"""``rollout.logging``: json-file rotation (max-size, max-file) on every selected container.

Docker cannot change the log options of an existing container, so a container whose options differ is
recreated by :mod:`opskit.container.recreate` (same settings, new log options). Containers with another
driver than json-file (journald, syslog, fluentd, local) are left alone with a note: their logs are not
the ones that fill the Docker data root.
"""

from __future__ import annotations

from opskit.container.compose import ComposeChange
from opskit.container.config import Changes, ContainerConfig
from opskit.container.docker import DockerHost
from opskit.container.recreate import NodeChange
from opskit.inventory.model import Node

ROTATING_DRIVERS = ("json-file", "")


def logging_change(max_size: str = "50m", max_file: int | str = 5):  # type: ignore[no-untyped-def]
    from opskit import values

    try:
        opts = {"max-size": values.size(max_size, "max-size"), "max-file": str(values.count(max_file, "max-file",
                                                                                             minimum=1))}
    except ValueError as exc:
        raise values.BadValue(str(exc)) from None

    def fn(node: Node, current: ContainerConfig, dh: DockerHost) -> NodeChange | None:
        if current.log_driver not in ROTATING_DRIVERS:
            return NodeChange(Changes(), notes=[f"log driver {current.log_driver}: not json-file, left alone"])
        return NodeChange(Changes(log_driver="json-file", log_opts=opts),
                          compose=ComposeChange(log_driver="json-file", log_opts=opts))
    return fn
