"""Sessions: one open connection to one host, local or over SSH (Fabric).

A session is opened once per host per run and reused by every command of that
run. Both kinds take argv lists (see :mod:`opskit.remote.command`).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Protocol

from opskit.errors import CommandFailed, CommandTimeout, HostUnreachable
from opskit.remote import command as cmd


def short_command(line: str, limit: int = 160) -> str:
    """A command line for a message: one line, at most ``limit`` characters (scripts are long)."""
    flat = " ".join(line.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class CommandResult:
    """What one command printed and how it exited."""

    command: str
    stdout: str
    stderr: str
    exit_code: int
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Session(Protocol):
    name: str
    changed: bool

    def open(self) -> None: ...
    def run(self, argv: cmd.Argv, *, timeout: float | None = None, check: bool = True,
            env: Mapping[str, str] | None = None, stdin: str | bytes | None = None) -> CommandResult: ...
    def close(self) -> None: ...


class _PrefixWriter(io.TextIOBase):
    """Writes complete lines to ``target`` prefixed with the host name (streaming output)."""

    _lock = threading.Lock()

    def __init__(self, host: str, target: IO[str], sink: list[str]) -> None:
        self.host, self.target, self.sink, self.buf = host, target, sink, ""

    def write(self, s: str) -> int:  # type: ignore[override]
        self.sink.append(s)
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            with self._lock:
                self.target.write(f"[{self.host}] {line}\n")
                self.target.flush()
        return len(s)

    def flush(self) -> None:
        if self.buf:
            with self._lock:
                self.target.write(f"[{self.host}] {self.buf}\n")
            self.buf = ""


class _ChunkedInput(io.RawIOBase):
    """stdin for Fabric runs: invoke asks for one byte at a time (with a 10 ms pause between
    reads); hand it up to 64 KiB per read so shipping a script over stdin is not 100 bytes/s."""

    def __init__(self, data: str) -> None:
        self._buf = io.StringIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> str:  # type: ignore[override]
        return self._buf.read(65536 if n is None or n < 65536 else n)


class BaseSession:
    """Shared bookkeeping: the deadline, the changed flag, the stream option."""

    def __init__(self, name: str, *, deadline: float | None = None, stream: IO[str] | None = None) -> None:
        self.name = name
        self.changed = False
        self.deadline = deadline
        self.stream = stream
        self.aborted = False

    def mark_changed(self) -> None:
        self.changed = True

    def run(self, argv: cmd.Argv, *, timeout: float | None = None, check: bool = True,
            env: Mapping[str, str] | None = None, stdin: str | bytes | None = None) -> CommandResult:
        """Run ``argv`` on the host (LocalSession, SshSession)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection (LocalSession, SshSession)."""
        raise NotImplementedError

    def _timeout(self, timeout: float | None) -> float | None:
        """The smaller of the command's own timeout and what is left of the host deadline."""
        if self.deadline is None:
            return timeout
        left = max(0.1, self.deadline - time.monotonic())
        return left if timeout is None else min(timeout, left)

    def _finish(self, command: str, out: str, err: str, code: int, started: float, check: bool) -> CommandResult:
        res = CommandResult(command, out, err, code, time.monotonic() - started)
        if check and code != 0:
            raise CommandFailed(self.name, command, code, err)
        return res


def _tcp_liveness(sock: object, seconds: float) -> None:
    """Kernel-level liveness for one SSH connection: TCP keepalive probes while it is idle (a command that runs
    long sends nothing) and TCP_USER_TIMEOUT for unacknowledged data, so a host that stops answering (cable
    pulled, VM frozen) breaks the connection after about ``seconds`` even in the middle of a long command. A
    busy but alive host is not affected: its kernel answers the probes."""
    import math

    if not isinstance(sock, socket.socket) or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle = max(1, int(seconds / 3))
    interval = max(1, int(seconds / 6))
    count = max(1, math.ceil((seconds - idle) / interval))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count),
                           ("TCP_USER_TIMEOUT", int(seconds * 1000))):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    except OSError:  # a platform without these options keeps the command timeouts only
        pass


class LocalSession(BaseSession):
    """Runs commands on this machine with subprocess, without a shell."""

    def open(self) -> None:
        return None

    def run(self, argv: cmd.Argv, *, timeout: float | None = None, check: bool = True,
            env: Mapping[str, str] | None = None, stdin: str | bytes | None = None) -> CommandResult:
        parts = cmd.check_argv(argv)
        line = cmd.join(parts, env)
        started = time.monotonic()
        full_env = {**os.environ, **(env or {})}
        data = stdin.encode() if isinstance(stdin, str) else stdin
        try:
            proc = subprocess.run(parts, input=data, capture_output=True, timeout=self._timeout(timeout),
                                  env=full_env, stdin=None if data is not None else subprocess.DEVNULL)
        except FileNotFoundError:
            return self._finish(line, "", f"{parts[0]}: command not found", 127, started, check)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(f"{self.name}: `{short_command(line)}` did not finish within its deadline") from None
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace")
        if self.stream is not None:
            w = _PrefixWriter(self.name, self.stream, [])
            w.write(out)
            w.flush()
        return self._finish(line, out, err, proc.returncode, started, check)

    def close(self) -> None:
        return None


class SshSession(BaseSession):
    """One Fabric ``Connection`` to one host, opened once and reused."""

    def __init__(self, name: str, address: str, *, user: str, port: int, key_file: str | None,
                 known_hosts: str | None, strict_host_keys: bool, connect_timeout: float,
                 deadline: float | None = None, stream: IO[str] | None = None,
                 liveness: float | None = None) -> None:
        super().__init__(name, deadline=deadline, stream=stream)
        self.address, self.user, self.port = address, user, port
        self.key_file, self.known_hosts, self.strict = key_file, known_hosts, strict_host_keys
        self.connect_timeout = connect_timeout
        self.liveness = liveness
        self._conn = None

    def open(self) -> None:
        import paramiko
        from fabric import Config, Connection

        connect_kwargs: dict[str, object] = {
            "banner_timeout": self.connect_timeout,
            "auth_timeout": self.connect_timeout,
            "channel_timeout": self.connect_timeout,
            "allow_agent": False,
        }
        if self.key_file:
            key = os.path.expanduser(self.key_file)
            if not os.path.isfile(key) or not os.access(key, os.R_OK):
                # said before connecting: paramiko would report it as "cannot connect ...: No such file"
                why = "does not exist" if not os.path.exists(key) else "is not a readable file"
                raise HostUnreachable(f"{self.name}: SSH key file {self.key_file} {why} (key_file in the inventory)")
            connect_kwargs["key_filename"] = [key]
            connect_kwargs["look_for_keys"] = False
        conn = Connection(self.address, user=self.user, port=self.port, connect_timeout=self.connect_timeout,
                          connect_kwargs=connect_kwargs, config=Config(overrides={"load_ssh_configs": False}))
        client = conn.client
        if self.strict:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                if self.known_hosts:
                    client.load_host_keys(os.path.expanduser(self.known_hosts))
                else:
                    client.load_system_host_keys()
            except OSError as exc:
                raise HostUnreachable(f"{self.name}: cannot read known_hosts {self.known_hosts}: {exc.strerror}") from None
        else:
            client.set_missing_host_key_policy(paramiko.WarningPolicy())
        self._conn = conn
        try:
            conn.open()
        except paramiko.BadHostKeyException:
            raise HostUnreachable(f"{self.name}: host key of {self.address} does not match known_hosts") from None
        except paramiko.SSHException as exc:
            text = str(exc)
            t = f"{self.connect_timeout:g}s"
            if "protocol banner" in text:
                text = (f"connected to {self.address}:{self.port}, but no SSH banner came within {t} "
                        "(sshd hung, overloaded, or not an SSH server)")
            elif "No existing session" in text or "Authentication timeout" in text:
                text = (f"connected to {self.address}:{self.port}, but the SSH handshake/authentication did not "
                        f"finish within {t} (sshd hung or overloaded)")
            if "not found in known_hosts" in text:
                text = f"host key of {self.address}:{self.port} is not in known_hosts (add it, or set strict_host_keys: false explicitly)"
            raise HostUnreachable(f"{self.name}: {text}") from None
        except (OSError, socket.timeout, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            errors = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError: {addr: OSError}
            if isinstance(errors, dict) and errors:
                reason = "; ".join(sorted({getattr(e, "strerror", None) or str(e) for e in errors.values()}))
            raise HostUnreachable(f"{self.name}: cannot connect to {self.address}:{self.port}: {reason}") from None
        if self.liveness:
            _tcp_liveness(conn.client.get_transport().sock, self.liveness)

    def _transport_dead(self) -> bool:
        client = getattr(self._conn, "client", None) if self._conn is not None else None
        transport = client.get_transport() if client is not None else None
        return transport is None or not transport.is_active()

    def run(self, argv: cmd.Argv, *, timeout: float | None = None, check: bool = True,
            env: Mapping[str, str] | None = None, stdin: str | bytes | None = None) -> CommandResult:
        from invoke.exceptions import CommandTimedOut

        if self._conn is None:
            self.open()
        assert self._conn is not None
        line = cmd.join(argv, env)
        started = time.monotonic()
        out_sink: list[str] = []
        kwargs = {}
        if self.stream is not None:
            kwargs["out_stream"] = _PrefixWriter(self.name, self.stream, out_sink)
        if stdin is not None:
            kwargs["in_stream"] = _ChunkedInput(stdin if isinstance(stdin, str) else stdin.decode())
        else:
            kwargs["in_stream"] = False
        try:
            res = self._conn.run(line, hide=True, warn=True, timeout=self._timeout(timeout), pty=False, **kwargs)
        except CommandTimedOut:
            raise CommandTimeout(f"{self.name}: `{short_command(line)}` did not finish within its deadline") from None
        except (OSError, EOFError) as exc:
            raise HostUnreachable(f"{self.name}: connection lost: {exc}") from None
        except Exception as exc:  # paramiko raises a zoo of types when a transport dies
            if self.aborted:
                raise HostUnreachable(f"{self.name}: aborted at the host deadline") from None
            import paramiko

            if isinstance(exc, paramiko.SSHException):
                raise HostUnreachable(f"{self.name}: connection lost: {exc}") from None
            raise
        if res.exited == -1 and self.aborted:
            raise HostUnreachable(f"{self.name}: aborted at the host deadline")
        if res.exited == -1 and self._transport_dead():
            # no exit status because the connection died under the command (liveness, reset): the host is gone,
            # the command did not "exit -1"
            why = f" (no answer for {self.liveness:g}s)" if self.liveness else ""
            raise HostUnreachable(f"{self.name}: connection lost during `{line[:120]}`{why}")
        if res.exited == -1 and self._past_deadline(started, timeout):
            # killed by its timeout on a live connection: invoke's timer and the channel closing race, so the timeout
            # may come back as "exited -1" rather than CommandTimedOut; either way it is the deadline, said so
            raise CommandTimeout(f"{self.name}: `{short_command(line)}` did not finish within its deadline")
        return self._finish(line, res.stdout, res.stderr, res.exited, started, check)

    def _past_deadline(self, started: float, timeout: float | None) -> bool:
        now = time.monotonic()
        return (timeout is not None and now - started >= timeout) or (self.deadline is not None and now >= self.deadline)

    def abort(self) -> None:
        """Called from the watchdog at the host deadline: break any blocked read."""
        self.aborted = True
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a half-dead transport must never raise
                pass
