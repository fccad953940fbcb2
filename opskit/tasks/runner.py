"""What every task shares: loading the inventory, turning errors into exit codes, rendering.

Tasks stay thin: parse arguments, call a library module, hand the result here.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from invoke import Task
from invoke.exceptions import Exit, ParseError
from invoke.parser import Argument

from opskit.errors import OpskitError
from opskit.inventory import Inventory, load_inventory
from opskit.output.render import render
from opskit.output.report import Report

INVENTORY_HELP = "inventory YAML (default: $OPSKIT_INVENTORY, else inventories/local.yaml)"
SELECT_HELP = ("hosts/nodes: NAME, vm*, ~REGEX, kind:peer, org:org1, host:H, label:k=v, TERM[0], TERM[1:2]; "
               "comma = union, &TERM = and, !TERM = not (quote it; docs/inventory.md)")
JSON_HELP = "print one JSON document instead of a table"
CHECK_HELP = "check mode: read everything and show what would change; change nothing"
DIFF_HELP = "show each change's before and after"
DETAILED_HELP = "with --check: exit 1 when changes would be made (0 when none), like terraform's -detailed-exitcode"


# -- the CLI contract (docs/index.md, docs/exit-codes.md) ----------------------------------------------------------
#: The options every task spells the same way: parameter -> short flag. Their help is in :func:`common_help`
#: (read when a task's help is built, so a task may still give its own wording). No other option of any task
#: gets a short flag: Invoke's automatic short flags depend on the order of a task's parameters, so ``-i`` was
#: ``--ip`` in one task and ``--image`` in another, and ``-h`` (help) was taken by ``--hosts`` or ``--channels``.
COMMON_SHORT = {"inventory": "i", "select": "s", "json": "j"}


def common_help() -> dict[str, str]:
    """The help of the common options (looked up late: SELECT_HELP may be edited elsewhere)."""
    return {"inventory": INVENTORY_HELP, "select": SELECT_HELP, "json": JSON_HELP, "check": CHECK_HELP,
            "diff": DIFF_HELP, "detailed-exitcode": DETAILED_HELP}


@dataclass(frozen=True)
class Number:
    """A numeric option, checked while the command line is parsed: a bad value exits 3 with one line before the
    task body runs (so no task can end in a ``ValueError`` traceback or accept ``--workers 0``)."""

    whole: bool = False                 # a count (int) rather than a real number
    minimum: float = 0                  # smallest accepted value
    maximum: float | None = None        # largest accepted value
    allow_zero: bool = True             # for real numbers: is 0 (often "no deadline") accepted?

    def check(self, value: str, option: str) -> None:
        """Raise ValueError with a message for an operator when ``value`` is not acceptable for ``option``."""
        from opskit import values as v

        if self.whole:
            v.count(value, option, minimum=int(self.minimum),
                    maximum=None if self.maximum is None else int(self.maximum))
            return
        try:
            n = float(value)
        except ValueError:
            raise ValueError(f"{option} must be a number, not {value!r}") from None
        low_ok = n > self.minimum or (n == self.minimum and (self.allow_zero or self.minimum != 0))
        if not math.isfinite(n) or not low_ok or (self.maximum is not None and n > self.maximum):
            what = "a positive number" if self.minimum == 0 and not self.allow_zero else \
                f"a number >= {self.minimum:g}"
            if self.maximum is not None:
                what += f" and <= {self.maximum:g}"
            raise ValueError(f"{option} must be {what}, not {value!r}")


@dataclass(frozen=True)
class Parsed:
    """An option with units (``20m``, ``6/min``, ``500ms``), checked while parsing by the library's own parser.

    ``function`` is ``"module:function"``, imported only when the option is given (``inv --list`` stays fast);
    it is called with the value and raises :class:`OpskitError` or ``ValueError`` for a bad one.
    """

    function: str

    def check(self, value: str, option: str) -> None:
        """Raise ValueError naming ``option`` when the library's parser refuses ``value``."""
        import importlib

        module, name = self.function.split(":")
        try:
            getattr(importlib.import_module(module), name)(value)
        except (OpskitError, ValueError) as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith(option) else f"{option}: {msg}") from None


#: what an option's value is checked with while parsing
Rule = Number | Parsed


def count(minimum: int = 0, maximum: int | None = None) -> Number:
    """A whole number in [minimum, maximum]."""
    return Number(whole=True, minimum=minimum, maximum=maximum)


def seconds(*, allow_zero: bool = False, maximum: float | None = None) -> Number:
    """A number of seconds (or days, bytes ...): positive, or >= 0 with ``allow_zero``."""
    return Number(minimum=0, allow_zero=allow_zero, maximum=maximum)


#: --workers / --timeout of the tasks that run on every selected host (opskit.remote.engine)
ENGINE_NUMBERS = {"workers": count(1, 1024), "timeout": seconds()}


class OpskitArgument(Argument):
    """An Invoke Argument that fails as a :class:`ParseError` (exit 3, one line) instead of a ``ValueError``.

    It also knows the old names of an option that still work but are not shown in help (``hidden_names``,
    e.g. ``--plan`` for ``--check``) and its :class:`Number` rule, if any.
    """

    hidden_names: tuple[str, ...] = ()
    number: Rule | None = None

    def flag(self) -> str:
        """How an operator spells this argument: ``--max-lag`` or, for a positional, ``NODE``."""
        main = self.names[0]
        return main.replace("-", "_").upper() if self.positional else f"--{main}"

    def __repr__(self) -> str:
        # Invoke puts repr(argument) into its parse errors ("Flag <Argument: ...> needed value ..."): spell it
        # as the operator typed it.
        return self.flag()

    def set_value(self, value: Any, cast: bool = True) -> None:
        if isinstance(value, str) and cast:
            if self.positional and value.startswith("-") and len(value) > 1 and not _numeric(value):
                # Invoke hands any word to a positional that is still missing, so `inv dns.add --jsn` would make
                # "--jsn" the ORG. A value that looks like an option is an unknown option instead.
                raise ParseError(f"No idea what {value!r} is!")
            try:
                if self.number is not None:
                    self.number.check(value, self.flag())
                elif self.kind in (int, float):
                    self.kind(value)
            except ValueError as exc:
                msg = str(exc)
                if self.number is None:
                    what = "a whole number" if self.kind is int else "a number"
                    msg = f"{self.flag()} must be {what}, not {value!r}"
                raise ParseError(msg) from None
        super().set_value(value, cast)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class OpskitTask(Task):
    """Every opskit task: no automatic short flags; ``-i/-s/-j`` for the common options; renamed options whose
    old names keep working but are not shown in help; :class:`Number` rules checked while parsing.

    Extra keyword arguments of :func:`task`: ``numbers`` (parameter -> :class:`Number` or :class:`Parsed`), ``renamed``
    (parameter -> option name, e.g. ``{"plan": "check"}``: ``--check`` sets ``plan``, ``--plan`` still works).
    """

    def __init__(self, body: Callable[..., Any], *, numbers: Mapping[str, Rule] | None = None,
                 renamed: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_shortflags", False)
        super().__init__(body, **kwargs)
        #: option name (as typed, without --) -> its Number rule
        self.numbers: dict[str, Rule] = {translate(renamed.get(k, k) if renamed else k): v
                                           for k, v in (numbers or {}).items()}
        self.renamed: dict[str, str] = dict(renamed or {})

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in self.renamed:   # the new name first (Invoke's main name), the old one an alias
            opts["names"] = [translate(self.renamed[name]), *opts["names"]]
            opts["attr_name"] = name
        main = opts["names"][0]
        short = COMMON_SHORT.get(main)
        if short and not opts.get("positional"):
            opts["names"].append(short)
        if "help" not in opts and main in common_help():
            opts["help"] = common_help()[main]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        # Invoke's get_arguments pops from self.help: keep it, so a second parser (a second Program.run in one
        # process, as the tests do) still shows the help texts.
        saved = dict(self.help)
        try:
            args = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = saved
        for a in args:
            if not isinstance(a, OpskitArgument):
                a.__class__ = OpskitArgument   # same layout; adds checks and the operator's spelling
            assert isinstance(a, OpskitArgument)
            renamed = (a.attr_name or "") in self.renamed
            a.hidden_names = tuple(a.names[1:2]) if renamed else ()
            a.number = self.numbers.get(a.names[0])
        return args


def translate(name: str) -> str:
    """A parameter name as an option name (``dry_run`` -> ``dry-run``), as Invoke spells it."""
    return name.strip("_").replace("_", "-")


def task(*args: Any, **kwargs: Any) -> Any:
    """Invoke's ``@task`` with :class:`OpskitTask`: use it instead of ``invoke.task`` in every task module."""
    from invoke import task as invoke_task

    kwargs.setdefault("klass", OpskitTask)
    return invoke_task(*args, **kwargs)


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Turn an :class:`OpskitError` into its message on stderr and its exit code, no traceback."""
    try:
        yield
    except OpskitError as exc:
        raise Exit(f"opskit: {exc}", code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("opskit: interrupted", code=3) from None


def inventory(path: str | None) -> Inventory:
    return load_inventory(path)


def finish(report: Report, as_json: bool, *, detailed_exitcode: bool = False, diff: bool = False) -> None:
    """Render ``report`` and end the task with its Nagios exit code.

    ``detailed_exitcode``: a check (``report.meta["check"]``) that found changes to make (``meta["pending"]``)
    and nothing worse exits 1 instead of 0, as terraform's ``-detailed-exitcode``.
    ``diff``: every finding whose data holds a ``before``/``after`` text (a planned or made change) shows their
    unified diff under its message (``--diff``; :func:`opskit.change.text_diff`, as on the change contract).
    """
    if diff:
        show_diffs(report)
    code = render(report, as_json=as_json)
    sys.stdout.flush()
    if detailed_exitcode and report.meta.get("check") and report.meta.get("pending") and code == 0:
        code = 1
    if code:
        raise Exit(code=code)


def show_diffs(report: Report) -> None:
    """Append the before/after diff to the message of each finding that carries one."""
    import dataclasses

    from opskit.change import text_diff

    for i, f in enumerate(report.findings):
        body = text_diff(f.data.get("before"), f.data.get("after"))
        if body:
            report.findings[i] = dataclasses.replace(f, message=f"{f.message}\n{body}")


def mark_check(report: Report, check: bool, pending: int) -> None:
    """Record for the summary line and ``--detailed-exitcode`` whether this was a check and how many changes it
    would make (tasks off the change contract count their own planned changes)."""
    report.meta.update(check=bool(check), pending=int(pending) if check else 0)


def run_change(task_name: str, source: str | None, build: Callable[[], Any], *, check: bool, diff: bool,
               as_json: bool, detailed_exitcode: bool = False, meta: Mapping[str, Any] | None = None,
               contacted: str | None = None, finish_report: Callable[[Any, Report], None] | None = None) -> None:
    """The whole life of a changing task on the change contract (:mod:`opskit.change`): build the operation, plan
    (real reads), apply unless ``check``, verify, report every change in plan order, exit.

    ``build`` makes the operation inside the error handling (so a bad org or an unreadable key is one ``opskit:``
    line, exit 3). ``contacted`` names what the run talked to when that is not the inventory's hosts (AWS).
    ``finish_report(op, report)`` lets the task add what only it knows (a DNS serial). With
    ``check`` and ``detailed_exitcode`` a check that finds changes to make exits 1, a clean one 0.
    """
    from opskit.change import execute

    with task_errors():
        op = build()
        outcome = execute(op, check=check)
    report = Report(task=task_name, inventory=source, contacted=contacted)
    report.extend(outcome.findings(diff=diff))
    report.meta.update(meta or {})
    mark_check(report, check, len(outcome.plan.changes))
    if finish_report is not None:
        finish_report(op, report)
    finish(report, as_json, detailed_exitcode=detailed_exitcode)
