"""Every copy of a container's data that opskit makes, on the container's host, verified before it counts.

* **backup**: one ``.tar.gz`` per data path in ``backup_dir`` (``docker cp CONTAINER:PATH - | gzip``); works for
  running and stopped containers. What was read is checksummed as it streams, the written file is read back and
  checksummed again: a backup whose file does not hold exactly what was read is an error, not a file.
* **restore**: a backup back into the named volume mounted at its path (container stopped).
* **volume copy** (``rollout.volumes``): the data a *stopped* container has at a path, unpacked into a named
  volume. The source is read once to list it (per file: SHA-256 and size), the room on the volume's file system
  is checked against that (refused when it cannot fit), the source is read again and unpacked, and the copied
  tree is listed the same way. Any error of ``docker cp`` or ``tar`` and any difference between the two lists
  (file count, bytes, a checksum) fails the copy, so nothing old is removed on the strength of a partial copy.

Every script is a constant; container names, paths and file names are positional parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from opskit.container.docker import COPY_TIMEOUT, READ_TIMEOUT, DockerError, DockerHost
from opskit.errors import OpskitError

MiB = 1024 * 1024


class BackupError(OpskitError):
    """A backup or restore could not be made; the message names the node, path and file."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class CopyError(OpskitError):
    """A data copy failed, did not fit, or did not verify; nothing may rely on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class NoRoom(CopyError):
    """The copy cannot fit on the target file system (refused before writing anything)."""


def slug(path: str) -> str:
    """A container path as a file-name part: ``/var/hyperledger/production`` -> ``var-hyperledger-production``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", path.strip("/")) or "root"


@dataclass(frozen=True)
class CopyResult:
    """What a verified copy holds: regular files, their bytes, and the SHA-256 of the sorted per-file list."""

    files: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


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
    def from_dict(cls, d: dict) -> BackupFile:
        return cls(**{k: d.get(k) for k in ("host", "container", "path", "file", "volume")})  # type: ignore[arg-type]


#: shell functions shared by the scripts: ``manifest`` reads a tar stream on stdin and prints one line per regular
#: file, "SHA256 SIZE NAME" (NAME without its first component), sorted; ``summary`` prints "FILES BYTES SHA256".
_LIB = r"""
set -e
M='h=$(sha256sum); printf "%s %s %s\n" "${h%% *}" "$TAR_SIZE" "${TAR_FILENAME#*/}"'
manifest() { tar -x -f - --to-command="$M" | LC_ALL=C sort; }
summary() { printf '%s %s %s\n' "$(wc -l <"$1")" "$(awk '{s+=$2} END {printf "%d", s}' "$1")" \
  "$(sha256sum <"$1" | cut -d' ' -f1)"; }
fail() { echo "$*" >&2; exit 1; }
# cpwatch RCFILE ERRFILE: docker cp "$c:$p" - to stdout; killed when it writes nothing for $stall seconds (a hung
# dockerd), leaving ERRFILE.stalled. RCFILE gets docker cp's exit status.
cpwatch() {
  docker cp "$c:$p" - 2>"$2" &
  cpid=$!
  ( last=-1; idle=0
    while kill -0 "$cpid" 2>/dev/null; do
      now=$(awk '/^wchar/ {print $2}' "/proc/$cpid/io" 2>/dev/null || echo 0)
      if [ "$now" = "$last" ]; then idle=$((idle + 1)); else idle=0; last=$now; fi
      if [ "$idle" -ge "$stall" ]; then echo stalled >"$2.stalled"; kill "$cpid" 2>/dev/null; break; fi
      sleep 1
    done ) >/dev/null 2>&1 &
  wpid=$!
  rc=0; wait "$cpid" || rc=$?
  echo "$rc" >"$1"
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  return 0
}
stalled() { if [ -f "$1.stalled" ]; then echo "@@stalled $stall"; exit 4; fi; }
differ() {
  echo "copy does not match its source: source $(summary "$1" | cut -d' ' -f1,2), copy $(summary "$2" | cut -d' ' -f1,2) (files bytes), first difference:" >&2
  diff "$1" "$2" | grep '^[<>]' | head -n 2 | cut -c1-300 >&2
  exit 1
}
"""

#: docker cp of one data path of a (running or stopped) container, gzip'ed, to .part; verified; then moved
_BACKUP = _LIB + r"""
c="$1"; p="$2"; dest="$3"; stall="${4:-60}"
mkdir -p "$(dirname "$dest")" || fail "cannot create $(dirname "$dest")"
tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/fifo"
manifest <"$tmp/fifo" >"$tmp/read" 2>"$tmp/merr" &
mpid=$!
if command -v gzip >/dev/null 2>&1; then z=gzip; else z=cat; fi
if ! cpwatch "$tmp/rc" "$tmp/err" | tee "$tmp/fifo" | $z -1 >"$dest.part"; then
  wait $mpid || true; rm -f "$dest.part"; fail "writing $dest failed (disk full?)"
fi
[ ! -f "$tmp/err.stalled" ] || { wait $mpid || true; rm -f "$dest.part"; stalled "$tmp/err"; }
wait $mpid || { rm -f "$dest.part"; fail "reading $c:$p failed: $(tail -n 1 "$tmp/merr")"; }
if [ "$(cat "$tmp/rc")" != 0 ]; then
  rm -f "$dest.part"
  if grep -q "Could not find the file" "$tmp/err"; then echo "@@missing $p"; exit 0; fi
  fail "docker cp $c:$p failed: $(tail -n 1 "$tmp/err")"
fi
if [ "$z" = gzip ]; then gunzip -c "$dest.part"; else cat "$dest.part"; fi | manifest >"$tmp/written" \
  || { rm -f "$dest.part"; fail "cannot read back $dest.part"; }
cmp -s "$tmp/read" "$tmp/written" || { rm -f "$dest.part"; differ "$tmp/read" "$tmp/written"; }
sync "$dest.part" 2>/dev/null || sync
mv -f "$dest.part" "$dest"
echo "@@file $dest $(summary "$tmp/read")"
"""

#: the data a stopped container has at a path (its layer or its mounts), into a volume's mount point, verified
_COPY = _LIB + r"""
c="$1"; p="$2"; mp="$3"; ours="$4"; pct="$5"; margin="$6"; stall="${7:-60}"
base="${p%/}"; base="${base##*/}"
tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
if [ "$ours" = 1 ]; then find "$mp" -mindepth 1 -delete; fi
# 1. list the source (a read of its own: nothing written)
cpwatch "$tmp/rc" "$tmp/err" | manifest >"$tmp/src" 2>"$tmp/merr" \
  || { stalled "$tmp/err"; fail "reading $c:$p failed: $(tail -n 1 "$tmp/merr")"; }
stalled "$tmp/err"
if [ "$(cat "$tmp/rc")" != 0 ]; then
  if grep -q "Could not find the file" "$tmp/err"; then echo "@@copied 0 0 -"; exit 0; fi
  fail "docker cp $c:$p failed: $(tail -n 1 "$tmp/err")"
fi
# 2. room: the data plus a margin must fit on the volume's file system
set -- $(summary "$tmp/src")
need=$(( $2 + ($2 * pct / 100 > margin ? $2 * pct / 100 : margin) ))
avail=$(( $(df -P -k "$mp" | awk 'NR==2 {print $4}') * 1024 ))
if [ "$avail" -lt "$need" ]; then echo "@@noroom $need $avail $2"; exit 3; fi
# 3. copy, every error counted
stage="$mp/.opskit-stage.$$"
mkdir "$stage"
if ! cpwatch "$tmp/rc2" "$tmp/err2" | tar -x -p --numeric-owner -C "$stage" 2>"$tmp/xerr"; then
  rm -rf "$stage"; stalled "$tmp/err2"
  fail "unpacking $c:$p into the volume failed: $(grep -v '^tar: Exiting' "$tmp/xerr" | tail -n 1)"
fi
[ ! -f "$tmp/err2.stalled" ] || { rm -rf "$stage"; stalled "$tmp/err2"; }
[ "$(cat "$tmp/rc2")" = 0 ] || { rm -rf "$stage"; fail "docker cp $c:$p failed: $(tail -n 1 "$tmp/err2")"; }
if [ ! -d "$stage/$base" ]; then rm -rf "$stage"; fail "$p is not a directory in $c"; fi
chown --reference="$stage/$base" "$mp"
chmod --reference="$stage/$base" "$mp"
find "$stage/$base" -mindepth 1 -maxdepth 1 -exec mv -t "$mp" {} +
rmdir "$stage/$base" "$stage"
sync
# 4. verify: the copied tree, listed the same way, must equal the source's list
tar -c -C "$mp" . 2>"$tmp/cerr" | manifest >"$tmp/dst" || fail "cannot read the copy back: $(tail -n 1 "$tmp/cerr")"
cmp -s "$tmp/src" "$tmp/dst" || differ "$tmp/src" "$tmp/dst"
echo "@@copied $(summary "$tmp/dst")"
"""

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


def _parse_summary(words: list[str]) -> CopyResult:
    return CopyResult(int(words[0]), int(words[1]), words[2])


class Stalled(CopyError):
    """``docker cp`` wrote nothing for the stall limit (the engine does not answer); it was stopped."""


def _stalled(dh: DockerHost, what: str, words: list[str]) -> Stalled:
    return Stalled(f"{dh.name}: {what}: docker cp made no progress for {words[1]}s (the Docker engine does not "
                   "answer?); stopped it. Nothing old was removed")


def backup_path(dh: DockerHost, container: str, path: str, dest: str, *, timeout: float = COPY_TIMEOUT,
                stall: float = 60.0) -> tuple[str, CopyResult] | None:
    """Save ``container:path`` as ``dest`` (verified); None when the container has nothing at ``path``.

    ``stall``: seconds ``docker cp`` may write nothing before it is stopped (the per-host deadline)."""
    res = dh.sh(_BACKUP, container, path, dest, str(max(1, int(stall))), timeout=timeout, check=False)
    for line in res.stdout.splitlines():
        if line.startswith("@@stalled "):
            raise _stalled(dh, f"backup of {container}:{path}", line.split())
        if line.startswith("@@missing "):
            return None
        if line.startswith("@@file "):
            words = line.split()
            return words[1], _parse_summary(words[2:5])
    tail = (res.stderr.strip().splitlines() or [res.stdout.strip()[-200:]])[-3:]
    raise BackupError(f"{dh.name}: backup of {container}:{path} to {dest} failed: {' | '.join(tail)}")


def backup_name(backup_dir: str, container: str, stamp: str, path: str) -> str:
    return f"{backup_dir.rstrip('/')}/{container}-{stamp}-{slug(path)}.tar.gz"


def copy_into_volume(dh: DockerHost, container: str, path: str, mountpoint: str, *, ours: bool,
                     margin_pct: float = 10.0, margin_bytes: int = 16 * MiB, timeout: float = COPY_TIMEOUT,
                     stall: float = 60.0) -> CopyResult:
    """Copy what the stopped ``container`` has at ``path`` into a volume's ``mountpoint``; verified.

    ``ours``: the volume was made by opskit for this copy, so whatever it holds (an earlier copy cut short) is
    deleted first. Raises :class:`NoRoom` (nothing written) or :class:`CopyError`.
    """
    res = dh.sh(_COPY, container, path, mountpoint, "1" if ours else "0", str(int(margin_pct)),
                str(int(margin_bytes)), str(max(1, int(stall))), timeout=timeout, check=False)
    for line in res.stdout.splitlines():
        words = line.split()
        if words[:1] == ["@@stalled"]:
            raise _stalled(dh, f"copy of {container}:{path}", words)
        if words[:1] == ["@@noroom"]:
            need, avail, data = (int(w) for w in words[1:4])
            raise NoRoom(f"{dh.name}: {container}:{path} holds {data // MiB} MiB; with the margin it needs "
                         f"{need // MiB} MiB on the volume's file system, which has {avail // MiB} MiB free. "
                         "Nothing was copied; free space on the host and re-run")
        if words[:1] == ["@@copied"]:
            if words[3] == "-":
                return CopyResult(0, 0, "-")
            return _parse_summary(words[1:4])
    tail = (res.stderr.strip().splitlines() or [res.stdout.strip()[-200:]])[-3:]
    raise CopyError(f"{dh.name}: copy of {container}:{path} into {mountpoint} failed (exit {res.exit_code}): "
                    + " | ".join(tail))


def source_bytes(dh: DockerHost, container: str, path: str, *, timeout: float = COPY_TIMEOUT) -> int:
    """Bytes of the tar stream ``docker cp`` gives for ``container:path`` (an upper bound of its data); 0 if none."""
    res = dh.sh('{ docker cp "$1:$2" - 2>/dev/null || echo "@@rc $?" >&2; } | wc -c', container, path,
                timeout=timeout, check=False)
    if "@@rc" in res.stderr or res.exit_code != 0:
        return 0
    try:
        return int(res.stdout.strip() or 0)
    except ValueError:
        return 0


def volume_paths(dh: DockerHost, container: str) -> dict[str, str]:
    """Container path -> named volume, for every named volume the (running or stopped) container mounts."""
    cfg = dh.inspect(container)
    if cfg is None:
        raise BackupError(f"{dh.name}: there is no container {container}")
    return {m.destination: m.source for m in cfg.mounts if m.type == "volume"}


def data_kib(dh: DockerHost, *containers: str) -> int:
    """KiB held by the named volumes of ``containers`` (one ``docker inspect`` and one ``du`` for all of them: a
    host with an orderer, a broker and a ZooKeeper is three round trips, not ten)."""
    if not containers:
        return 0
    res = dh.docker("inspect", "--type", "container", "--", *containers, timeout=READ_TIMEOUT, check=False)
    try:
        docs = json.loads(res.stdout or "[]")
    except ValueError:
        docs = []
    found = {str(d.get("Name", "")).lstrip("/") for d in docs}
    missing = [c for c in containers if c not in found]
    if missing:
        raise BackupError(f"{dh.name}: there is no container {', '.join(missing)}")
    points = []
    for d in docs:
        for m in d.get("Mounts") or []:
            if m.get("Type") != "volume":
                continue
            mp = m.get("Source") or (dh.volume_exists(m.get("Name", "")) or {}).get("Mountpoint")
            if mp:
                points.append(mp)
    if not points:
        return 0
    out = dh.run(["du", "-s", "-k", "--", *points], timeout=COPY_TIMEOUT, check=False)
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if line.split()[:1] and
               line.split()[0].isdigit())


def free_kib(dh: DockerHost, directory: str) -> int:
    """Free KiB on the file system that holds ``directory`` (or its nearest existing parent)."""
    res = dh.sh('d="$1"; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -P -k "$d"', directory,
                timeout=READ_TIMEOUT)
    try:
        return int(res.stdout.strip().splitlines()[-1].split()[3])
    except (IndexError, ValueError):
        raise DockerError(f"{dh.name}: cannot read the free space of {directory}: {res.stdout.strip()[-200:]}") from None


def backup(dh: DockerHost, container: str, backup_dir: str, *, tag: str | None = None) -> list[BackupFile]:
    """Save every named-volume path of ``container`` under ``backup_dir`` on its host (each file verified)."""
    stamp = tag or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = []
    for path, volume in sorted(volume_paths(dh, container).items()):
        dest = backup_name(backup_dir, container, stamp, path)
        got = backup_path(dh, container, path, dest)
        if got is None:
            raise BackupError(f"{dh.name}: backup of {container}:{path} made no file (the path is missing)")
        out.append(BackupFile(dh.name, container, path, got[0], volume))
    return out


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
