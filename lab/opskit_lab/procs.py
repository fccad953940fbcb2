"""Start and stop lab daemons by their own pid files (never by process name)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from opskit_lab.wait import wait_for


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child is not alive for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(pidfile: str | os.PathLike[str]) -> int | None:
    try:
        text = Path(pidfile).read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def spawn(argv: Sequence[str], *, pidfile: str | os.PathLike[str], log: str | os.PathLike[str],
          netns: str | None = None, env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    """Start ``argv`` detached (own session), output to ``log``; write its pid to ``pidfile``.

    With ``netns`` the process is started inside that network namespace with nsenter
    (nsenter, unlike ``ip netns exec``, does not remount /sys, which dockerd needs).
    """
    full = list(argv)
    if netns:
        full = ["nsenter", f"--net=/var/run/netns/{netns}", "--", *full]
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})}, cwd=cwd)
    Path(pidfile).write_text(f"{proc.pid}\n")
    return proc.pid


def stop(pidfile: str | os.PathLike[str], *, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the process named in ``pidfile`` (TERM, then KILL after ``timeout``); remove the file.

    Returns True if a live process was stopped.
    """
    pid = read_pid(pidfile)
    if pid is None:
        Path(pidfile).unlink(missing_ok=True)
        return False
    was_alive = pid_alive(pid)
    if was_alive:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        try:
            wait_for(lambda: not pid_alive(pid), timeout=timeout, what=f"pid {pid} to exit")
        except TimeoutError:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not pid_alive(pid), timeout=5, what=f"pid {pid} to die")
    try:
        os.waitpid(pid, os.WNOHANG)  # reap if it was our child
    except ChildProcessError:
        pass
    Path(pidfile).unlink(missing_ok=True)
    return was_alive
