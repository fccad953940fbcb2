"""The ``docker`` CLI on a node's host, through one remote session: argv lists only, explicit timeouts.

A :class:`DockerHost` wraps the run's session for one host with a lock (several nodes of a batch may share
a host) and maps failures to opskit errors: a command that exits non-zero is a :class:`DockerError`; a
command that does not finish in time or a lost connection is :class:`opskit.errors.HostUnreachable` with exit
code 2 (the session is dropped so that the next use reconnects instead of hanging on a dead transport).
"""

from __future__ import annotations

import json
import threading
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opskit.container.config import ContainerConfig, ImageDefaults
from opskit.errors import CommandFailed, HostUnreachable, OpskitError, RemoteError
from opskit.inventory.model import Host
from opskit.remote.command import script
from opskit.remote.session import BaseSession, CommandResult

READ_TIMEOUT = 30.0
STEP_TIMEOUT = 120.0
COPY_TIMEOUT = 3600.0


class DockerError(OpskitError):
    """A docker command on a host failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


#: The old name of :class:`opskit.errors.HostUnreachable` (one class): kept only for modules not moved yet.
HostTrouble = HostUnreachable


def lost(message: str) -> HostUnreachable:
    """A host that stopped answering (or could not be reached) in the middle of a run: CRITICAL (exit 2)."""
    return HostUnreachable(message, exit_code=2)


class DockerHost:
    """``docker`` on one host. ``session_factory`` gives the (re)opened session of the run's engine."""

    def __init__(self, host: Host, session_factory: Any, timeout_scale: float = 1.0) -> None:
        self.host = host
        self._factory = session_factory
        self._session: BaseSession | None = None
        self.lock = threading.RLock()
        self.env = {"DOCKER_HOST": host.docker_host} if host.docker_host else None
        self.scale = timeout_scale
        #: inside :meth:`snapshot`: container name -> inspect document (None: no such container), image ref -> defaults
        self._containers: dict[str, dict[str, Any] | None] | None = None
        self._images: dict[str, ImageDefaults | None] | None = None

    @property
    def name(self) -> str:
        return self.host.name

    def session(self) -> BaseSession:
        if self._session is None or getattr(self._session, "aborted", False):
            try:
                self._session = self._factory(self.host)
            except HostUnreachable as exc:
                raise lost(str(exc)) from None
            except Exception as exc:  # paramiko and socket errors while connecting
                raise lost(f"{self.host.name}: cannot connect: {type(exc).__name__}: {exc}") from None
        return self._session

    def _drop(self) -> None:
        s, self._session = self._session, None
        if s is not None:
            abort = getattr(s, "abort", None)
            try:
                (abort or s.close)()
            except Exception:  # a dying transport must not hide the real error
                pass

    def run(self, argv: Sequence[str], *, timeout: float = STEP_TIMEOUT, check: bool = True,
            env: Mapping[str, str] | None = None) -> CommandResult:
        with self.lock:
            session = self.session()
            try:
                res = session.run(list(argv), timeout=timeout * self.scale, check=False, env=env)
            except HostUnreachable as exc:
                self._drop()
                raise lost(f"{self.host.name}: {exc}") from None
            except CommandFailed:
                raise
            except RemoteError as exc:
                self._drop()
                raise lost(f"{self.host.name} stopped answering: {exc}") from None
        if check and res.exit_code != 0:
            tail = (res.stderr.strip().splitlines() or [res.stdout.strip()])[-1:]
            raise DockerError(f"{self.host.name}: `{res.command[:200]}` exited {res.exit_code}"
                              + (f": {tail[0]}" if tail and tail[0] else ""))
        return res

    def docker(self, *args: str, timeout: float = STEP_TIMEOUT, check: bool = True) -> CommandResult:
        return self.run(["docker", *args], timeout=timeout, check=check, env=self.env)

    def sh(self, text: str, *args: str, timeout: float = STEP_TIMEOUT, check: bool = True) -> CommandResult:
        """A constant shell script with ``args`` as "$1".. (DOCKER_HOST passed through the environment)."""
        return self.run(script(text, *args), timeout=timeout, check=check, env=self.env)

    # -- reads -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self, names: Iterable[str]) -> Iterator[None]:
        """Reads inside answer from one look at the host: ``docker ps -a`` and one ``docker container inspect`` of
        every name that exists, and each image inspected once. A plan reads a host's containers in two round trips
        instead of several per node. Only around reads: a change must see the host as it is now."""
        wanted = list(dict.fromkeys(names))
        existing = set(self.ps_names())
        docs: dict[str, dict[str, Any] | None] = {n: None for n in wanted}
        present = [n for n in wanted if n in existing]
        if present:
            res = self.docker("container", "inspect", "--", *present, timeout=READ_TIMEOUT, check=False)
            if res.exit_code == 0:
                for doc in json.loads(res.stdout or "[]"):
                    docs[str(doc.get("Name", "")).lstrip("/")] = doc
            else:   # one vanished in between: no snapshot of containers, each read asks the host
                docs = {}
        self._containers, self._images = docs, {}
        try:
            yield
        finally:
            self._containers = self._images = None

    def inspect_raw(self, name: str) -> dict[str, Any] | None:
        if self._containers is not None and name in self._containers:
            return self._containers[name]
        res = self.docker("container", "inspect", name, timeout=READ_TIMEOUT, check=False)
        if res.exit_code != 0:
            if "No such" in res.stderr or "no such" in res.stderr:
                return None
            raise DockerError(f"{self.host.name}: docker inspect {name} failed: {res.stderr.strip()[-300:]}")
        docs = json.loads(res.stdout or "[]")
        return docs[0] if docs else None

    def inspect(self, name: str) -> ContainerConfig | None:
        doc = self.inspect_raw(name)
        if doc is None:
            return None
        cfg = ContainerConfig.from_inspect(doc)
        if cfg.hostname == cfg.id[:12]:
            cfg.hostname = ""  # docker's default (the short ID) is not a setting to carry over
        return cfg

    def image(self, ref: str) -> ImageDefaults | None:
        if self._images is not None and ref in self._images:
            return self._images[ref]
        res = self.docker("image", "inspect", ref, timeout=READ_TIMEOUT, check=False)
        docs = json.loads(res.stdout or "[]") if res.exit_code == 0 else []
        found = ImageDefaults.from_inspect(docs[0], ref) if docs else None
        if self._images is not None:
            self._images[ref] = found
        return found

    def pull(self, ref: str, timeout: float = 600.0) -> tuple[bool, str]:
        if self._images is not None:
            self._images.pop(ref, None)     # read it again after the pull
        res = self.docker("pull", "--quiet", ref, timeout=timeout, check=False)
        return res.exit_code == 0, (res.stderr.strip().splitlines() or [""])[-1]

    def volume_exists(self, name: str) -> dict[str, Any] | None:
        res = self.docker("volume", "inspect", name, timeout=READ_TIMEOUT, check=False)
        if res.exit_code != 0:
            return None
        docs = json.loads(res.stdout or "[]")
        return docs[0] if docs else None

    def ps_names(self) -> dict[str, str]:
        """container name -> state, every container on the host."""
        res = self.docker("ps", "-a", "--format", "{{.Names}}\t{{.State}}", timeout=READ_TIMEOUT)
        out = {}
        for line in res.stdout.splitlines():
            name, _, state = line.partition("\t")
            if name:
                out[name] = state
        return out

    def logs_tail(self, name: str, lines: int = 5) -> str:
        res = self.docker("logs", "--tail", str(lines), name, timeout=READ_TIMEOUT, check=False)
        from opskit.output.render import plain

        text = plain(res.stdout + res.stderr).strip()
        return text[-600:]
