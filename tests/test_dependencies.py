"""pyproject.toml declares exactly what opskit imports, and the test extra what the tests import (issue 17)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: modules the lab's stand-ins import from their own directory inside a container (not distributions)
LOCAL_MODULES = {"opskit", "opskit_lab", "tests", "blockfile", "channels", "conftest", "standin_server"}


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(reqs: list[str]) -> set[str]:
    return {_canon(re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0]) for r in reqs}


def imported_distributions(paths: list[Path]) -> dict[str, set[str]]:
    """distribution -> files importing it, for the third-party imports in ``paths``."""
    dists = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for base in paths:
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in LOCAL_MODULES:
                        continue
                    for dist in dists.get(top, [f"?{top}"]):
                        out.setdefault(_canon(dist), set()).add(str(path.relative_to(ROOT)))
    return out


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_library_dependencies_are_declared_exactly() -> None:
    declared = _requirements(_project()["dependencies"])
    used = imported_distributions([ROOT / "opskit"])
    undeclared = {d: sorted(f)[:3] for d, f in used.items() if d not in declared}
    assert not undeclared, f"imported by opskit but not in [project] dependencies: {undeclared}"
    unused = declared - set(used)
    assert not unused, f"declared in [project] dependencies but never imported by opskit: {sorted(unused)}"
    # the decisions of issue 17 (docs/development.md, "Dependencies")
    assert "cryptography" in declared and not {"docker", "tenacity"} & declared


def test_test_imports_are_declared() -> None:
    project = _project()
    declared = _requirements(project["dependencies"]) | _requirements(project["optional-dependencies"]["test"])
    used = imported_distributions([ROOT / "tests", ROOT / "bench", ROOT / "tasks.py"])
    undeclared = {d: sorted(f)[:3] for d, f in used.items() if d not in declared}
    assert not undeclared, f"imported by tests/bench but declared nowhere in pyproject.toml: {undeclared}"


def test_lab_imports_are_declared_by_the_lab_distribution() -> None:
    """The lab is its own distribution (lab/pyproject.toml): what it imports, it declares."""
    lab = tomllib.loads((ROOT / "lab" / "pyproject.toml").read_text())["project"]
    declared = _requirements(lab["dependencies"])
    used = imported_distributions([ROOT / "lab" / "opskit_lab"])
    undeclared = {d: sorted(f)[:3] for d, f in used.items() if d not in declared}
    assert not undeclared, f"imported by opskit_lab but not in lab/pyproject.toml: {undeclared}"
