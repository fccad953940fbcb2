"""One command-line contract for ``inv TASK`` and ``python3 -m opskit TASK`` (issue 16).

Invoke's own :class:`~invoke.program.Program` prints a :class:`~invoke.exceptions.ParseError` as it comes and exits 1,
which cron and monitoring read as WARNING, and a value its parser cannot cast ends in a ``ValueError`` traceback.
:class:`OpskitProgram` keeps Invoke's parsing and changes only what an operator sees:

* a bad command line (unknown task or option, missing value, a value of the wrong type or range) exits 3 with one
  line on stderr starting ``opskit:``, with "did you mean" where a task or option name is close (difflib);
* ``TASK -h`` / ``TASK --help`` prints that task's help and exits 0, also for tasks with positional arguments
  (Invoke would take ``-h`` as the missing positional);
* task help shows an option's current name only (old names such as ``--plan`` for ``--check`` keep working).

``python3 -m opskit`` runs an :class:`OpskitProgram` (opskit/__main__.py). ``inv`` is Invoke's own program, which
imports tasks.py (and so this package) while it runs: :func:`adopt_invoke_cli` gives that one running program
instance this class, before it parses the task part of the command line. See Invoke's ``Program.run``: the
collection is loaded (``parse_collection``) before the tasks are parsed (``parse_tasks``), and an :class:`Exit`
raised there is printed and becomes the exit code.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Sequence
from typing import Any

from invoke import Program
from invoke.exceptions import Exit, ParseError
from invoke.parser import Parser, ParserContext

#: exit code of a bad command line (UNKNOWN: nothing was run; docs/exit-codes.md)
BAD_ARGUMENTS = 3
HELP_FLAGS = ("-h", "--help")


class HelpContext(ParserContext):
    """A task's parser context whose help lists an option under its current name only (not its old names)."""

    def help_for(self, flag: str) -> tuple[str, str]:
        names, text = super().help_for(flag)
        arg = self.flags[flag]
        hidden = {f"--{n}" for n in getattr(arg, "hidden_names", ())}
        shown = [n for n in names.split(", ") if re.split(r"[= \[]", n, maxsplit=1)[0] not in hidden]
        label = _value_label(arg)
        if label:   # --workers=INT, --wait=NUMBER rather than =STRING (or nothing, for a float default)
            shown = [re.split(r"=", n, maxsplit=1)[0] + f"={label}" if n.startswith("--") else n for n in shown]
        return ", ".join(shown), text


def _value_label(arg: Any) -> str | None:
    from opskit.tasks.runner import Number

    rule = getattr(arg, "number", None)
    if not arg.takes_value or arg.positional:
        return None
    if arg.kind is int or (isinstance(rule, Number) and rule.whole):
        return "INT"
    if arg.kind is float or isinstance(rule, Number):
        return "NUMBER"
    return None


class OpskitProgram(Program):
    """Invoke's Program with opskit's command-line contract (module docstring)."""

    def _make_parser(self) -> Parser:
        # Collection.to_contexts with HelpContext instead of ParserContext; built once per run (parse_tasks below
        # needs the contexts before Invoke's parse_tasks, which calls this again).
        cached: Parser | None = getattr(self, "_opskit_parser", None)
        if cached is not None:
            return cached
        unknown_help = self.config.tasks.ignore_unknown_help
        contexts = [HelpContext(name=primary, aliases=aliases,
                                args=self.collection[primary].get_arguments(ignore_unknown_help=unknown_help))
                    for primary, aliases in self.collection.task_names.items()]
        self._opskit_parser = Parser(initial=self.initial_context, contexts=contexts)
        return self._opskit_parser

    def parse_tasks(self) -> None:
        tokens = list(self.core.unparsed)
        self.parser = self._make_parser()
        wanted = help_request(tokens, self.parser.contexts)
        if wanted is not None:
            self.print_task_help(wanted)
            raise Exit
        try:
            trailing_flag(tokens, self.parser.contexts)
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(f"opskit: {describe(exc, tokens, self.parser.contexts)}", code=BAD_ARGUMENTS) from None

    def parse_cleanup(self) -> None:
        try:
            super().parse_cleanup()
        except ParseError as exc:   # `--help NAME` for a task that does not exist
            contexts = self.parser.contexts if hasattr(self, "parser") else {}
            raise Exit(f"opskit: {describe(exc, [], contexts)}", code=BAD_ARGUMENTS) from None


def help_request(tokens: Sequence[str], contexts: Any) -> str | None:
    """The task whose help ``-h``/``--help`` after its name asks for (None: no such request)."""
    current = None
    for tok in tokens:
        if tok == "--":
            break
        if tok in HELP_FLAGS and current is not None:
            return current
        if not tok.startswith("-") and tok in contexts:
            current = tok
    return None


def trailing_flag(tokens: Sequence[str], contexts: Any) -> None:
    """Refuse a value-taking option at the very end (Invoke lets a repeatable one, ``--config-block``, pass empty)."""
    body = list(tokens[:tokens.index("--")] if "--" in tokens else tokens)
    task = _last_task(body, contexts)
    if not body or task is None or body[-1] == task:
        return
    arg = contexts[task].flags.get(body[-1])
    if arg is not None and arg.takes_value and not arg.optional:
        raise ParseError(f"Flag {arg!r} needed value and was not given one!", contexts[task])


def _close(word: str, candidates: Sequence[str]) -> str:
    hit = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {hit[0]}?" if hit else ""


def _task_names(contexts: Any) -> list[str]:
    return sorted(k for k in contexts.keys() if k)


def _options(ctx: ParserContext) -> list[str]:
    return sorted({*(f for f in ctx.flags.keys() if f.startswith("--")), *ctx.inverse_flags.keys(), "--help"})


def _last_task(tokens: Sequence[str], contexts: Any) -> str | None:
    found = None
    for tok in tokens:
        if tok == "--":
            break
        if not tok.startswith("-") and tok in contexts:
            found = tok
    return found


def describe(exc: ParseError, tokens: Sequence[str], contexts: Any) -> str:
    """One line for an operator from Invoke's parse error: what was wrong and, where one is close, a suggestion."""
    msg = str(exc).replace("\n", " ")
    ctx = exc.context if exc.context is not None and exc.context.name else None
    task = ctx.name if ctx is not None else _last_task(tokens, contexts)
    if ctx is None and task is not None:
        ctx = contexts[task]
    where = f"{task}: " if task else ""
    m = re.fullmatch(r"No idea what '(.*)' is!", msg)
    if m:
        word = m.group(1)
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            if ctx is None:
                return f"unknown option {flag} (a task's options go after the task name: inv TASK {flag})"
            return f"{where}unknown option {flag}{_close(flag, _options(ctx))} (inv {task} -h lists its options)"
        hint = _close(word, _task_names(contexts))
        if task:
            return f"{where}unexpected argument {word!r} (no such task either){hint}"
        return f"unknown task {word!r}{hint} (inv --list shows every task)"
    m = re.fullmatch(r"Flag (\S+) needed value and was not given one!", msg)
    if m:
        return f"{where}{m.group(1)} needs a value"
    m = re.fullmatch(r"Flag (\S+) doesn't take any value!", msg)
    if m:
        return f"{where}{m.group(1)} takes no value"
    m = re.fullmatch(r"'(\S+)' did not receive required positional arguments: (.*)", msg)
    if m:
        names = " ".join(n.strip(" '").upper() for n in m.group(2).split(","))
        return f"{m.group(1)}: missing {names} (inv {m.group(1)} -h)"
    return f"{where}{msg}"


def adopt_invoke_cli() -> None:
    """Give ``inv``'s running Program opskit's contract (called when opskit.tasks is imported).

    ``inv`` is ``invoke.main.program.run()``; it imports tasks.py from ``parse_collection`` and parses the task
    arguments afterwards. Changing the class of that one instance (a subclass with the same state, only methods
    added) is the narrowest hook: no Invoke code is patched, other Program instances are untouched, and nothing
    happens when opskit.tasks is imported any other way (``python3 -m opskit``, tests, a library user).
    """
    main = sys.modules.get("invoke.main")
    program = getattr(main, "program", None)
    if type(program) is Program and program.namespace is None:
        program.__class__ = OpskitProgram
