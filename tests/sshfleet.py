"""Real sshd daemons on loopback ports for the remote-engine tests (no lab needed).

Four hosts: two healthy sshd, one whose sshd was stopped (port closed), and one
"tarpit" that accepts TCP but never says a word of SSH.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from opskit.inventory import load_text
from opskit_lab import procs
from opskit_lab.wait import free_port, port_open, wait_for

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class _Sshd:
    def __init__(self, root: Path, name: str, client_pub: Path) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.port = free_port()
        _keygen(self.dir / "host_key")
        shutil.copy(client_pub, self.dir / "authorized_keys")
        self.pidfile = self.dir / "sshd.pid"
        (self.dir / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir}/host_key\n"
            f"PidFile {self.dir}/sshd.pid.daemon\nAuthorizedKeysFile {self.dir}/authorized_keys\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "PermitRootLogin yes\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory (root's sshd only)
        procs.spawn([SSHD, "-D", "-f", str(self.dir / "sshd_config"), "-E", str(self.dir / "sshd.log")],
                    pidfile=self.pidfile, log=self.dir / "sshd.out")
        wait_for(lambda: port_open("127.0.0.1", self.port), timeout=10, what=f"sshd on port {self.port}")

    def stop(self) -> None:
        procs.stop(self.pidfile)


class _Tarpit:
    """Accepts TCP connections and never answers (a hung host)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture(scope="session")
def ssh_fleet(tmp_path_factory):
    """Yield (inventory text builder, info) for a loopback fleet of real sshd hosts."""
    if not Path(SSHD).exists():
        pytest.fail("sshd is not installed: run tests/install.sh")
    root = tmp_path_factory.mktemp("sshfleet")
    _keygen(root / "client_key")
    good = [_Sshd(root, f"h{i}", root / "client_key.pub") for i in (1, 2)]
    dead = _Sshd(root, "dead", root / "client_key.pub")
    for s in good + [dead]:
        s.start()
    known = root / "known_hosts"
    lines = []
    for s in good + [dead]:
        out = subprocess.run(["ssh-keyscan", "-p", str(s.port), "-t", "ed25519", "127.0.0.1"],
                             capture_output=True, text=True, timeout=10).stdout
        lines.append(out)
    known.write_text("".join(lines))
    dead.stop()
    wait_for(lambda: not port_open("127.0.0.1", dead.port), timeout=10, what="dead sshd port to close")
    tarpit = _Tarpit()
    info = {
        "root": root, "key": root / "client_key", "known_hosts": known,
        "ports": {"h1": good[0].port, "h2": good[1].port, "dead": dead.port, "hung": tarpit.port},
    }
    yield info
    tarpit.close()
    for s in good:
        s.stop()


def fleet_inventory(info, hosts=("h1", "h2"), *, strict=True, known_hosts=None, connect_timeout=2, host_timeout=8):
    user = pwd.getpwuid(os.geteuid()).pw_name  # a non-root sshd can only let in the user it runs as
    lines = [
        "version: 2", "name: sshfleet", "defaults:", f"  ssh_user: {user}", f"  key_file: {info['key']}",
        f"  known_hosts: {known_hosts or info['known_hosts']}", f"  strict_host_keys: {'true' if strict else 'false'}",
        f"  connect_timeout: {connect_timeout}", f"  host_timeout: {host_timeout}", "hosts:",
    ]
    for h in hosts:
        lines += [f"  {h}:", "    address: 127.0.0.1", f"    port: {info['ports'][h]}"]
    return load_text("\n".join(lines) + "\n", "sshfleet.yaml")
