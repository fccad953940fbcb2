"""Load an inventory file: parse YAML with line numbers, upgrade, validate.

Errors name the file, the line and what is wrong, so an operator can fix the
document without reading a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opskit import values
from opskit.errors import InventoryError
from opskit.inventory.model import CURRENT_VERSION, Inventory, LinkError
from opskit.inventory.upgrade import Moves, UpgradeError, translate, upgrade

#: An inventory larger than this is refused (a fleet of thousands of hosts is well under 1 MiB).
MAX_BYTES = 4 * 1024 * 1024
#: Values after alias expansion; a "billion laughs" document is refused instead of filling the memory.
MAX_NODES = 200_000

#: Used when no inventory is given on the command line or in $OPSKIT_INVENTORY.
DEFAULT_INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "local.yaml"


class _Budget:
    def __init__(self, source: str, limit: int = MAX_NODES) -> None:
        self.source, self.left = source, limit

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise InventoryError(f"{self.source}: more than {MAX_NODES} values after expanding YAML aliases "
                                 "(an alias bomb?); refusing to load it")


def _plain(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], budget: _Budget | None = None,
           depth: int = 0) -> Any:
    """Turn a ruamel round-trip tree into plain data, recording the line of every path."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if budget is None:
        budget = _Budget("<inventory>")
    budget.take()
    if depth > 64:
        raise InventoryError(f"{budget.source}: {_describe(path[:5])}...: nested more than 64 levels deep")

    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            try:
                line = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                line = lines.get(path, 0)
            lines[path + (key,)] = line
            out[key] = _plain(value, path + (key,), lines, budget, depth + 1)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for i, value in enumerate(node):
            try:
                line = node.lc.item(i)[0] + 1
            except (KeyError, TypeError, AttributeError, IndexError):
                line = lines.get(path, 0)
            lines[path + (i,)] = line
            out_list.append(_plain(value, path + (i,), lines, budget, depth + 1))
        return out_list
    if isinstance(node, str):
        return str(node)
    return node


def _line_of(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(path), 0, -1):
        if tuple(path[:cut]) in lines:
            return lines[tuple(path[:cut])]
    return None


def _describe(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(document)"


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise InventoryError(f"{source}{line}: duplicate key: {exc.problem}") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise InventoryError(f"{source}{line}: malformed YAML: {exc.problem or exc.context}") from None
    lines: dict[tuple[Any, ...], int] = {}
    return _plain(tree, (), lines, _Budget(source)), lines


def load_text(text: str, source: str = "<inventory>") -> Inventory:
    """Validate an inventory document given as text (``source`` names it in errors)."""
    data, lines = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: an inventory is a YAML mapping with 'version:' and 'hosts:'")
    try:
        data, moves, _ = upgrade(data, CURRENT_VERSION)
    except UpgradeError as exc:
        line = _line_of(exc.path, lines)
        where = f":{line}" if line else ""
        raise InventoryError(f"{source}{where}: {_describe(exc.path)}: {exc}") from None
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(_format_validation(exc, source, lines, moves)) from None
    inv.source = source
    return inv


def _format_validation(exc: ValidationError, source: str, lines: dict[tuple[Any, ...], int], moves: Moves) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, LinkError):
            loc = loc + tuple(cause.path)
        original = translate(loc, moves)
        line = _line_of(original, lines)
        where = f"{source}:{line}" if line else source
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the inventory model; check the spelling)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        field = _describe(original)
        problems.append(f"{where}: {field}: {msg}" if not msg.startswith(field) else f"{where}: {msg}")
    head = problems[0]
    more = "" if len(problems) == 1 else "\n  " + "\n  ".join(problems[1:])
    return head + more


def load_inventory(path: str | os.PathLike[str] | None = None) -> Inventory:
    """Load the inventory at ``path``, $OPSKIT_INVENTORY, or the embedded local default."""
    if path is None or str(path) == "":
        path = os.environ.get("OPSKIT_INVENTORY") or DEFAULT_INVENTORY
    p = Path(path).expanduser()
    try:
        values.file_path(str(p))
    except ValueError as exc:
        raise InventoryError(f"inventory file name {str(p)!r}: {exc}") from None
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InventoryError(f"{p}: inventory file not found") from None
    except IsADirectoryError:
        raise InventoryError(f"{p}: is a directory, not an inventory file") from None
    except OSError as exc:
        raise InventoryError(f"{p}: cannot read inventory: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InventoryError(f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MiB; not an inventory")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InventoryError(f"{p}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if "\0" in text:
        raise InventoryError(f"{p}:{text[:text.index(chr(0))].count(chr(10)) + 1}: contains NUL bytes; not an inventory")
    inv = load_text(text, str(p))
    return inv
