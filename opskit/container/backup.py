"""Back up and restore a container's data paths with the container engine (``docker cp``), on its host.

A backup is one ``.tar.gz`` per data path, written next to nothing else in ``backup_dir`` on the node's host
(``docker cp CONTAINER:PATH - | gzip``): it works for running and stopped containers and needs nothing inside
the container. A restore puts a backup back into the named volume mounted at that path, replacing what the
volume holds: the container must be stopped, and the restore refuses paths that are not on a named volume
(it would have to rebuild the container's own layer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from opskit.container.docker import COPY_TIMEOUT, READ_TIMEOUT, DockerHost
from opskit.container.recreate import _BACKUP, _slug
from opskit.errors import OpskitError


class BackupError(OpskitError):
    """A backup or restore could not be made; the message names the node, path and file."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class BackupFile:
    """One data path of one container, saved as ``file`` on ``host``."""

    host: str
    container: str
    path: str
    file: str
    volume: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BackupFile":
        return cls(**{k: d.get(k) for k in ("host", "container", "path", "file", "volume")})  # type: ignore[arg-type]


def volume_paths(dh: DockerHost, container: str) -> dict[str, str]:
    """Container path -> named volume, for every named volume the (running or stopped) container mounts."""
    cfg = dh.inspect(container)
    if cfg is None:
        raise BackupError(f"{dh.name}: there is no container {container}")
    return {m.destination: m.source for m in cfg.mounts if m.type == "volume"}


def data_kib(dh: DockerHost, container: str) -> int:
    """KiB held by the container's named volumes (du on their mount points)."""
    total = 0
    for volume in volume_paths(dh, container).values():
        info = dh.volume_exists(volume) or {}
        mp = info.get("Mountpoint")
        if not mp:
            continue
        res = dh.run(["du", "-s", "-k", "--", mp], timeout=COPY_TIMEOUT, check=False)
        head = res.stdout.split()[:1]
        if head and head[0].isdigit():
            total += int(head[0])
    return total


def free_kib(dh: DockerHost, directory: str) -> int:
    """Free KiB on the file system that holds ``directory`` (or its nearest existing parent)."""
    res = dh.sh('d="$1"; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -P -k "$d"', directory,
                timeout=READ_TIMEOUT)
    return int(res.stdout.strip().splitlines()[-1].split()[3])


def backup(dh: DockerHost, container: str, backup_dir: str, *, tag: str | None = None) -> list[BackupFile]:
    """Save every named-volume path of ``container`` under ``backup_dir`` on its host."""
    stamp = tag or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = []
    for path, volume in sorted(volume_paths(dh, container).items()):
        dest = f"{backup_dir.rstrip('/')}/{container}-{stamp}-{_slug(path)}.tar.gz"
        res = dh.sh(_BACKUP, container, path, dest, timeout=COPY_TIMEOUT)
        if "@@file " not in res.stdout:
            raise BackupError(f"{dh.name}: backup of {container}:{path} made no file ({res.stdout.strip()[-200:]})")
        out.append(BackupFile(dh.name, container, path, dest, volume))
    return out


#: unpack a backup (tar of the path's directory, gzip'ed) into a volume's mount point, replacing its content
_RESTORE = r"""
set -e
file="$1"; mp="$2"; base="$3"
[ -f "$file" ] || { echo "backup file $file is missing" >&2; exit 1; }
stage="$mp/.opskit-restore.$$"
rm -rf "$mp"/.opskit-restore.*
mkdir "$stage"
if ! gunzip -c "$file" | tar -x -p --numeric-owner -C "$stage"; then
  rm -rf "$stage"; echo "cannot unpack $file" >&2; exit 1
fi
if [ ! -d "$stage/$base" ]; then rm -rf "$stage"; echo "$file holds no $base/" >&2; exit 1; fi
find "$mp" -mindepth 1 -maxdepth 1 ! -name ".opskit-restore.*" -exec rm -rf {} +
find "$stage/$base" -mindepth 1 -maxdepth 1 -exec mv -t "$mp" {} +
rm -rf "$stage"
sync
echo "@@restored $(find "$mp" -type f | wc -l)"
"""


def restore(dh: DockerHost, item: BackupFile) -> int:
    """Put ``item`` back into the volume at its path; the container must be stopped. Returns the file count."""
    cfg = dh.inspect(item.container)
    if cfg is None:
        raise BackupError(f"{dh.name}: there is no container {item.container} to restore into")
    if cfg.running:
        raise BackupError(f"{dh.name}: {item.container} is running; stop it before restoring {item.path}")
    volume = volume_paths(dh, item.container).get(item.path)
    if volume is None:
        raise BackupError(f"{dh.name}: {item.container}:{item.path} is not on a named volume; restore it by hand "
                          f"from {item.file}")
    info = dh.volume_exists(volume) or {}
    mp = info.get("Mountpoint")
    if not mp:
        raise BackupError(f"{dh.name}: volume {volume} has no local mount point")
    base = item.path.rstrip("/").rsplit("/", 1)[-1]
    res = dh.sh(_RESTORE, item.file, mp, base, timeout=COPY_TIMEOUT)
    for line in res.stdout.splitlines():
        if line.startswith("@@restored "):
            return int(line.split()[1])
    raise BackupError(f"{dh.name}: restore of {item.file} into {volume} printed no result")
