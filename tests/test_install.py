"""tests/install.sh brings every program that opskit, the lab and the tests run (issue 17).

The programs are found in the code, not listed by hand: the first element of argv lists passed to a runner
(``subprocess.run``/``Popen``/``check_output``, ``session.run``, ``host.exec``, ``procs.spawn``, the lab's ``_run``),
``shutil.which("x")`` probes, and the command words of the constant shell texts given to
``opskit.remote.command.script``, ``DockerHost.sh`` (or ``["sh", "-c", TEXT]``). Lab hosts are network namespaces of this machine, so
what runs "remotely" in the tests runs the programs installed here.

Each program must come from a Debian package that install.sh names (mapped to its files with ``dpkg -L`` at test
time), from an Essential package (always on a Debian system), or be a console script of a Python distribution that
pyproject.toml declares.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: top-level entries not scanned (everything else is: a lab or tool that moves to a new directory stays covered)
NOT_SCANNED = {"build", "dist", "venv", "node_modules"}

#: calls whose first argument is an argv list
RUNNERS = {"run", "_run", "spawn", "exec", "Popen", "check_output", "check_call", "call", "execvp", "execv"}
#: shell words that are not programs
SHELL_WORDS = set("if then else elif fi for while until do done case esac in function return exit echo printf read "
                  "shift set test [ [[ ] ]] command local export unset trap wait break continue true false : . eval "
                  "cd pwd ! { } ( ) type exec".split())
#: programs a script only falls back to when the preferred one (which install.sh must bring) is missing
#: a program that counts as brought when this one is (awk: Debian's alternatives link to mawk)
FALLBACKS = {"wget": "curl", "od": "base64", "bash": "python3", "awk": "mawk"}


def shell_programs(text: str) -> set[str]:
    """The programs a constant shell text runs (first word of each simple command, ``command -v`` probes too)."""
    out: set[str] = set()
    text = re.sub(r"\\\n", " ", text)
    # single-quoted text is data (an awk program, a message), never commands; shell functions are not programs
    text = re.sub(r"(^|\s)#[^\n]*", r"\1", text)        # comments first: an apostrophe in one is no quote
    text = re.sub(r"'[^']*'", "''", text)
    functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)", text, flags=re.M))
    for line in text.splitlines():
        for part in re.split(r";|\|\||&&|\||\$\(|`|\bthen\b|\bdo\b|\belse\b", line.strip()):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                words = part.split()
            probe = False
            for w in words:
                if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w) or w.startswith("$") or re.match(r"^\d*[<>]", w):
                    continue
                if w == "command":
                    probe = True
                    continue
                if probe and w.startswith("-"):
                    continue
                if w in SHELL_WORDS and not probe:
                    if w in ("if", "elif", "while", "until", "!", "exec"):  # a command follows
                        continue
                    break
                if re.match(r"^[A-Za-z0-9_./+][A-Za-z0-9_./+-]*$", w) and w not in functions:
                    out.add(w)
                break
    return out


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level string constants, also ones joined with ``+`` from literals and earlier constants."""
    consts: dict[str, str] = {}

    def value(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return consts.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = value(node.left), value(node.right)
            return left + right if left is not None and right is not None else None
        return None

    for node in tree.body:
        if isinstance(node, ast.Assign):
            text = value(node.value)
            if text is not None:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        consts[t.id] = text
    return consts


def _call_name(node: ast.Call) -> str:
    fn = node.func
    return fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""


def programs_in_source(source: str, where: str) -> dict[str, set[str]]:
    """program -> {"file:line", ...} for one Python source."""
    tree = ast.parse(source)
    consts = _module_strings(tree)
    found: dict[str, set[str]] = defaultdict(set)

    def text_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return consts.get(node.id)
        return None

    def add(prog: str, line: int) -> None:
        found[prog.rsplit("/", 1)[-1]].add(f"{where}:{line}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            if any(isinstance(c, ast.Call) and _call_name(c) == "which" for c in ast.walk(node)):
                for gen in node.generators:
                    if isinstance(gen.iter, (ast.Tuple, ast.List)):
                        for e in gen.iter.elts:
                            if (s := text_of(e)) is not None:
                                add(s, node.lineno)
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name, first = _call_name(node), node.args[0]
        if name == "which" and (s := text_of(first)) is not None:
            add(s, node.lineno)
        elif name in ("script", "sh") and (s := text_of(first)) is not None:  # script(TEXT, ...), DockerHost.sh
            for prog in shell_programs(s):
                add(prog, node.lineno)
        elif (name in RUNNERS and isinstance(first, (ast.List, ast.Tuple)) and first.elts
              and not (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                       and node.func.value.id == "program")):   # invoke's Program.run(argv): in-process
            argv0 = text_of(first.elts[0])
            if argv0 is None:
                continue
            add(argv0, node.lineno)
            if argv0 in ("sh", "bash") and len(first.elts) > 2 and text_of(first.elts[1]) == "-c":
                if (s := text_of(first.elts[2])) is not None:
                    for prog in shell_programs(s):
                        add(prog, node.lineno)
    return found


def python_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py")
                  if not any(part.startswith(".") or part in NOT_SCANNED or part.endswith(".egg-info")
                             for part in p.relative_to(ROOT).parts[:-1]))


def programs_called() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in python_files():
        for prog, where in programs_in_source(path.read_text(), str(path.relative_to(ROOT))).items():
            found[prog] |= where
    return found


def install_packages() -> list[str]:
    text = (ROOT / "tests" / "install.sh").read_text()
    m = re.search(r"^PKGS=\((.*?)\)", text, re.S | re.M)
    assert m, "tests/install.sh has no PKGS=(...) list"
    return m.group(1).split()


def _dpkg_query(*args: str) -> str:
    return subprocess.run(["dpkg-query", *args], capture_output=True, text=True, timeout=60).stdout


def package_programs(packages: Iterable[str]) -> dict[str, str]:
    """program name -> Debian package, for the executables the installed ``packages`` ship in bin/sbin dirs."""
    out: dict[str, str] = {}
    for pkg in packages:
        listing = _dpkg_query("-L", pkg)
        for line in listing.splitlines():
            parent, _, base = line.rpartition("/")
            if parent.endswith(("/bin", "/sbin")) and base:
                out.setdefault(base, pkg)
    return out


def essential_packages() -> list[str]:
    rows = _dpkg_query("-W", "-f", "${Package} ${Essential}\n").splitlines()
    return [r.split()[0] for r in rows if r.endswith(" yes")]


def declared_console_scripts() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta.get("optional-dependencies", {}).values() for r in extra]
    names = {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}
    out: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        if dist.metadata["Name"].lower() in names:
            for ep in dist.entry_points:
                if ep.group == "console_scripts":
                    out[ep.name] = dist.metadata["Name"]
    return out


@pytest.fixture(scope="module")
def debian() -> dict[str, str]:
    pkgs = install_packages()
    missing = [p for p in pkgs if "install ok installed" not in _dpkg_query("-W", "-f", "${Status}", p)]
    assert not missing, f"packages install.sh names are not installed here (run bash tests/install.sh): {missing}"
    return package_programs(pkgs + essential_packages())


def test_install_sh_brings_every_program_the_code_runs(debian: dict[str, str]) -> None:
    called = programs_called()
    # the scan sees the calls it is meant to see (one of each kind), or it would pass on finding nothing
    assert {"nft", "named", "ssh-keyscan", "tsig-keygen", "docker", "curl", "truncate", "find"} <= called.keys()
    pip = declared_console_scripts()
    provided = {**debian, **pip, "python3": "python3"}  # python3: the package install.sh names (and sys.executable)
    not_brought = {prog: sorted(where)[:3] for prog, where in sorted(called.items())
                   if prog not in provided and FALLBACKS.get(prog) not in provided}
    assert not not_brought, (
        "programs called by opskit/tests that tests/install.sh does not install (add their Debian package to "
        f"PKGS there, or the Python distribution to pyproject.toml): {not_brought}")


def test_scan_flags_a_new_program_call() -> None:
    src = (
        "import subprocess, shutil\n"
        "from opskit.remote.command import script\n"
        "_S = 'if command -v frobcurl >/dev/null; then x=$(frobtool --a | tail -n 1); fi'\n"
        "def f(session, host):\n"
        "    subprocess.run(['frobnicate', '-x'], check=True)\n"
        "    session.run(script(_S, 'a'))\n"
        "    host.exec(['/usr/sbin/frobd', '-D'])\n"
        "    shutil.which('frobctl')\n"
        "    subprocess.run(['sh', '-c', 'frobsh \"$1\" | grep x', 'sh', 'a'])\n"
        "    subprocess.run([*prefix, 'notaprogram'])\n"
        "    print(['notaprogram'])\n"
    )
    found = programs_in_source(src, "x.py")
    assert set(found) == {"frobnicate", "frobcurl", "frobtool", "tail", "frobd", "frobctl", "sh", "frobsh", "grep"}
    assert found["frobnicate"] == {"x.py:5"}


def test_package_map_comes_from_dpkg(debian: dict[str, str]) -> None:
    # a few programs with their packages: the map is built from dpkg's file lists, not from a table
    assert debian["nft"] == "nftables" and debian["curl"] == "curl" and debian["xz"] == "xz-utils"
    assert debian["tar"] == "tar"  # Essential
