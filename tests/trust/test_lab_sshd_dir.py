"""Lab: `lab.up` on a machine without /run/sshd (sshd -t checks the privilege separation directory)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from opskit_lab.hosts import HostConfig, LabHost
    from opskit_lab.netns import HostLink
    assert not os.path.exists("/run/sshd"), "the private /run should be empty"
    root = Path(sys.argv[1])
    h = LabHost(HostConfig("vmx", HostLink("x", "x", "10.81.0.99", 25, "10.81.0.1"), root, root / "ns"))
    root.mkdir(parents=True, exist_ok=True)
    h.run_dir.mkdir(parents=True, exist_ok=True)
    h.write_sshd_config("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8yFZ9sZ3Z9m0q0Xl3n0kq3pZ3vR8mZ3f0p3yZ9sZ3Z test")
    print("ok", os.path.isdir("/run/sshd"))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace needs root")
@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(),
                    reason="needs unshare(1) and sshd")
def test_sshd_config_check_works_without_run_sshd(tmp_path):
    # a private mount namespace with an empty /run: this machine's /run is not touched
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'mount -t tmpfs tmpfs /run && exec "$0" -c "$1" "$2"', sys.executable, CHECK,
                           str(tmp_path / "host")], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "True"]
