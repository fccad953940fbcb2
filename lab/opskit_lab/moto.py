"""A moto server (AWS API simulator) for the lab and the tests, on loopback, by pid file.

    server = MotoServer(workdir)          # port chosen when None
    server.start()                        # moto_server -H 127.0.0.1 -p PORT, waits until it answers
    boto3.client("ecs", endpoint_url=server.url, ...)
    server.stop()

Only fake credentials belong with it; it never talks to AWS.
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

from opskit_lab import procs
from opskit_lab.wait import free_port, port_open, wait_for

HOST = "127.0.0.1"
#: loopback only: never through an HTTP proxy from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoServer:
    """One ``moto_server`` process, its pid file and log under ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None, *, start_timeout: float = 30.0,
                 host: str = HOST) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        self.pidfile = self.workdir / f"moto-{self.port}.pid"
        self.logfile = self.workdir / f"moto-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        exe = shutil.which("moto_server")
        if exe:
            return [exe, "-H", self.host, "-p", str(self.port)]
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def answers(self) -> bool:
        """True once the server answers its own API (``/moto-api/data.json``)."""
        try:
            with _OPENER.open(f"{self.url}/moto-api/data.json", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def running(self) -> bool:
        pid = procs.read_pid(self.pidfile)
        return pid is not None and procs.pid_alive(pid)

    def start(self) -> "MotoServer":
        if self.running() and self.answers():
            return self
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is already in use: cannot start moto there")
        self.workdir.mkdir(parents=True, exist_ok=True)
        pid = procs.spawn(self.argv(), pidfile=self.pidfile, log=self.logfile,
                          env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})

        def ready() -> str | None:
            if not procs.pid_alive(pid):
                return "exited"
            return "up" if self.answers() else None

        try:
            outcome = wait_for(ready, timeout=self.start_timeout, what=f"moto server on {self.url}")
        except Exception:
            self.stop()
            raise
        if outcome == "exited":
            tail = self.logfile.read_text(errors="replace")[-500:] if self.logfile.exists() else ""
            procs.stop(self.pidfile)
            raise RuntimeError(f"moto_server on port {self.port} exited at start: {tail.strip()}")
        return self

    def reset(self) -> None:
        """Forget every simulated resource (POST /moto-api/reset)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with _OPENER.open(req, timeout=10):
            pass

    def stop(self) -> bool:
        return procs.stop(self.pidfile)

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
