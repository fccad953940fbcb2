"""Run opskit tasks in this process (as `python3 -m opskit ...` would) and watch for any contact with a host.

``Tripwire`` is a real TCP listener (and UDP socket) on loopback: the inventories of these tests point every host,
DNS server and endpoint at it, so a value that got past validation and reached the remote engine, the DNS client or
an HTTP call shows up as a connection or datagram. Nothing is mocked: the tasks run their real code.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_task(*argv: str, env: dict[str, str] | None = None, only_namespace: bool = False) -> Result:
    """``opskit ARGV`` in-process; the exit code, stdout and stderr.

    ``only_namespace``: the program knows only the task's own namespace (``fleet`` for ``fleet.health``). Invoke
    deep-copies every task's arguments for each parse, so this makes a generated-input test with a thousand cases
    about twice as fast; the task, its option parsing and its validation are the same objects.
    """
    from invoke import Collection

    from opskit import __version__
    from opskit.tasks import ns
    from opskit.tasks.program import OpskitProgram

    namespace = ns
    if only_namespace and argv and "." in argv[0]:
        namespace = Collection()
        namespace.add_collection(ns.collections[argv[0].split(".", 1)[0]])
    program = OpskitProgram(namespace=namespace, version=__version__, name="opskit", binary="opskit")
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                program.run(["opskit", *argv])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Result(code, out.getvalue(), err.getvalue())


class Tripwire:
    """A loopback TCP listener and UDP socket on one port that count every connection / datagram."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.tcp.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.contacts = 0
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, daemon=True),
                         threading.Thread(target=self._recv, daemon=True)]
        for t in self._threads:
            t.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            if not self._stop:
                self.contacts += 1
            conn.close()

    def _recv(self) -> None:
        while not self._stop:
            try:
                self.udp.recvfrom(65535)
            except OSError:
                return
            if not self._stop:
                self.contacts += 1

    def close(self) -> None:
        self._stop = True
        for s in (self.tcp, self.udp):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def inventory_text(port: int, *, extra_node: str = "", extra_host: str = "", extra_top: str = "") -> str:
    """A small fleet whose every host, DNS server and URL is the tripwire on 127.0.0.1:port."""
    return f"""version: 2
name: tripwire
defaults:
  port: {port}
  connect_timeout: 2
  host_timeout: 5
hosts:
  vm1:
    address: 127.0.0.1
{extra_host}orgs:
  org1:
    domain: org1.example.com
    msp_id: Org1MSP
    dns:
      server: 127.0.0.1
      port: {port}
      zone: org1.example.com
      tsig_key_name: opskit-org1
      tsig_key_file: /nonexistent/opskit-tsig.key
nodes:
  peer0.org1:
    kind: peer
    host: vm1
    org: org1
    operations: http://127.0.0.1:{port}
{extra_node}  orderer1:
    kind: orderer
    host: vm1
    operations: http://127.0.0.1:{port}
{extra_top}"""


@contextlib.contextmanager
def tripwire_inventory(tmp: Path, **kw: str) -> Iterator[tuple[Tripwire, Path]]:
    wire = Tripwire()
    path = tmp / "inventory.yaml"
    path.write_text(inventory_text(wire.port, **kw))
    try:
        yield wire, path
    finally:
        wire.close()
