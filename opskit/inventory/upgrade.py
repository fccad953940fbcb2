"""In-memory upgrades of older inventory documents to the current model.

Rule for adding version N+1 (see docs/inventory.md):
1. write ``_vN_to_vN1(doc) -> (doc, moves)`` below: it takes the plain data of a
   version-N document and returns version-N+1 data plus a ``moves`` mapping from new
   path prefixes to old ones (so errors still point at the right line of the file);
2. register it in ``UPGRADES[N]``, bump ``model.CURRENT_VERSION`` and the model;
3. keep a version-N document under tests/fixtures/inventories/ with a test that loads it.
Files on disk are never rewritten; ``inv inventory.upgrade`` prints the new form.
"""

from __future__ import annotations

from typing import Any, Callable

from opskit.errors import InventoryError

Path = tuple[Any, ...]
Moves = dict[Path, Path]
Upgrade = Callable[[dict[str, Any]], tuple[dict[str, Any], Moves]]


class UpgradeError(InventoryError):
    """Raised with a path and message when an old document cannot be upgraded (the loader adds file:line)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def _list_to_mapping(items: Any, section: str, renames: dict[str, str]) -> tuple[dict[str, Any], Moves]:
    if items is None:
        return {}, {}
    if not isinstance(items, list):
        raise UpgradeError((section,), f"version 1 expects '{section}' to be a list")
    out: dict[str, Any] = {}
    moves: Moves = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise UpgradeError((section, i), f"version 1 '{section}' entries need a 'name'")
        name = str(item["name"])
        if name in out:
            raise UpgradeError((section, i), f"duplicate {section[:-1]} name {name!r}")
        entry = {renames.get(k, k): v for k, v in item.items() if k != "name"}
        out[name] = entry
        moves[(section, name)] = (section, i)
        for old, new in renames.items():
            if old in item:
                moves[(section, name, new)] = (section, i, old)
    return out, moves


def _v1_to_v2(doc: dict[str, Any]) -> tuple[dict[str, Any], Moves]:
    """Version 1 (lists of hosts/nodes/orgs, flat DNS keys) to version 2 (mappings by name)."""
    new: dict[str, Any] = {k: v for k, v in doc.items() if k not in {"hosts", "nodes", "orgs", "prometheus"}}
    new["version"] = 2
    moves: Moves = {}
    hosts, m = _list_to_mapping(
        doc.get("hosts"), "hosts",
        {"ip": "address", "user": "ssh_user", "ssh_port": "port", "docker_root": "docker_data_root"},
    )
    new["hosts"], moves = hosts, {**moves, **m}
    nodes, m = _list_to_mapping(doc.get("nodes"), "nodes", {"type": "kind"})
    new["nodes"], moves = nodes, {**moves, **m}
    orgs, m = _list_to_mapping(doc.get("orgs"), "orgs", {"msp": "msp_id"})
    moves.update(m)
    for name, org in orgs.items():
        flat = {k: org.pop(k) for k in list(org) if k.startswith("dns_") or k in ("zone", "tsig_key_name", "tsig_key_file")}
        if flat:
            org["dns"] = {
                ("server" if k == "dns_server" else "port" if k == "dns_port" else k): v for k, v in flat.items()
            }
            org["dns"].setdefault("zone", org.get("domain"))
    new["orgs"] = orgs
    if "prometheus" in doc:
        new.setdefault("monitoring", {})["prometheus_url"] = doc["prometheus"]
        moves[("monitoring", "prometheus_url")] = ("prometheus",)
    return new, moves


UPGRADES: dict[int, Upgrade] = {1: _v1_to_v2}


def upgrade(doc: dict[str, Any], current: int) -> tuple[dict[str, Any], Moves, int]:
    """Upgrade ``doc`` step by step to ``current``; return it, the path moves and the original version."""
    version = doc.get("version")
    if version is None:
        raise UpgradeError((), "the document has no 'version:' key (every inventory carries one)")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UpgradeError(("version",), f"'version' must be an integer, not {version!r}")
    if version > current:
        raise UpgradeError(("version",), f"version {version} is newer than this opskit understands (max {current}); upgrade opskit")
    if version < 1:
        raise UpgradeError(("version",), f"unknown version {version}")
    original = version
    all_moves: Moves = {}
    while version < current:
        doc, moves = UPGRADES[version](doc)
        # compose: a path moved twice maps back to the oldest location
        composed: Moves = {}
        for new, old in moves.items():
            composed[new] = translate(old, all_moves)
        all_moves = {**all_moves, **composed}
        version += 1
    return doc, all_moves, original


def translate(path: Path, moves: Moves) -> Path:
    """Map a path of the upgraded document back to the original file's path."""
    for cut in range(len(path), 0, -1):
        prefix = tuple(path[:cut])
        if prefix in moves:
            return tuple(moves[prefix]) + tuple(path[cut:])
    return tuple(path)
