"""Images for the lab without a registry: a busybox root filesystem plus the stand-in program.

The stand-in image holds ``/bin/busybox`` (Debian's busybox-static) with applet symlinks, ``/opt/standin/node.py``,
``/opt/standin/peer_cli.py`` with its ``/bin/peer`` wrapper (the tools container's ``peer`` command),
``/opt/standin/channels.py`` (channel configs of orderers, imported lazily: it needs the protobuf libraries that
``StandinSpec(pylib=True)`` mounts at ``/opt/pylib``),
``/opt/standin/blockfile.py`` (opskit/ledger/blockfile.py) and the seed ledgers from ``lab/opskit_lab/standin/seed``.
Python itself is not in the image: containers bind-mount the host's /usr, /lib and /lib64 read-only
(see ``opskit_lab.standin.launch.run_argv``). The tar stream is built in memory and fed to ``docker import``.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import opskit.ledger.blockfile as _blockfile
from opskit.errors import OpskitError
from opskit_lab.standin.launch import IMAGE, NODE_PY

BUSYBOX = Path("/bin/busybox")
#: opskit's block-file module (stdlib only): the stand-ins write and read real block files with it
BLOCKFILE_PY = Path(_blockfile.__file__).resolve()
SEED_DIR = NODE_PY.parent / "seed"
PEER_CLI_PY = NODE_PY.parent / "peer_cli.py"
CHANNELS_PY = NODE_PY.parent / "channels.py"
#: ``peer`` inside a stand-in container (on /bin: /usr is the host's, bind-mounted read-only)
PEER_WRAPPER = b'#!/bin/sh\nexec /usr/bin/python3 /opt/standin/peer_cli.py "$@"\n'
APPLETS = ("sh", "ash", "ls", "cat", "cp", "mv", "rm", "ln", "mkdir", "rmdir", "touch", "echo", "sleep", "ps",
           "kill", "df", "du", "head", "tail", "wc", "grep", "sed", "awk", "find", "tar", "gzip", "gunzip", "stat",
           "date", "env", "id", "hostname", "uname", "sync", "test", "[", "true", "false", "wget", "nc", "httpd",
           "chmod", "chown", "sort", "uniq", "tr", "cut", "xargs", "md5sum", "sha256sum", "dd", "truncate", "vi")
ENTRYPOINT = ["/usr/bin/python3", "-u", "/opt/standin/node.py"]
DIGEST_LABEL = "opskit.standin.digest"
_MTIME = 1_700_000_000  # fixed, so the same inputs give the same tar bytes and digest


class ImageBuildError(OpskitError):
    """docker import (or inspect) failed on an engine."""


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, _MTIME
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _MTIME
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, _MTIME
    tar.addfile(info)


def add_busybox_base(tar: tarfile.TarFile, extra_dirs: Sequence[str] = ()) -> None:
    """The root filesystem every lab image starts from: busybox with its applets, root and nobody, and the
    directories Fabric and the stand-ins write to (``extra_dirs`` added, parents first)."""
    for d in ("bin", "etc", *extra_dirs, "root", "var", "var/hyperledger", "var/hyperledger/production", "proc",
              "sys", "dev", "run"):
        _add_dir(tar, d)
    _add_dir(tar, "tmp", 0o1777)
    _add_file(tar, "bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in APPLETS:
        _add_link(tar, f"bin/{applet}", "busybox")
    _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")


_cache: dict[tuple, bytes] = {}


def standin_rootfs_tar() -> bytes:
    """The stand-in root filesystem as an uncompressed tar stream (cached while its inputs are unchanged)."""
    seeds = sorted(p for p in SEED_DIR.rglob("*") if p.is_file())
    inputs = [BUSYBOX.resolve(), NODE_PY, BLOCKFILE_PY, PEER_CLI_PY, CHANNELS_PY, *seeds]
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in inputs)
    if key in _cache:
        return _cache[key]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_busybox_base(tar, ("opt", "opt/standin", "opt/standin/seed", "usr", "lib", "lib64"))
        _add_file(tar, "opt/standin/node.py", NODE_PY.read_bytes(), 0o755)
        _add_file(tar, "opt/standin/blockfile.py", BLOCKFILE_PY.read_bytes(), 0o644)
        _add_file(tar, "opt/standin/peer_cli.py", PEER_CLI_PY.read_bytes(), 0o755)
        _add_file(tar, "opt/standin/channels.py", CHANNELS_PY.read_bytes(), 0o644)
        _add_file(tar, "bin/peer", PEER_WRAPPER, 0o755)
        made = {"opt/standin/seed"}
        for path in seeds:
            rel = path.relative_to(SEED_DIR)
            for parent in reversed(rel.parents[:-1]):
                name = f"opt/standin/seed/{parent.as_posix()}"
                if name not in made:
                    _add_dir(tar, name)
                    made.add(name)
            _add_file(tar, f"opt/standin/seed/{rel.as_posix()}", path.read_bytes())
    data = buf.getvalue()
    _cache.clear()
    _cache[key] = data
    return data


def _changes(digest: str) -> list[str]:
    return [
        f"ENTRYPOINT {json.dumps(ENTRYPOINT)}",
        "ENV PATH=/bin:/usr/bin:/usr/sbin:/sbin",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        "WORKDIR /",
        f"LABEL {DIGEST_LABEL}={digest}",
        "LABEL opskit_lab=1",
    ]


def build_standin_image(docker: list[str], tag: str = IMAGE) -> str:
    """Build (``docker import``) the stand-in image on the engine that ``docker`` (an argv prefix) talks to.

    ``docker`` must run the CLI locally (e.g. ``["docker", "-H", "unix:///.../docker.sock"]``): the ``--change``
    values hold spaces and quotes, which a remote shell (``ssh host docker``) would split.

    Skipped when the engine already has ``tag`` built from identical inputs. Returns the image id.
    """
    data = standin_rootfs_tar()
    digest = hashlib.sha256(data).hexdigest()[:32]
    have = subprocess.run([*docker, "image", "inspect", "--format",
                           "{{.Id}} {{index .Config.Labels \"" + DIGEST_LABEL + "\"}}", tag],
                          capture_output=True, text=True)
    if have.returncode == 0:
        image_id, _, label = have.stdout.strip().partition(" ")
        if label == digest:
            return image_id
    argv = [*docker, "import"]
    for change in _changes(digest):
        argv += ["--change", change]
    done = subprocess.run([*argv, "-", tag], input=data, capture_output=True)
    if done.returncode != 0:
        raise ImageBuildError(f"docker import {tag} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def build_standin_images(dockers: Sequence[list[str]], tag: str = IMAGE) -> list[str]:
    """``build_standin_image`` on several engines at once (one thread each)."""
    with ThreadPoolExecutor(max_workers=max(1, len(dockers))) as pool:
        return list(pool.map(lambda d: build_standin_image(list(d), tag), dockers))
