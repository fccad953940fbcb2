"""Where code lives (issue 17): no import loops between opskit's packages (function-local imports count), the
library never imports the tasks or the lab, one module per task namespace, one error hierarchy."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "opskit"


def package_imports() -> dict[str, set[str]]:
    """opskit sub-package -> the other opskit sub-packages its modules import (anywhere in the module)."""
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        if len(rel) < 2:
            continue
        src = rel[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "opskit" and len(parts) > 1 and parts[1] != src and (PKG / parts[1]).is_dir():
                    graph.setdefault(src, set()).add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:
                walk(nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_no_import_loop_between_packages() -> None:
    graph = package_imports()
    assert "health" in graph.get("container", set())  # the scan sees imports (gate.py uses health)
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert cycles(graph) == [], "opskit packages import each other in a loop"
    assert "health" not in graph.get("ledger", set())  # the forecast lives in health now


def test_library_never_imports_tasks_or_lab() -> None:
    graph = package_imports()
    offenders = {src: dst & {"tasks", "lab"} for src, dst in graph.items()
                 if src not in ("tasks", "lab") and dst & {"tasks", "lab"}}
    assert not offenders


def test_one_task_module_per_namespace() -> None:
    from opskit.tasks import NAMESPACES

    modules = {p.stem for p in (PKG / "tasks").glob("*.py")} - {"__init__", "runner", "program"}  # shared front end
    helpers = {m for m in modules if m.startswith("_")}
    assert modules - helpers <= set(NAMESPACES), f"task modules outside the namespaces: {modules - helpers - set(NAMESPACES)}"


#: modules whose exceptions stay outside OpskitError: blockfile.py is stdlib-only (shipped to hosts and run there)
#: blockfile stays stdlib-only (it runs on hosts); StopAtBoundary is a KeyboardInterrupt on purpose (Ctrl-C)
OUTSIDE_HIERARCHY = {"opskit.ledger.blockfile", "opskit.container.recreate.StopAtBoundary"}


def test_one_error_hierarchy() -> None:
    import importlib
    import pkgutil

    import opskit
    from opskit.container.docker import HostTrouble, lost
    from opskit.errors import HostUnreachable, InventoryError, OpskitError
    from opskit.inventory.model import LinkError
    from opskit.inventory.upgrade import UpgradeError

    strays = []
    for info in pkgutil.walk_packages(opskit.__path__, "opskit."):
        if info.name.startswith("opskit.__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == info.name
                    and not name.startswith("_") and not issubclass(obj, OpskitError)
                    and info.name not in OUTSIDE_HIERARCHY and f"{info.name}.{name}" not in OUTSIDE_HIERARCHY):
                strays.append(f"{info.name}.{name}")
    assert strays == []
    assert HostTrouble is HostUnreachable and lost("x").exit_code == 2
    assert issubclass(UpgradeError, InventoryError)
    assert issubclass(LinkError, InventoryError) and issubclass(LinkError, ValueError)  # pydantic needs ValueError
