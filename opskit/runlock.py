"""Run locks: one changing run per fleet (and scope) at a time, and a clear word when not.

A lock is a file held with ``flock`` for the life of the run. ``flock`` is released by the kernel when the
holder dies, so a lock left by a killed run is taken over at once; the holder record inside the file lets the
new run say whose it was.

*Per fleet*: the lock is named after the fleet (the inventory's ``name:``), not after the path it was loaded
from nor the user running it, so a symlinked or copied inventory, another working directory or another
operator with another ``HOME`` all meet the same lock. It lives where every operator of this machine sees it:

1. ``$OPSKIT_LOCK_DIR`` when set;
2. under ``$OPSKIT_STATE_DIR`` when that is set (a private state directory is a private view: tests use it);
3. ``/run/lock/opskit`` (created world-writable with the sticky bit, lock files 0666 so that any operator can
   take a lock a dead run of another user left), falling back to ``~/.opskit/locks`` only when ``/run/lock``
   cannot be written.

A path that is not a readable inventory (e.g. a name) is keyed by its resolved real path instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
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


SYSTEM_LOCK_DIR = Path("/run/lock/opskit")


def lock_dir() -> Path:
    """Where fleet locks live (see the module documentation for the order)."""
    if os.environ.get("OPSKIT_LOCK_DIR"):
        return Path(os.environ["OPSKIT_LOCK_DIR"])
    if os.environ.get("OPSKIT_STATE_DIR"):
        return state_dir() / "locks"
    try:
        SYSTEM_LOCK_DIR.mkdir(parents=True, exist_ok=True)
        if SYSTEM_LOCK_DIR.stat().st_uid == os.getuid():
            os.chmod(SYSTEM_LOCK_DIR, 0o1777)
        if os.access(SYSTEM_LOCK_DIR, os.W_OK | os.X_OK):
            return SYSTEM_LOCK_DIR
    except OSError:
        pass
    return Path.home() / ".opskit" / "locks"


def fleet_key(inventory_source: str) -> str:
    """The fleet's identity: ``name-<hash of name>`` for an inventory file, else ``path-<hash of realpath>``."""
    real = os.path.realpath(inventory_source)
    name: str | None = None
    if os.path.isfile(real):
        try:
            from opskit.inventory.load import load_inventory

            name = load_inventory(real).name
        except Exception:  # not an inventory (or a broken one): fall back to the file itself
            name = None
    if name:
        return f"{name}-{hashlib.sha256(('fleet:' + name).encode()).hexdigest()[:12]}"
    return f"{Path(real).stem or 'inventory'}-{hashlib.sha256(real.encode()).hexdigest()[:12]}"


def lock_path(inventory_source: str, scope: str = "fleet") -> Path:
    safe_scope = "".join(c if c.isalnum() or c in "-_." else "_" for c in scope)
    return lock_dir() / f"{fleet_key(inventory_source)}-{safe_scope}.lock"


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
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        raise LockHeld(f"cannot open the fleet lock {path} (another user's lock file that this user may not "
                       "write); ask them or an administrator", exit_code=3) from None
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o666)  # every operator of the fleet must be able to take it over
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
    from opskit.wait import Poller

    class _StillHeld(Exception):
        pass

    def look() -> bool | None:
        try:
            with fleet_lock(inventory_source, "probe", scope):
                return True
        except LockHeld:
            return None

    try:
        return Poller[bool](timeout, 0.05).run(look, lambda _w: _StillHeld())
    except _StillHeld:
        return False
