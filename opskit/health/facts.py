"""Collect a host's raw facts in one round trip: disk use, Docker engine and containers.

One constant shell script runs per host (paths passed as "$@"), so a health run
costs one command per host whatever the number of checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from opskit.remote.command import script
from opskit.remote.session import BaseSession

_SCRIPT = r"""
T=""; command -v timeout >/dev/null 2>&1 && T="timeout 15"
for p in "$@"; do
  if [ -e "$p" ]; then
    echo "@@df $p"
    df -P -k "$p" 2>/dev/null | tail -n 1
    df -P -i "$p" 2>/dev/null | tail -n 1
  else
    echo "@@missing $p"
  fi
done
if command -v docker >/dev/null 2>&1; then
  if v=$($T docker info --format '{{.ServerVersion}}' 2>&1); then
    echo "@@docker $v"
    echo "@@ps"
    $T docker ps -a --no-trunc --format '{{json .}}'
  else
    echo "@@dockererr"
    printf '%s\n' "$v" | tail -n 3
  fi
else
  echo "@@nodocker"
fi
"""


@dataclass
class DiskUsage:
    path: str
    mount: str
    size_bytes: int
    used_bytes: int
    avail_bytes: int
    inodes_total: int | None
    inodes_used: int | None

    @property
    def used_pct(self) -> float:
        """Use as df reports it: used / (used + available), rounded up like df."""
        denom = self.used_bytes + self.avail_bytes
        return 100.0 * self.used_bytes / denom if denom else 0.0

    @property
    def inodes_pct(self) -> float | None:
        if not self.inodes_total or self.inodes_used is None:
            return None
        return 100.0 * self.inodes_used / self.inodes_total


@dataclass
class Container:
    name: str
    state: str
    status: str
    image: str

    @classmethod
    def from_ps(cls, row: dict[str, str]) -> "Container":
        return cls(row.get("Names", "").split(",")[0], row.get("State", ""), row.get("Status", ""), row.get("Image", ""))


@dataclass
class HostFacts:
    disks: list[DiskUsage] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)
    docker_installed: bool = True
    docker_version: str | None = None
    docker_error: str | None = None
    containers: list[Container] = field(default_factory=list)

    @property
    def docker_reachable(self) -> bool:
        return self.docker_version is not None


def _parse_df(path: str, block_line: str, inode_line: str) -> DiskUsage | None:
    b = block_line.split()
    if len(b) < 6 or not b[1].isdigit():
        return None
    i = inode_line.split()
    itotal = int(i[1]) if len(i) >= 6 and i[1].isdigit() else None
    iused = int(i[2]) if len(i) >= 6 and i[2].isdigit() else None
    return DiskUsage(path, b[-1], int(b[1]) * 1024, int(b[2]) * 1024, int(b[3]) * 1024, itotal, iused)


def parse_facts(output: str) -> HostFacts:
    """Parse the collection script's output (kept separate so it is testable on real text)."""
    facts = HostFacts()
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("@@df "):
            path = line[5:]
            blk = lines[i + 1] if i + 1 < len(lines) else ""
            ino = lines[i + 2] if i + 2 < len(lines) else ""
            du = _parse_df(path, blk, ino)
            if du:
                facts.disks.append(du)
            i += 3
            continue
        if line.startswith("@@missing "):
            facts.missing_paths.append(line[10:])
        elif line == "@@nodocker":
            facts.docker_installed = False
        elif line.startswith("@@docker "):
            facts.docker_version = line[9:].strip()
        elif line == "@@dockererr":
            facts.docker_error = " ".join(l.strip() for l in lines[i + 1:] if l.strip())[:300] or "docker engine not reachable"
            break
        elif line == "@@ps":
            for row in lines[i + 1:]:
                row = row.strip()
                if row.startswith("{"):
                    try:
                        facts.containers.append(Container.from_ps(json.loads(row)))
                    except json.JSONDecodeError:
                        pass
            break
        i += 1
    return facts


def collect(session: BaseSession, paths: list[str]) -> HostFacts:
    """Run the collection script on ``session`` for the given filesystem paths."""
    res = session.run(script(_SCRIPT, *paths), check=False)
    return parse_facts(res.stdout)
