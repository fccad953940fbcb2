"""``rollout.volumes``: a named volume for every data path of every selected node, data copied in first.

Data paths per kind (:data:`DEFAULT_PATHS`, overridable per kind) plus the paths the inventory's
``volumes:`` names for the node (the inventory also names the volume: ``container path -> volume``;
otherwise the volume is ``<container>-<path with / as ->``). A path that already has a mount at it,
above it or below it is left alone: opskit never nests a new volume over an existing mount. For Kafka,
``KAFKA_LOG_DIRS`` from the container's environment wins over the default ``/tmp/kafka-logs``.
"""

from __future__ import annotations

import re

from opskit.container.compose import ComposeChange
from opskit.container.config import Changes, ContainerConfig
from opskit.container.docker import DockerHost
from opskit.container.recreate import NodeChange
from opskit import values
from opskit.errors import OpskitError
from opskit.inventory.model import Node, NodeKind

DEFAULT_PATHS: dict[str, list[str]] = {
    "orderer": ["/var/hyperledger/production"],
    "peer": ["/var/hyperledger/production"],
    "zookeeper": ["/data", "/datalog"],
    "kafka": ["/tmp/kafka-logs"],
    "couchdb": ["/opt/couchdb/data", "/opt/couchdb/etc/local.d"],
    "prometheus": ["/prometheus"],
}


def parse_paths(items: list[str]) -> dict[str, list[str]]:
    """``--paths kind=/a,/b`` items into an override table (a kind given with nothing: no paths)."""
    out = {k: list(v) for k, v in DEFAULT_PATHS.items()}
    for item in items:
        try:
            values.no_control(item, "--paths")
        except ValueError as exc:
            raise values.BadValue(f"{exc} in {item!r}") from None
        kind, eq, paths = item.partition("=")
        if not eq:
            raise OpskitError(f"--paths {item!r}: expected KIND=/path[,/path...]")
        try:
            NodeKind(kind)
        except ValueError:
            raise OpskitError(f"--paths {item!r}: unknown kind {kind!r}") from None
        plist = [p.strip().rstrip("/") for p in paths.split(",") if p.strip()]
        for p in plist:
            try:
                values.mount_path(p)
            except ValueError as exc:
                raise values.BadValue(f"--paths {item!r}: {exc}") from None
        out[kind] = plist
    return out


def _nested(a: str, b: str) -> bool:
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def volume_name(node: Node, path: str) -> str:
    return f"{node.container_name}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', path.strip('/'))}"


def data_paths(node: Node, current: ContainerConfig, table: dict[str, list[str]]) -> dict[str, str]:
    """container path -> volume name wanted for ``node`` (before looking at what is mounted)."""
    paths = list(table.get(node.kind.value, []))
    if node.kind is NodeKind.KAFKA and current.env.get("KAFKA_LOG_DIRS"):
        paths = [p.strip() for p in current.env["KAFKA_LOG_DIRS"].split(",") if p.strip()]
    wanted: dict[str, str] = {p.rstrip("/"): v for p, v in node.volumes.items()}
    for p in paths:
        if not any(_nested(p, q) for q in wanted):
            wanted[p] = volume_name(node, p)
    return wanted


def volumes_change(table: dict[str, list[str]] | None = None):  # type: ignore[no-untyped-def]
    table = table or DEFAULT_PATHS

    def fn(node: Node, current: ContainerConfig, dh: DockerHost) -> NodeChange | None:
        changes = Changes()
        copy: dict[str, str] = {}
        compose_vols: dict[str, str] = {}
        notes: list[str] = []
        for path, vol in data_paths(node, current, table).items():
            covering = [m for m in current.mounts if _nested(m.destination, path)]
            if covering:
                for m in covering:
                    if m.type == "volume" and m.destination.rstrip("/") == path and m.source:
                        compose_vols[path] = m.source
                        if m.source != vol and path in node.volumes:
                            notes.append(f"{path} is on volume {m.source}, the inventory says {vol}")
                    elif m.type != "volume" or not m.source:
                        notes.append(f"{path}: already on a {m.type} mount at {m.destination}")
                continue
            changes.volumes[path] = vol
            copy[path] = vol
            compose_vols[path] = vol
        return NodeChange(changes, copy_paths=copy, compose=ComposeChange(volumes=compose_vols) if compose_vols else None,
                          notes=notes)
    return fn
