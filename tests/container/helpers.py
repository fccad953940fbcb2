"""Test helpers for container changes against the lab: data snapshots, heights, volumeless nodes, images."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from opskit_lab.standin.launch import DATA_PATHS, control, get, run_argv
from opskit_lab.wait import wait_for
from tests.conftest import inv_argv

REPO = Path(__file__).resolve().parents[2]


def docker(lab: Any, host: str, *args: str, input: bytes | None = None, check: bool = True,
           timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([*lab.host(host).docker, *args], input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} on {host}: {proc.stderr.decode(errors='replace')}")
    return proc


def inspect(lab: Any, node: str) -> dict[str, Any] | None:
    n = lab.node(node)
    proc = docker(lab, n.host, "container", "inspect", n.container, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def data_paths(lab: Any, node: str) -> list[str]:
    n = lab.node(node)
    if n.ledger_path:
        return [n.ledger_path]
    return list(DATA_PATHS[n.kind])


def snapshot(lab: Any, node: str) -> dict[str, bytes]:
    """Every regular file under the node's data paths (read through ``docker cp``, running or stopped)."""
    n = lab.node(node)
    files: dict[str, bytes] = {}
    for path in data_paths(lab, node):
        proc = docker(lab, n.host, "cp", f"{n.container}:{path}", "-", check=False, timeout=120)
        if proc.returncode != 0:
            continue
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    files[f"{os.path.dirname(path)}/{m.name}"] = tar.extractfile(m).read()  # type: ignore[union-attr]
    return files


def prefix_intact(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Files whose bytes from before are not the start of their bytes after (empty: nothing lost)."""
    bad = []
    for path, data in before.items():
        now = after.get(path)
        if now is None or hashlib.sha256(now[:len(data)]).digest() != hashlib.sha256(data).digest():
            bad.append(path)
    return bad


def heights(lab: Any, node: str) -> dict[str, int]:
    code, body = get(lab.operations_url(node), "/lab/state", timeout=3)
    assert code == 200, body
    return json.loads(body)["heights"]


def advance_all(lab: Any, blocks: int = 2) -> None:
    for n in lab.topology.nodes:
        if n.kind in ("orderer", "peer"):
            control(lab.operations_url(n.name), "advance", blocks=blocks)


def make_volumeless(lab: Any, node: str) -> None:
    """Recreate a lab node's container with its data in the container layer (no named volumes), data kept.

    This is the state the volumes rollout fixes (the disk-full incident's orderer lost its ledger this way).
    The node's old volumes are removed so that the rollout creates them afresh.
    """
    n = lab.node(node)
    spec = lab.standin_spec(n)
    old_volumes = list(spec.volumes.values())
    spec.volumes = {}
    argv = run_argv(spec)
    assert argv[:2] == ["run", "-d"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out:
        made: set[str] = set()
        for path in data_paths(lab, node):
            proc = docker(lab, n.host, "cp", f"{n.container}:{path}", "-", timeout=120)
            parent = os.path.dirname(path).strip("/")
            parts = parent.split("/") if parent else []
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    out.addfile(info)
                    made.add(d)
            with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as src:
                for m in src.getmembers():
                    data = src.extractfile(m) if m.isfile() else None
                    m.name = f"{parent}/{m.name}" if parent else m.name
                    out.addfile(m, data)
    docker(lab, n.host, "stop", "-t", "2", n.container)
    docker(lab, n.host, "rm", n.container)
    for vol in old_volumes:
        docker(lab, n.host, "volume", "rm", vol)
    docker(lab, n.host, "create", *argv[2:])
    docker(lab, n.host, "cp", "-", f"{n.container}:/", input=buf.getvalue())
    docker(lab, n.host, "start", n.container)
    wait_running(lab, node)


def wait_running(lab: Any, node: str, timeout: float = 30) -> None:
    n = lab.node(node)

    def ok() -> bool:
        doc = inspect(lab, node)
        if not doc or not doc["State"]["Running"]:
            return False
        if n.operations_port:
            return get(lab.operations_url(node), "/healthz", timeout=1.0)[0] == 200
        return True

    wait_for(ok, timeout=timeout, what=f"{node} running")


def mounts(lab: Any, node: str) -> dict[str, str]:
    doc = inspect(lab, node)
    assert doc is not None
    return {m["Destination"]: m.get("Name", m.get("Source", "")) for m in doc["Mounts"]}


def make_broken_image(lab: Any, host: str, tag: str = "opskit-lab/broken:1") -> str:
    """An image whose entrypoint exits at once (``/bin/false`` of the stand-in's busybox)."""
    names = docker(lab, host, "ps", "--format", "{{.Names}}").stdout.decode().split()
    docker(lab, host, "commit", "--pause=false", "--change", 'ENTRYPOINT ["/bin/false"]', names[0], tag)
    return tag


def run_opskit(args: list[str], state_dir: str, **kw: Any) -> subprocess.Popen:
    env = {**os.environ, "OPSKIT_STATE_DIR": state_dir, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(inv_argv(*args, program="opskit"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd="/", **kw)


def wait_journal(path: Path, step: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Until the journal shows ``step`` begun (or the process ended: then fail with its output)."""
    def seen() -> bool:
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if e["step"] == step and e["phase"] == "begin":
                    return True
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"opskit ended before {step}: {out.decode()[-2000:]} {err.decode()[-2000:]}")
        return False

    wait_for(seen, timeout=timeout, what=f"journal step {step} begun", interval=0.01, max_interval=0.02)


def elapsed(t0: float) -> float:
    return round(time.monotonic() - t0, 2)
