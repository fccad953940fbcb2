"""D4: the run lock is per fleet: symlinked or copied inventories and operators with another HOME meet it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.trust.cli import inventory_text

REPO = Path(__file__).resolve().parents[2]
HOLD = textwrap.dedent("""
    import sys
    from opskit.runlock import fleet_lock
    with fleet_lock(sys.argv[1], "rollout.logging", scope="containers") as lock:
        print("held", lock.path, flush=True)
        sys.stdin.read()
""")
TRY = textwrap.dedent("""
    import sys
    from opskit.errors import LockHeld
    from opskit.runlock import fleet_lock
    try:
        with fleet_lock(sys.argv[1], "rollout.volumes", scope="containers") as lock:
            print("took", lock.path)
    except LockHeld as exc:
        print("held-by-other", exc)
""")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPSKIT_STATE_DIR", "OPSKIT_LOCK_DIR")}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), "PYTHONPATH": str(REPO)}


@pytest.fixture
def fleet(tmp_path):
    name = f"locktest-{uuid.uuid4().hex[:8]}"
    real = tmp_path / "ops" / "fleet.yaml"
    real.parent.mkdir()
    real.write_text(inventory_text(22).replace("name: tripwire", f"name: {name}"))
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    copy = tmp_path / "elsewhere" / "copy-of-fleet.yaml"
    copy.parent.mkdir()
    copy.write_text(real.read_text())
    yield name, real, link, copy
    for p in Path("/run/lock/opskit").glob(f"{name}-*.lock"):
        p.unlink(missing_ok=True)


@pytest.mark.parametrize("other", ["link", "copy"])
def test_two_operators_with_other_homes_and_paths_meet_one_lock(tmp_path, fleet, other):
    name, real, link, copy = fleet
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(real)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=_env(tmp_path / "home-alice"), cwd=str(tmp_path))
    try:
        line = holder.stdout.readline().split()
        assert line[0] == "held", line
        assert not line[1].startswith(str(tmp_path)), f"the lock is in a private place: {line[1]}"
        path = str(link if other == "link" else copy)
        got = subprocess.run([sys.executable, "-c", TRY, path], capture_output=True, text=True,
                             env=_env(tmp_path / "home-bob"), cwd="/", timeout=60)
        assert got.stdout.startswith("held-by-other"), (got.stdout, got.stderr)
        assert f"pid {holder.pid}" in got.stdout
    finally:
        holder.stdin.close()
        holder.wait(10)
    got = subprocess.run([sys.executable, "-c", TRY, str(copy)], capture_output=True, text=True,
                         env=_env(tmp_path / "home-bob"), timeout=60)
    assert got.stdout.startswith("took"), (got.stdout, got.stderr)


def test_another_fleet_is_not_blocked(tmp_path, fleet):
    name, real, link, copy = fleet
    other = tmp_path / "other.yaml"
    other.write_text(real.read_text().replace(f"name: {name}", f"name: {name}-b"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(real)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=_env(tmp_path / "home-alice"))
    try:
        assert holder.stdout.readline().startswith("held")
        got = subprocess.run([sys.executable, "-c", TRY, str(other)], capture_output=True, text=True,
                             env=_env(tmp_path / "home-bob"), timeout=60)
        assert got.stdout.startswith("took"), got.stdout
    finally:
        holder.stdin.close()
        holder.wait(10)
        for p in Path("/run/lock/opskit").glob(f"{name}-b-*.lock"):
            p.unlink(missing_ok=True)
