"""One lab host: a network namespace with its own sshd, Docker engine, disk and node_exporter.

A lab host is built from four namespaces that the lab owns:

* a **network** namespace (``/var/run/netns/<netns>``, see :mod:`opskit_lab.netns`) with ``eth0`` on the
  lab bridge;
* a **mount** namespace (bind-mounted at ``<state>/ns/<host>.mnt``) in which the host's own loop-mounted
  ext4 disk is bound at ``/var/lib/docker`` and ``/var/hyperledger``, so ``df`` on those paths over SSH
  shows that host's disk and a test can fill it;
* a **UTS** namespace (``<state>/ns/<host>.uts``) so ``hostname`` answers the host's name;
* every daemon (sshd, dockerd, node_exporter) is started inside all three with ``nsenter``
  (not ``ip netns exec``, which remounts /sys and breaks dockerd).

Each daemon has its own config, socket and pid file under ``<state>/hosts/<host>/`` and is stopped
only through that pid file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from opskit.errors import OpskitError
from opskit_lab import procs
from opskit_lab.netns import HostLink
from opskit_lab.wait import port_open, wait_for

SSHD = "/usr/sbin/sshd"
DOCKERD = "dockerd"
NODE_EXPORTER = "prometheus-node-exporter"
SSH_PORT = 22
NODE_EXPORTER_PORT = 9100
#: Paths at which each host sees its own disk (the paths of a real fleet VM).
DOCKER_ROOT = "/var/lib/docker"
LEDGER_ROOT = "/var/hyperledger"
DOCKER_ETC = "/etc/docker"
#: each engine's /etc/docker/daemon.json: json-file logs without rotation (what the fleet has before a rollout)
DAEMON_JSON: dict = {"log-driver": "json-file"}

_losetup_lock = threading.Lock()


class HostError(OpskitError):
    """A lab host could not be built, started or stopped."""


def _run(argv: list[str], *, check: bool = True, timeout: float = 60, input: bytes | None = None
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=input is None, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        raise HostError(f"`{' '.join(argv)}` failed ({proc.returncode}): {err.strip()}")
    return proc


def mounted_at(path: Path | str) -> bool:
    """True when something is mounted exactly at ``path`` in this (the root) mount namespace."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                mnt = line.split()[4].encode().decode("unicode_escape")
                if mnt == target:
                    return True
    except OSError:
        return False
    return False


def mounts_under(path: Path | str) -> list[str]:
    """Mount points at or below ``path``, deepest first (the order to unmount them)."""
    root = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == root or mnt.startswith(root + "/"):
                found.append(mnt)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def loop_devices_of(image: Path | str) -> list[str]:
    """Loop devices backed by ``image`` (``losetup -j``)."""
    proc = _run(["losetup", "-j", str(image)], check=False)
    return [line.split(":", 1)[0] for line in proc.stdout.splitlines() if line.strip()]


def docker_ping(sock: Path | str, timeout: float = 1.0) -> bool:
    """True when the Docker engine behind unix socket ``sock`` answers ``GET /_ping`` with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head = data.split(b"\r\n", 1)[0]
        return head.startswith(b"HTTP/1.") and b" 200" in head and data.rstrip().endswith(b"OK")
    except OSError:
        return False


@dataclass
class HostConfig:
    """What a lab host is; everything else is derived from it."""

    name: str
    link: HostLink
    root: Path          #: the host's directory in the lab state dir
    ns_dir: Path        #: the lab's private directory holding the namespace files
    disk_mb: int = 384


class LabHost:
    """Build, start, stop and tear down one lab host."""

    def __init__(self, cfg: HostConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.link = cfg.link
        self.address = cfg.link.address
        r = cfg.root
        self.root = r
        self.run_dir = r / "run"
        self.log_dir = r / "log"
        self.disk_image = r / "disk.img"
        self.disk_mnt = r / "disk"
        self.mnt_ns = cfg.ns_dir / f"{cfg.name}.mnt"
        self.uts_ns = cfg.ns_dir / f"{cfg.name}.uts"
        self.docker_sock = self.run_dir / "docker.sock"
        self.sshd_config = r / "sshd_config"
        self.host_key = r / "ssh_host_ed25519_key"
        self.authorized_keys = r / "authorized_keys"
        self.pid_sshd = self.run_dir / "sshd.pid"
        self.pid_dockerd = self.run_dir / "dockerd.pid"
        self.pid_node_exporter = self.run_dir / "node_exporter.pid"

    # -- derived -------------------------------------------------------------------------
    @property
    def docker(self) -> list[str]:
        """The docker CLI prefix that talks to this host's engine from the root namespace."""
        return ["docker", "-H", f"unix://{self.docker_sock}"]

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_sock}"

    @property
    def disk_docker_dir(self) -> Path:
        """This host's /var/lib/docker as seen from the root namespace."""
        return self.disk_mnt / "docker"

    @property
    def disk_ledger_dir(self) -> Path:
        """This host's /var/hyperledger as seen from the root namespace."""
        return self.disk_mnt / "hyperledger"

    def nsenter(self) -> list[str]:
        """argv prefix that runs a command inside this host (network, mount and UTS namespaces)."""
        return ["nsenter", f"--net={self.link.path}", f"--mount={self.mnt_ns}", f"--uts={self.uts_ns}", "--"]

    def exec(self, argv: list[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside this host and wait for it (the lab's back door; tests use SSH)."""
        return _run([*self.nsenter(), *argv], check=check, timeout=timeout)

    # -- build -------------------------------------------------------------------------------
    def create_disk(self) -> str:
        """A sparse ext4 image, attached to a loop device and mounted at ``disk/``; returns the device."""
        self.root.mkdir(parents=True, exist_ok=True)
        for d in (self.run_dir, self.log_dir, self.disk_mnt):
            d.mkdir(exist_ok=True)
        with open(self.disk_image, "wb") as fh:
            fh.truncate(self.cfg.disk_mb * 1024 * 1024)
        _run(["mkfs.ext4", "-q", "-F", "-m", "1", "-L", self.name[:16],
              "-E", "lazy_itable_init=1,lazy_journal_init=1", str(self.disk_image)])
        with _losetup_lock:  # parallel `losetup -f` can race for the same free device
            dev = _run(["losetup", "--find", "--show", str(self.disk_image)]).stdout.strip()
        _run(["mount", "-t", "ext4", dev, str(self.disk_mnt)])
        for sub in ("docker", "hyperledger"):
            (self.disk_mnt / sub).mkdir(exist_ok=True)
        return dev

    def create_namespaces(self, nameserver: str | None = None) -> None:
        """The host's mount and UTS namespaces, with its disk bound at the fleet's usual paths.

        The host also gets its own ``/etc/hosts`` and ``/etc/resolv.conf`` (the lab's DNS server
        ``nameserver``): the machine's resolver is not reachable from the lab network, and a resolver that
        times out makes every reverse lookup (Python's HTTPServer does one at bind) hang for seconds.
        """
        for f in (self.mnt_ns, self.uts_ns):
            f.touch()
        etc = self.root / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{self.address} {self.name}\n")
        (etc / "resolv.conf").write_text(
            (f"nameserver {nameserver}\n" if nameserver else "") + "options timeout:1 attempts:1\n")
        _run(["unshare", f"--mount={self.mnt_ns}", f"--uts={self.uts_ns}", "--propagation", "private",
              "hostname", self.name])
        # the engine's own /etc/docker: its daemon.json and key.json (the engine ID) are this host's
        (etc / "docker").mkdir(exist_ok=True)
        (etc / "docker" / "daemon.json").write_text(json.dumps(DAEMON_JSON, indent=2) + "\n")
        for src, dst in ((self.disk_docker_dir, DOCKER_ROOT), (self.disk_ledger_dir, LEDGER_ROOT),
                         (etc / "hosts", "/etc/hosts"), (etc / "resolv.conf", "/etc/resolv.conf"),
                         (etc / "docker", DOCKER_ETC)):
            _run(["nsenter", f"--mount={self.mnt_ns}", "--", "mount", "--bind", str(src), dst])
        # The new namespace copied every mount of the machine, including the disks of the other lab hosts
        # (and of other labs): detach those here, so this host sees only its own disk and holds no other
        # (a copy would keep another host's disk busy after that host was torn down).
        listing = _run(["nsenter", f"--mount={self.mnt_ns}", "--", "findmnt", "-rn", "-o", "TARGET"]).stdout
        state_root = str(self.cfg.ns_dir.parent.parent)
        targets = [t.encode().decode("unicode_escape") for t in listing.split()]
        # Also drop the copies of /run/netns/* (they would keep every other host's network namespace alive).
        for target in sorted({t for t in targets if t == state_root or t.startswith(state_root + "/")
                              or t.startswith("/run/netns/") or t.startswith("/var/run/netns/")},
                             key=lambda t: t.count("/"), reverse=True):
            _run(["nsenter", f"--mount={self.mnt_ns}", "--", "umount", "-l", target], check=False)

    def write_sshd_config(self, authorized_key: str) -> None:
        if not self.host_key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}", "-f", str(self.host_key)])
        self.authorized_keys.write_text(authorized_key.strip() + "\n")
        os.chmod(self.authorized_keys, 0o600)
        self.sshd_config.write_text(
            f"# lab host {self.name}: written by opskit_lab\n"
            f"ListenAddress {self.address}:{SSH_PORT}\n"
            f"PidFile {self.run_dir}/sshd.own.pid\n"
            f"HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "PermitRootLogin prohibit-password\nPrintMotd no\nPrintLastLog no\nUseDNS no\n"
            "MaxStartups 200:30:400\nMaxSessions 100\nLogLevel INFO\n"
            "Subsystem sftp internal-sftp\n"
            f"SetEnv DOCKER_HOST={self.docker_host}\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd -t checks its privsep directory too
        _run([SSHD, "-t", "-f", str(self.sshd_config)])

    # -- daemons -------------------------------------------------------------------------
    def start_sshd(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        procs.spawn([*self.nsenter(), SSHD, "-D", "-f", str(self.sshd_config), "-E", str(self.log_dir / "sshd.log")],
                    pidfile=self.pid_sshd, log=self.log_dir / "sshd.out")

    def sshd_up(self) -> bool:
        pid = procs.read_pid(self.pid_sshd)
        return pid is not None and procs.pid_alive(pid) and port_open(self.address, SSH_PORT)

    def wait_sshd(self, timeout: float = 20) -> None:
        wait_for(self.sshd_up, timeout=timeout, what=f"sshd of lab host {self.name} on {self.address}:{SSH_PORT}")

    def stop_sshd(self) -> None:
        """Stop the listener by its pid file, then every session process it forked (its descendants).

        Session processes would otherwise outlive the listener (and a pre-auth ``sshd: [net]`` child whose
        monitor died waits forever), keeping the host's namespaces and disk busy.
        """
        pid = procs.read_pid(self.pid_sshd)
        if pid is not None and _state(pid) == "T":
            _kill_quietly(pid, signal.SIGCONT)  # a hung (SIGSTOPped) sshd cannot handle SIGTERM
        descendants = _descendants(pid) if pid else []
        procs.stop(self.pid_sshd, timeout=5)
        for child in descendants:
            _kill_quietly(child, signal.SIGKILL)

    def start_dockerd(self) -> None:
        procs.spawn([*self.nsenter(), DOCKERD,
                     "--data-root", DOCKER_ROOT,
                     "--exec-root", str(self.run_dir / "dexec"),
                     "-H", self.docker_host,
                     "--pidfile", str(self.run_dir / "dockerd.own.pid"),
                     "--config-file", f"{DOCKER_ETC}/daemon.json",
                     "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                     "--userland-proxy=false", "--shutdown-timeout=2"],
                    pidfile=self.pid_dockerd, log=self.log_dir / "dockerd.log")

    def dockerd_up(self) -> bool:
        pid = procs.read_pid(self.pid_dockerd)
        return pid is not None and procs.pid_alive(pid) and docker_ping(self.docker_sock)

    def wait_dockerd(self, timeout: float = 40) -> None:
        def ready() -> bool:
            pid = procs.read_pid(self.pid_dockerd)
            if pid is None or not procs.pid_alive(pid):
                tail = _tail(self.log_dir / "dockerd.log")
                raise HostError(f"dockerd of lab host {self.name} exited: {tail}")
            return docker_ping(self.docker_sock)

        try:
            wait_for(ready, timeout=timeout, what=f"the Docker engine of lab host {self.name}")
        except TimeoutError as exc:
            raise HostError(f"{exc}; last log lines: {_tail(self.log_dir / 'dockerd.log')}") from None

    def stop_dockerd(self, *, remove_containers: bool = False, timeout: float = 20) -> None:
        """Stop the engine by its pid file. With ``remove_containers`` first remove (kill) every container."""
        if remove_containers and self.dockerd_up():
            ids = _run([*self.docker, "ps", "-aq"], check=False, timeout=20).stdout.split()
            if ids:
                _run([*self.docker, "rm", "-f", *ids], check=False, timeout=60)
        procs.stop(self.pid_dockerd, timeout=timeout)

    def start_node_exporter(self, port: int = NODE_EXPORTER_PORT) -> None:
        # A private PID namespace with its own /proc makes node_exporter read this host's mount table
        # (it reads /proc/1/mounts), so its filesystem metrics are this host's disk.
        exclude = r"^/(dev|proc|run|sys|mnt|media|var/tmp|tmp|var/lib/docker/.+)($|/)"
        procs.spawn([*self.nsenter(), "unshare", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child", "--",
                     NODE_EXPORTER, f"--web.listen-address={self.address}:{port}",
                     "--collector.disable-defaults",
                     *(f"--collector.{c}" for c in ("cpu", "diskstats", "filesystem", "loadavg", "meminfo",
                                                     "netdev", "stat", "time", "uname", "vmstat")),
                     f"--collector.filesystem.mount-points-exclude={exclude}"],
                    pidfile=self.pid_node_exporter, log=self.log_dir / "node_exporter.log")

    def wait_node_exporter(self, port: int = NODE_EXPORTER_PORT, timeout: float = 20) -> None:
        wait_for(lambda: port_open(self.address, port), timeout=timeout,
                 what=f"node_exporter of lab host {self.name} on {self.address}:{port}")

    def stop_node_exporter(self) -> None:
        # unshare --fork ignores SIGTERM while it waits; SIGKILL it and --kill-child takes node_exporter along.
        procs.stop(self.pid_node_exporter, sig=signal.SIGKILL, timeout=5)

    # -- teardown ----------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Stop every daemon, release namespaces, unmount and detach the disk. Returns problems (empty = clean)."""
        problems: list[str] = []
        steps = [
            ("node_exporter", self.stop_node_exporter),
            ("sshd", self.stop_sshd),
            ("dockerd", lambda: self.stop_dockerd(remove_containers=True)),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # keep going: a half-built host must still be torn down
                problems.append(f"{self.name}: stopping {what}: {exc}")
        # Safety net: anything still running inside this host's namespaces was started there by the lab
        # (a session's command, a container left behind); it would keep the disk busy.
        if mounted_at(self.mnt_ns) or Path(self.link.path).exists():
            stray = pids_in_namespaces(self.mnt_ns, self.link.path) if mounted_at(self.mnt_ns) else \
                pids_in_namespaces(Path("/nonexistent"), self.link.path)
            for pid in stray:
                _kill_quietly(pid, signal.SIGKILL)
            try:
                wait_for(lambda: not any(_state(p) not in ("Z", "X", "") for p in stray), timeout=10,
                         what=f"stray processes of lab host {self.name} to exit")
            except TimeoutError as exc:
                problems.append(f"{self.name}: {exc}")
        for f in (self.mnt_ns, self.uts_ns):
            if mounted_at(f):
                proc = _run(["umount", str(f)], check=False)
                if proc.returncode != 0:
                    problems.append(f"{self.name}: umount {f}: {proc.stderr.strip()}")
        for mnt in mounts_under(self.root):
            proc = _run(["umount", mnt], check=False)
            if proc.returncode != 0:
                proc = _run(["umount", "-l", mnt], check=False)
                if proc.returncode != 0:
                    problems.append(f"{self.name}: umount {mnt}: {proc.stderr.strip()}")
        if self.disk_image.exists():
            for dev in loop_devices_of(self.disk_image):
                proc = _run(["losetup", "-d", dev], check=False)
                if proc.returncode != 0:
                    problems.append(f"{self.name}: losetup -d {dev}: {proc.stderr.strip()}")
        return problems


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = _children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _ns_inode(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_namespaces(mnt_ns: Path, net_ns: str) -> list[int]:
    """Live processes whose mount namespace is ``mnt_ns`` or whose network namespace is ``net_ns``."""
    want_mnt, want_net = _ns_inode(mnt_ns), _ns_inode(net_ns)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if _state(pid) in ("Z", "X", ""):
            continue
        if (want_mnt and _ns_inode(f"/proc/{pid}/ns/mnt") == want_mnt) or \
                (want_net and _ns_inode(f"/proc/{pid}/ns/net") == want_net):
            found.append(pid)
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kill_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
