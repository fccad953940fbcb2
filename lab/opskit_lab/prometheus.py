"""A real Prometheus for the lab: scrapes every stand-in's operations endpoint and every node_exporter.

Started with ``opskit_lab.procs.spawn`` under its own pid file; stopped by that pid file only.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from opskit.errors import OpskitError
from opskit_lab import procs
from opskit_lab.wait import WaitTimeout, free_port, wait_for


class PrometheusError(OpskitError):
    """Prometheus could not be started or answered with an error."""


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


class PrometheusServer:
    """One Prometheus process with one scrape job per key of ``targets`` (``{"orderers": ["10.77.0.11:8443"]}``)."""

    def __init__(self, workdir: Path, targets: dict[str, list[str]], port: int | None = None,
                 listen: str = "127.0.0.1", scrape_interval: str = "1s", binary: str = "prometheus",
                 https: dict[str, tuple[str, str, str]] | None = None) -> None:
        self.workdir = Path(workdir)
        #: job -> (CA file, client cert, client key): jobs whose targets serve HTTPS (operations endpoints with TLS)
        self.https = dict(https or {})
        self.targets = {job: list(t) for job, t in targets.items()}
        self.listen = listen
        self.port = port or free_port(listen)
        self.scrape_interval = scrape_interval
        self.binary = binary
        self.config = self.workdir / "prometheus.yml"
        self.data = self.workdir / "data"
        self.pidfile = self.workdir / "prometheus.pid"
        self.log = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://{self.listen}:{self.port}"

    def config_text(self) -> str:
        lines = ["global:", f"  scrape_interval: {self.scrape_interval}", f"  scrape_timeout: {self.scrape_interval}",
                 f"  evaluation_interval: {self.scrape_interval}", "scrape_configs:"]
        for job, targets in self.targets.items():
            lines += [f"  - job_name: {_yaml_str(job)}"]
            if job in self.https:
                ca, cert, key = self.https[job]
                lines += ["    scheme: https", "    tls_config:", f"      ca_file: {_yaml_str(ca)}",
                          f"      cert_file: {_yaml_str(cert)}", f"      key_file: {_yaml_str(key)}"]
            lines += ["    static_configs:", f"      - targets: [{', '.join(_yaml_str(t) for t in targets)}]"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        if procs.read_pid(self.pidfile) and procs.pid_alive(procs.read_pid(self.pidfile) or 0):
            raise PrometheusError(f"Prometheus already running from {self.pidfile}")
        if shutil.which(self.binary) is None:
            raise PrometheusError(f"{self.binary} not found (apt-get install prometheus)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        self.config.write_text(self.config_text())
        argv = [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.data}",
                f"--web.listen-address={self.listen}:{self.port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d", "--log.level=warn"]
        procs.spawn(argv, pidfile=self.pidfile, log=self.log)

        def ready() -> bool:
            pid = procs.read_pid(self.pidfile)
            if pid is None or not procs.pid_alive(pid):
                raise PrometheusError("prometheus exited: " + self.log.read_text()[-2000:])
            return self._get("/-/ready", timeout=1.0)[0] == 200

        try:
            wait_for(ready, timeout=timeout, what=f"Prometheus ready on {self.url}")
        except WaitTimeout:
            self.stop()
            raise
        return self

    def stop(self) -> bool:
        return procs.stop(self.pidfile)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_targets(self, targets: dict[str, list[str]]) -> None:
        """Replace the scrape jobs and reload the running server's configuration."""
        self.targets = {job: list(t) for job, t in targets.items()}
        self.config.write_text(self.config_text())
        code, body = self._get("/-/reload", method="POST")
        if code != 200:
            raise PrometheusError(f"reload failed: HTTP {code} {body[:200]}")

    # -- API
    def _get(self, path: str, *, timeout: float = 5.0, method: str = "GET") -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def api(self, path: str, **params: str) -> dict | list:
        query = urllib.parse.urlencode(params)
        code, body = self._get(f"/api/v1/{path}" + (f"?{query}" if query else ""))
        if code != 200:
            raise PrometheusError(f"GET /api/v1/{path}: HTTP {code} {body[:300]}")
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise PrometheusError(f"GET /api/v1/{path}: {doc.get('error')}")
        return doc["data"]

    def active_targets(self) -> list[dict]:
        data = self.api("targets", state="active")
        assert isinstance(data, dict)
        return list(data.get("activeTargets", []))

    def query(self, expr: str) -> list[dict]:
        """Instant query: the ``result`` list (each ``{"metric": {...}, "value": [ts, "v"]}``)."""
        data = self.api("query", query=expr)
        assert isinstance(data, dict)
        return list(data.get("result", []))

    def targets_health(self) -> dict[str, str]:
        """``"job/instance" -> health`` ("up", "down" or "unknown") of every configured target."""
        seen = {f"{t['labels'].get('job')}/{t['labels'].get('instance')}": (t.get("health", "unknown"),
                                                                             t.get("lastError", ""))
                for t in self.active_targets()}
        return {f"{job}/{target}": seen.get(f"{job}/{target}", ("unknown", ""))[0]
                for job, targets in self.targets.items() for target in targets}

    def wait_targets_up(self, timeout: float = 30.0) -> dict[str, str]:
        """Poll until every configured target has been scraped successfully ("up"); return the health map."""
        last: dict[str, str] = {}

        def all_up() -> dict[str, str] | None:
            nonlocal last
            last = self.targets_health()
            return last if last and all(h == "up" for h in last.values()) else None

        try:
            return wait_for(all_up, timeout=timeout, what="every Prometheus target up")
        except WaitTimeout as exc:
            errors = {f"{t['labels'].get('job')}/{t['labels'].get('instance')}": t.get("lastError", "")
                      for t in self._safe_targets() if t.get("health") != "up"}
            raise WaitTimeout(f"{exc}; not up: {', '.join(f'{k} ({errors.get(k, v)})' for k, v in last.items() if v != 'up')}") from None

    def _safe_targets(self) -> list[dict]:
        try:
            return self.active_targets()
        except (PrometheusError, ValueError):
            return []
