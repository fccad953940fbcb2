"""A real BIND 9 (named) instance for tests and for the lab.

    srv = BindServer(workdir, [ZoneSpec("org1.example.com", "org1-key", {"peer0": "10.0.0.1"})])
    srv.start()            # keys (tsig-keygen), named.conf, zone files, named -g, wait until ready
    srv.key_file("org1-key"), srv.address, srv.port
    srv.pause(); srv.resume()   # SIGSTOP/SIGCONT: a hung server
    srv.stop()

The configuration is written by :func:`opskit.dns.server_config.write_server_config`, the same
generator as ``inv dns.server-config``. Ready means (docs/lab.md): ``id.server CH TXT`` answers this
instance's server-id AND every zone answers SOA with NOERROR and the AA flag. The process is
started with :func:`opskit_lab.procs.spawn` and stopped by its own pid file.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from opskit_lab import procs
from opskit_lab.wait import WaitTimeout, free_port, wait_for


def _threads_in_state(pid: int, state: str) -> bool:
    """True when every thread of ``pid`` is in ``state`` (signal delivery to threads is asynchronous)."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue
    return bool(states) and all(s == state for s in states)


@dataclass
class ZoneSpec:
    """A zone served by a :class:`BindServer`, its TSIG key name and initial records.

    ``records`` maps a relative name to an address, a CNAME target or a list of them.
    """

    zone: str
    key_name: str
    records: dict | None = None


class BindError(RuntimeError):
    """named could not be configured or did not become ready."""


class BindServer:
    def __init__(self, workdir: Path, zones: list[ZoneSpec], port: int | None = None,
                 listen: str = "127.0.0.1") -> None:
        self.workdir = Path(workdir).resolve()
        self.zones = list(zones)
        self._port = port
        self.listen = listen
        self.pidfile = self.workdir / "run" / "opskit-named.pid"
        self.log = self.workdir / "named.log"
        self.server_id: str | None = None
        self._started_once = False

    # -- public properties ------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            self._port = free_port(self.listen)
        return self._port

    @property
    def address(self) -> str:
        return self.listen

    @property
    def conf(self) -> Path:
        return self.workdir / "named.conf"

    def key_file(self, key_name: str) -> Path:
        return self.workdir / "keys" / f"{key_name}.key"

    @property
    def pid(self) -> int | None:
        return procs.read_pid(self.pidfile)

    def running(self) -> bool:
        pid = self.pid
        return pid is not None and procs.pid_alive(pid)

    # -- life cycle -------------------------------------------------------------------------
    def write_config(self, fresh_zones: bool = True) -> None:
        from opskit.dns.keys import generate_key, load_key
        from opskit.dns.server_config import ZoneConfig, check_config, records_from_mapping, write_server_config

        configs = []
        keys = {}
        for spec in self.zones:
            if spec.key_name not in keys:
                kf = self.key_file(spec.key_name)
                keys[spec.key_name] = load_key(kf, spec.key_name) if kf.exists() else generate_key(spec.key_name)
            configs.append(ZoneConfig(spec.zone, keys[spec.key_name], records_from_mapping(spec.zone, spec.records)))
        files = write_server_config(self.workdir, configs, listen=self.listen, port=self.port,
                                    server_id=self.server_id, overwrite_zones=fresh_zones)
        self.server_id = files.server_id
        check_config(files)

    def start(self, timeout: float = 20.0, fresh_zones: bool | None = None) -> "BindServer":
        """Write the configuration and start named; return once it serves every zone.

        The first start writes fresh zone files; a restart keeps the zones' data (journals)
        unless ``fresh_zones=True``. "First" is decided by what is on disk, not by this object: a
        BindServer made afresh for a directory that already holds zones (another process undoing the
        ``stop_dns`` fault) must not put every zone back to serial 1 and lose the dynamic updates.
        """
        if self.running():
            return self
        have_zones = all((self.workdir / "zones" / f"db.{z.zone}").exists() for z in self.zones) and bool(self.zones)
        fresh = (not self._started_once and not have_zones) if fresh_zones is None else fresh_zones
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config(fresh_zones=fresh)
        (self.workdir / "run" / "named.pid").unlink(missing_ok=True)
        procs.spawn(["named", "-g", "-c", str(self.conf)], pidfile=self.pidfile, log=self.log)
        self._started_once = True
        try:
            wait_for(self._ready, timeout=timeout, what=f"named on {self.listen}:{self.port} to serve its zones")
        except WaitTimeout as exc:
            alive = self.running()
            self.stop()
            raise BindError(f"{exc}; named {'was running' if alive else 'exited'}; log tail:\n{self._log_tail()}") from None
        return self

    def _ready(self) -> bool:
        import dns.flags
        import dns.message
        import dns.query
        import dns.rcode

        if not self.running():
            raise BindError("named exited")
        q = dns.message.make_query("id.server", "TXT", rdclass="CH")
        r = dns.query.udp(q, self.listen, timeout=0.5, port=self.port)
        ids = [rd.strings[0].decode() for rrset in r.answer for rd in rrset]
        if ids != [self.server_id]:
            return False
        for spec in self.zones:
            r = dns.query.udp(dns.message.make_query(spec.zone, "SOA"), self.listen, timeout=0.5, port=self.port)
            if r.rcode() != dns.rcode.NOERROR or not (r.flags & dns.flags.AA) or not r.answer:
                return False
        return True

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(ln for ln in text[-lines:] if "secret" not in ln.lower())

    def stop(self) -> bool:
        """Stop named by its pid file (a paused server is resumed first so SIGTERM is handled)."""
        pid = self.pid
        if pid is not None and procs.pid_alive(pid):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        return procs.stop(self.pidfile)

    def pause(self) -> None:
        """SIGSTOP: the port stays open and connections are accepted, but nothing is answered."""
        pid = self._live_pid()
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: _threads_in_state(pid, "T"), timeout=5, what=f"named pid {pid} to stop", interval=0.001)

    def resume(self) -> None:
        pid = self._live_pid()
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: not _threads_in_state(pid, "T"), timeout=5, what=f"named pid {pid} to continue",
                 interval=0.001)

    def _live_pid(self) -> int:
        pid = self.pid
        if pid is None or not procs.pid_alive(pid):
            raise BindError("named is not running")
        return pid

    def __enter__(self) -> "BindServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
