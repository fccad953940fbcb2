"""Run locks: one changing run per inventory (and scope) at a time, and a clear word when not.

A lock is a file under the state directory (``$OPSKIT_STATE_DIR``, default
``~/.opskit``) held with ``flock`` for the life of the run. ``flock`` is released
by the kernel when the holder dies, so a lock left by a killed run is taken over
at once; the holder record inside the file lets the new run say whose it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from opskit.errors import LockHeld


#: Set by a process that holds a lock for the child it starts (the cron wrapper): the lock file's path.
INHERITED_ENV = "OPSKIT_LOCK_HELD"


def state_dir() -> Path:
    """Where opskit keeps locks, journals and samples on the machine it runs on."""
    return Path(os.environ.get("OPSKIT_STATE_DIR") or Path.home() / ".opskit")


@dataclass
class Holder:
    pid: int
    task: str
    host: str
    since: str
    inventory: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.task}) on {self.host} since {self.since}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def lock_path(inventory_source: str, scope: str = "fleet") -> Path:
    key = hashlib.sha256(os.path.abspath(inventory_source).encode()).hexdigest()[:12]
    safe_scope = "".join(c if c.isalnum() or c in "-_." else "_" for c in scope)
    return state_dir() / "locks" / f"{Path(inventory_source).stem}-{key}-{safe_scope}.lock"


@dataclass
class Lock:
    path: Path
    holder: Holder
    took_over: Holder | None  # a dead run's record this run replaced, if any


@contextlib.contextmanager
def fleet_lock(inventory_source: str, task: str, scope: str = "fleet") -> Iterator[Lock]:
    """Hold the lock for ``inventory_source``/``scope`` or raise :class:`LockHeld` (exit 3) naming its holder."""
    path = lock_path(inventory_source, scope)
    if os.environ.get(INHERITED_ENV) == str(path):
        # our parent (the cron wrapper) holds this very lock for us
        fd0 = os.open(path, os.O_RDONLY)
        try:
            holder = _read(fd0)
        finally:
            os.close(fd0)
        yield Lock(path, holder or Holder(os.getppid(), task, socket.gethostname(), "", inventory_source), None)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            who = holder.describe() if holder else "another opskit run"
            raise LockHeld(f"inventory {inventory_source} ({scope}) is locked by {who}; "
                           f"wait for it to finish (lock file {path})", exit_code=3) from None
        previous = _read(fd)
        took_over = previous if previous and previous.pid != os.getpid() and not _pid_alive(previous.pid) else None
        me = Holder(os.getpid(), task, socket.gethostname(),
                    datetime.now(timezone.utc).isoformat(timespec="seconds"), inventory_source)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        os.fsync(fd)
        try:
            yield Lock(path, me, took_over)
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock


def _read(fd: int) -> Holder | None:
    try:
        data = os.pread(fd, 4096, 0)
        return Holder(**json.loads(data)) if data else None
    except (ValueError, TypeError, OSError):
        return None


def wait_until_free(inventory_source: str, scope: str = "fleet", timeout: float = 10.0) -> bool:
    """True once the lock can be taken (used by tests and by cron wrappers that prefer to wait)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with fleet_lock(inventory_source, "probe", scope):
                return True
        except LockHeld:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)  # polling interval of a condition with a deadline
