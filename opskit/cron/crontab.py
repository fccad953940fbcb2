"""Read and write one opskit block per inventory in a real crontab, idempotently.

The block is delimited by marker comments naming the inventory; everything
outside it is preserved byte for byte. Writing an identical block is a no-op
that says so.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from opskit.change import Change, Plan
from opskit.errors import OpskitError

_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
_SCHEDULE_RE = re.compile(rf"^(@(hourly|daily|weekly|monthly|reboot)|{_FIELD}( {_FIELD}){{4}})\Z")


class CronError(OpskitError):
    """crontab could not be read or written, or a schedule is invalid."""


@dataclass(frozen=True)
class CronJob:
    name: str
    schedule: str
    task: list[str]  # opskit task and its arguments, e.g. ["fleet.health", "--json"]
    lock_scope: str | None = None

    def __post_init__(self) -> None:
        if not _SCHEDULE_RE.match(self.schedule.strip()):
            raise CronError(f"invalid cron schedule for {self.name}: {self.schedule!r}")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.name):
            raise CronError(f"invalid job name {self.name!r}")


def _markers(inventory: str) -> tuple[str, str]:
    return f"# BEGIN opskit inventory={inventory}", f"# END opskit inventory={inventory}"


def render_block(jobs: list[CronJob], *, inventory: str, log_dir: str, python: str = sys.executable) -> str:
    """The crontab lines for ``jobs``: each runs through ``python -m opskit.cron.run`` (lock + JSON log)."""
    from opskit import values

    for what, value in (("inventory", inventory), ("log dir", log_dir), ("python", python),
                        *((f"{j.name} argument", a) for j in jobs for a in j.task)):
        try:
            values.no_control(value, what)
        except ValueError as exc:
            # a newline would start another crontab line: a job nobody asked for
            raise CronError(f"{exc} ({value!r}); refusing to write it into a crontab") from None
    begin, end = _markers(inventory)
    lines = [begin, "# managed by `inv cron.install`; change it with opskit, not by hand"]
    for job in jobs:
        argv = [python, "-m", "opskit.cron.run", "--name", job.name, "--inventory", inventory, "--log-dir", log_dir]
        if job.lock_scope:
            argv += ["--lock-scope", job.lock_scope]
        argv += ["--", *job.task]
        # cron treats an unescaped % as a newline: escape it after shell quoting
        cmd = shlex.join(argv).replace("%", "\\%")
        lines.append(f"{job.schedule} {cmd} >/dev/null 2>&1")
    lines.append(end)
    return "\n".join(lines) + "\n"


class Crontab:
    """A user's crontab through the real `crontab` command."""

    def __init__(self, user: str | None = None, command: str = "crontab") -> None:
        self.user = user
        self.command = command

    def _argv(self, *args: str) -> list[str]:
        return [self.command, *(["-u", self.user] if self.user else []), *args]

    def read(self) -> str:
        res = subprocess.run(self._argv("-l"), capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            if "no crontab for" in res.stderr:
                return ""
            raise CronError(f"crontab -l failed: {res.stderr.strip()}")
        return res.stdout

    def write(self, text: str) -> None:
        res = subprocess.run(self._argv("-"), input=text, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise CronError(f"crontab refused the new table: {res.stderr.strip()}")

    def blocks(self) -> dict[str, str]:
        """inventory -> its opskit block text."""
        out: dict[str, str] = {}
        current: str | None = None
        buf: list[str] = []
        for line in self.read().splitlines():
            m = re.match(r"^# BEGIN opskit inventory=(.*)$", line)
            if m:
                current, buf = m.group(1), [line]
                continue
            if current is not None:
                buf.append(line)
                if line == f"# END opskit inventory={current}":
                    out[current] = "\n".join(buf) + "\n"
                    current = None
        return out

    def install(self, block: str, inventory: str) -> bool:
        """Put ``block`` in place of the inventory's block; False if it was already identical."""
        text = self.read()
        new = _replace(text, inventory, block)
        if new == text:
            return False
        self.write(new)
        return True

    def remove(self, inventory: str) -> bool:
        text = self.read()
        new = _replace(text, inventory, "")
        if new == text:
            return False
        self.write(new)
        return True


class CrontabBlock:
    """The change contract (:mod:`opskit.change`) for one inventory's block: install (``block``) or remove (``None``).

    The plan holds the crontab text it read; ``apply`` reads again and refuses to write over a crontab that changed
    in between (another operator, ``crontab -e``), so a plan is never applied to a table it was not made from.
    """

    operation = "cron"

    def __init__(self, crontab: Crontab, inventory: str, block: str | None) -> None:
        self.crontab = crontab
        self.inventory = inventory
        self.block = block

    def _current(self, text: str) -> str | None:
        begin, end = _markers(self.inventory)
        lines = text.splitlines()
        if begin not in lines:
            return None
        start = lines.index(begin)
        stop = next((i for i in range(start, len(lines)) if lines[i] == end), len(lines) - 1)
        return "\n".join(lines[start:stop + 1]) + "\n"

    def plan(self) -> Plan:
        text = self.crontab.read()
        new = _replace(text, self.inventory, self.block or "")
        plan = Plan(self.operation, state=text)
        if new != text:
            before = self._current(text)
            action = "delete" if self.block is None else ("create" if before is None else "update")
            who = f"user {self.crontab.user}" if self.crontab.user else "the current user"
            plan.changes.append(Change(action, f"crontab block for {self.inventory} ({who})", before=before,
                                       after=self.block, data={"inventory": self.inventory}))
        return plan

    def apply(self, plan: Plan) -> None:
        if self.crontab.read() != plan.state:
            raise CronError("the crontab changed since it was read for the plan; run again to plan on what it holds")
        # the other lines of the table are never shown in a plan (they may hold anything): recomputed here
        self.crontab.write(_replace(plan.state, self.inventory, self.block or ""))


def _replace(text: str, inventory: str, block: str) -> str:
    begin, end = _markers(inventory)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    inside = False
    placed = False
    for line in lines:
        stripped = line.rstrip("\n")
        if stripped == begin:
            inside = True
            if block and not placed:
                out.append(block)
                placed = True
            continue
        if inside:
            if stripped == end:
                inside = False
            continue
        out.append(line)
    if block and not placed:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(block)
    return "".join(out)


def default_jobs(has_chaincode: bool, textfile: str | None, schedules: dict[str, str] | None = None) -> list[CronJob]:
    """The standard set: health every 5 min, forecast daily, DNS drift hourly, tx load every minute."""
    s = {"health": "*/5 * * * *", "forecast": "17 6 * * *", "dns-check": "23 * * * *", "load": "* * * * *",
         **(schedules or {})}
    health = ["fleet.health", "--json"] + (["--textfile", textfile] if textfile else [])
    jobs = [
        CronJob("health", s["health"], health, lock_scope="health"),
        CronJob("forecast", s["forecast"], ["fleet.forecast", "--json"], lock_scope="forecast"),
        CronJob("dns-check", s["dns-check"], ["dns.check", "--json"], lock_scope="dns-check"),
    ]
    if has_chaincode:
        jobs.append(CronJob("load", s["load"], ["load.tx", "--duration", "55s", "--json"], lock_scope="load"))
    unknown = set(schedules or {}) - {"health", "forecast", "dns-check", "load"}
    if unknown:
        raise CronError(f"unknown cron job(s): {', '.join(sorted(unknown))} (jobs: health, forecast, dns-check, load)")
    return jobs


def default_log_dir() -> Path:
    from opskit.runlock import state_dir

    return state_dir() / "cron"
