"""One command-line contract for every task (issue 16; docs/index.md, docs/exit-codes.md).

For every task of ``inv --list``: a mistyped option exits 3 with one ``opskit:`` line that suggests the option meant;
``-h`` prints the task's help and exits 0; a value of the wrong type for every numeric or unit-valued option exits 3
with one line; ``-i/-s/-j`` mean ``--inventory/--select/--json`` wherever a task has them and no other option has a
short flag; the check mode is ``--check`` (old names still parse, hidden from help). Nothing here runs a task body:
every case ends while the command line is parsed, so no host is contacted (``-i`` points at a fixture anyway).

Most cases run in this process through :class:`OpskitProgram` (what ``python3 -m opskit`` runs, and what ``inv``
becomes once tasks.py is imported); a few run ``inv`` and ``python3 -m opskit`` as subprocesses, in parallel.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from invoke import Collection
from invoke.parser import Parser, ParserContext

from opskit import __version__
from opskit.tasks import ns
from opskit.tasks.program import OpskitProgram
from opskit.tasks.runner import COMMON_SHORT, OpskitTask
from tests.conftest import REPO_ROOT, run_inv

FIXTURE_INV = str(REPO_ROOT / "tests" / "fixtures" / "inventories" / "participation.yaml")
TASKS = sorted(ns.task_names)
#: help words that say an option takes a number (it must then have a rule: a Number, a Parsed or an int/float kind)
NUMERIC_HELP = re.compile(r"\b(seconds|deadline|number of|TTL|port to|days|count|N images|per block|in bytes|"
                          r"in MB|parallel|revision|share of|duration|rate|timeout)\b", re.IGNORECASE)
#: options whose help matches NUMERIC_HELP but that take text
NOT_NUMERIC = {("aws.ecs-rollback", "to-revision"), ("aws.msk-update-config", "configuration"),
               ("aws.msk-create", "configuration"), ("fleet.forecast", "prometheus"),
               ("fleet.forecast", "samples-dir"), ("load.tx", "budget-tx")}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def one_line(self) -> str:
        """The single stderr line of a refused command line (asserts the shape of the contract)."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("opskit: "), self.err
        return lines[0]


class ParseOnly(OpskitProgram):
    """OpskitProgram that refuses to run a task body: every case here must end while parsing (no host contacted)."""

    def execute(self) -> None:
        raise AssertionError(f"the command line was accepted and would run: {self.argv}")


@functools.cache
def namespace_of(name: str | None) -> Collection:
    """The whole namespace, or one that holds only task ``name`` (under the same dotted name): Invoke's parser
    deep-copies every task's context on each run, and most cases here are about one task."""
    if name is None:
        return ns
    coll, _, short = name.partition(".")
    sub = Collection(coll)
    sub.add_task(ns[name], name=short)
    return Collection(sub)


def run(*argv: str, only: str | None = None) -> Result:
    """``python3 -m opskit ARGV`` in this process, up to the end of parsing: exit code, stdout, stderr.
    ``only``: parse against that task alone (faster; not for unknown-task cases)."""
    program = ParseOnly(namespace=namespace_of(only), version=__version__, name="opskit", binary="opskit")
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            program.run(["opskit", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


@functools.cache
def contexts() -> dict[str, ParserContext]:
    """Every task's parser context (the parser deep-copies them, so one set serves every test)."""
    return {c.name: c for c in ns.to_contexts()}


def task_of(name: str) -> OpskitTask:
    t = ns[name]
    assert isinstance(t, OpskitTask), f"{name} is not declared with opskit.tasks.runner.task"
    return t


def options(ctx: ParserContext) -> list[Any]:
    return [a for a in ctx.args.values() if not a.positional]


def positionals(ctx: ParserContext) -> list[str]:
    """Valid-looking values for the task's positional arguments ("1" where a number is expected)."""
    return ["1" if getattr(a, "number", None) is not None else "x" for a in ctx.positional_args]


def base(name: str) -> list[str]:
    ctx = contexts()[name]
    inv = ["-i", FIXTURE_INV] if "inventory" in ctx.args else []
    return [name, *positionals(ctx), *inv]


def has_rule(arg: Any) -> bool:
    return getattr(arg, "number", None) is not None or arg.kind in (int, float)


def numeric_args(name: str) -> list[Any]:
    """The task's numeric options, discovered from the signature (numeric default) and the help text, each of
    which must have a rule (asserted in test_numeric_options_have_a_rule)."""
    found = []
    for a in contexts()[name].args.values():
        default = a.default
        numeric_default = not isinstance(default, bool) and (
            isinstance(default, (int, float)) or (isinstance(default, str) and _is_number(default)))
        if has_rule(a) or numeric_default or ((name, a.names[0]) not in NOT_NUMERIC
                                              and NUMERIC_HELP.search(a.help or "")):
            found.append(a)
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_inv_list_is_the_namespace() -> None:
    res = run_inv("--list", "--list-format=json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    listed = sorted(f"{c['name']}.{t['name']}" for c in doc["collections"] for t in c["tasks"])
    assert listed == TASKS


@pytest.mark.parametrize("name", TASKS)
def test_mistyped_option_exits_3_with_a_suggestion(name: str) -> None:
    ctx = contexts()[name]
    flag = max((f"--{a.names[0]}" for a in options(ctx)), key=len, default="--help")
    cut = len(flag) // 2 + 1
    typo = flag[:cut] + flag[cut + 1:]
    res = run(*base(name), typo, only=name)
    line = res.one_line()
    assert res.code == 3, res
    assert f"unknown option {typo}" in line and f"did you mean {flag}?" in line, line


@pytest.mark.parametrize("name", TASKS)
def test_typo_in_place_of_a_positional_is_an_unknown_option(name: str) -> None:
    """Invoke hands any word to a missing positional; ``--jsn`` there is still a mistyped option."""
    res = run(name, "--jsn", only=name)
    assert res.code == 3
    line = res.one_line()
    assert "unknown option --jsn" in line
    if "json" in contexts()[name].args:
        assert "did you mean --json?" in line


@pytest.mark.parametrize("name", TASKS)
def test_dash_h_prints_the_task_help(name: str) -> None:
    for argv in ([name, "-h"], [name, "--help"], ["--help", name]):
        res = run(*argv, only=name)
        assert res.code == 0, (argv, res)
        assert f"{name} " in res.out and "Options:" in res.out and not res.err, (argv, res)
    res = run(name, *positionals(contexts()[name]), "-h", only=name)
    assert res.code == 0 and "Options:" in res.out


@pytest.mark.parametrize("name", TASKS)
def test_numeric_options_have_a_rule(name: str) -> None:
    missing = [a.names[0] for a in numeric_args(name) if not has_rule(a)]
    assert not missing, f"{name}: numeric options without a rule (runner.count/seconds/Parsed): {missing}"


@pytest.mark.parametrize("name", [n for n in TASKS if numeric_args(n)])
def test_wrong_typed_values_exit_3(name: str) -> None:
    ctx = contexts()[name]
    for arg in numeric_args(name):
        if arg.positional:
            values = positionals(ctx)
            values[ctx.positional_args.index(arg)] = "abc"
            res = run(name, *values, only=name)
            shown = arg.names[0].replace("-", "_").upper()
        else:
            res = run(*base(name), f"--{arg.names[0]}", "abc", only=name)
            shown = f"--{arg.names[0]}"
        assert res.code == 3, (name, arg.names[0], res)
        assert shown in res.one_line(), (name, arg.names[0], res)


@pytest.mark.parametrize("name", [n for n in TASKS if "workers" in contexts()[n].args])
@pytest.mark.parametrize("value", ["0", "-3", "1.5", "abc", "1025"])
def test_workers_out_of_range(name: str, value: str) -> None:
    res = run(*base(name), "--workers", value, only=name)
    assert res.code == 3 and "--workers" in res.one_line(), res


@pytest.mark.parametrize("name", TASKS)
def test_missing_value_exits_3(name: str) -> None:
    ctx = contexts()[name]
    takes = [a for a in options(ctx) if a.takes_value and a.names[0] != "inventory"]   # base() gives -i
    if not takes:
        pytest.skip(f"{name} has no option that takes a value")
    res = run(*base(name), f"--{takes[0].names[0]}", only=name)
    assert res.code == 3 and "needs a value" in res.one_line(), res


@pytest.mark.parametrize("name", TASKS)
def test_common_options_and_short_flags(name: str) -> None:
    """-i/-s/-j are --inventory/--select/--json wherever a task has them; no other option has a short flag."""
    ctx = contexts()[name]
    for a in ctx.args.values():
        short = [n for n in a.names if len(n) == 1]
        main = a.names[0]
        if main in COMMON_SHORT and not a.positional:
            assert short == [COMMON_SHORT[main]], (name, a.names)
        else:
            assert not short, f"{name}: --{main} has a short flag {short}; only {COMMON_SHORT} have one"
    assert "h" not in ctx.flags and "-h" not in ctx.flags


CHECK_ALIASES = {"plan", "dry-run"}


@pytest.mark.parametrize("name", [n for n in TASKS if any(set(a.names) & CHECK_ALIASES for a in
                                                          contexts()[n].args.values())])
def test_check_mode_is_called_check(name: str) -> None:
    ctx = contexts()[name]
    arg = next(a for a in ctx.args.values() if set(a.names) & CHECK_ALIASES)
    assert arg.names[0] == "check", (name, arg.names)
    old = arg.names[1]
    help_text = run(name, "-h", only=name).out
    assert "--check" in help_text and f"--{old}" not in help_text.split("Options:")[1], help_text
    parser = Parser(contexts=list(contexts().values()))
    for flag in ("--check", f"--{old}"):
        parsed = parser.parse_argv([name, *positionals(ctx), flag])
        assert parsed[0].args["check"].value is True, (name, flag)


def test_unknown_task_exits_3_with_a_suggestion() -> None:
    res = run("fleet.helth")
    assert res.code == 3
    assert "unknown task 'fleet.helth'; did you mean fleet.health?" in res.one_line()
    res = run("--help", "orderer.migrate-rafts")
    assert res.code == 3 and "did you mean orderer.migrate-raft?" in res.one_line()
    res = run("nothing-like-it")
    assert res.code == 3 and "unknown task" in res.one_line()


def test_flag_that_takes_no_value() -> None:
    res = run("fleet.health", "--json=yes")
    assert res.code == 3
    res.one_line()


def test_inv_and_python_m_opskit_keep_the_contract() -> None:
    """The same answers from Invoke's own `inv` (tasks.py) and from `python3 -m opskit`, as subprocesses."""
    cases: list[tuple[list[str], int, str]] = [
        (["fleet.helth"], 3, "did you mean fleet.health?"),
        (["fleet.health", "--jsn"], 3, "did you mean --json?"),
        (["fleet.health", "--workers", "0"], 3, "--workers"),
        (["fleet.health", "--timeout", "abc"], 3, "--timeout"),
        (["container.replace", "n", "--settle", "abc"], 3, "--settle"),
        (["orderer.migrate-raft", "--wait", "abc"], 3, "--wait"),
        (["dns.add", "--jsn"], 3, "did you mean --json?"),
        (["orderer.migrate-raft", "-h"], 0, ""),
        (["lab.up", "-h"], 0, ""),
        (["dns.add", "-h"], 0, ""),
    ]
    # every case through `inv` (the hook in opskit.tasks); a few through `python3 -m opskit` (the in-process
    # cases above run its Program already)
    argvs = [("invoke", *c) for c in cases] + [("opskit", *c) for c in cases[::3]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda c: run_inv(*c[1], "-i", FIXTURE_INV, program=c[0]), argvs))
    for (program, argv, code, needle), res in zip(argvs, results):
        assert res.returncode == code, (program, argv, res.returncode, res.stderr)
        if code == 0:
            assert "Options:" in res.stdout and not res.stderr, (program, argv, res.stderr)
            assert "--, " not in res.stdout, (program, argv)
            continue
        got = Result(res.returncode, res.stdout, res.stderr).one_line()
        assert needle in got, (program, argv, got)
