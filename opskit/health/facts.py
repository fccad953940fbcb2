"""Collect a host's raw facts in one round trip: disk use, Docker engine and containers.

One constant shell script runs per host (paths passed as "$@"), so a health run
costs one command per host whatever the number of checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opskit.remote.command import script
from opskit.remote.session import BaseSession

#: every operations endpoint as 5 arguments: node, base URL, CA file, client cert, client key ("" = none)
_ENDPOINTS_PART = r"""
while [ $# -ge 5 ]; do
  node="$1"; url="$2"; ca="$3"; cert="$4"; key="$5"; shift 5
  for path in metrics healthz; do
    echo "@@ep $node $path"
    if command -v curl >/dev/null 2>&1; then
      curl -sS -m 5 ${ca:+--cacert "$ca"} ${cert:+--cert "$cert"} ${key:+--key "$key"} \
        -w '\n@@http %{http_code}\n' "$url/$path" 2>&1 || echo "@@http 000"
    else
      if body=$(wget -q -T 5 -O - "$url/$path" 2>&1); then printf '%s\n@@http 200\n' "$body"; else printf '%s\n@@http 000\n' "$body"; fi
    fi
  done
done
echo "@@end"
"""

_SCRIPT = r"""
T=""; command -v timeout >/dev/null 2>&1 && T="timeout 15"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  p="$1"; shift
  if [ -e "$p" ]; then
    echo "@@df $p"
    df -P -k "$p" 2>/dev/null | tail -n 1
    df -P -i "$p" 2>/dev/null | tail -n 1
  else
    echo "@@missing $p"
  fi
done
[ "$1" = "--" ] && shift
if command -v docker >/dev/null 2>&1; then
  if v=$($T docker version --format '{{.Server.Version}}' 2>&1); then
    echo "@@docker $v"
    ids=$($T docker ps -a -q --no-trunc)
    echo "@@inspect"
    if [ -n "$ids" ]; then
      info=$($T docker inspect --format '{{json .Name}}	{{json .State.Status}}	{{.RestartCount}}	{{if .State.Health}}{{json .State.Health.Status}}{{else}}""{{end}}	{{json .Config.Image}}	{{json .HostConfig.LogConfig}}	{{json .LogPath}}	{{json .State.StartedAt}}	{{.LogPath}}' $ids 2>/dev/null)
      printf '%s\n' "$info" | cut -f 1-8
      echo "@@logsizes"
      printf '%s\n' "$info" | cut -f 9 | while read -r lp; do
        if [ -n "$lp" ]; then s=$(stat -c %s "$lp" 2>/dev/null || echo -1); echo "$s $lp"; fi
      done
    fi
  else
    echo "@@dockererr"
    printf '%s\n' "$v" | tail -n 3
  fi
else
  echo "@@nodocker"
fi
""" + _ENDPOINTS_PART
#: endpoints only (the Raft view of orderers outside the selection): "--" then the endpoint quintuples
_ENDPOINTS_SCRIPT = '[ "$1" = "--" ] && shift\n' + _ENDPOINTS_PART


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
        """Use% exactly as df shows it: used * 100 / (used + available), rounded *up* to a whole percent.

        The one rounding rule of opskit: the number shown is the number compared with the thresholds, and it is
        the number ``df`` prints (89.6 % is shown, and judged, as 90 %)."""
        return float(df_percent(self.used_bytes, self.used_bytes + self.avail_bytes))

    @property
    def inodes_pct(self) -> float | None:
        if not self.inodes_total or self.inodes_used is None:
            return None
        return float(df_percent(self.inodes_used, self.inodes_total))


def df_percent(used: int, total: int) -> int:
    """``df``'s Use%: ceil(used * 100 / total) in integer arithmetic (0 for an empty total)."""
    if total <= 0:
        return 0
    return -(-int(used) * 100 // int(total))


@dataclass
class Container:
    name: str
    state: str
    status: str = ""
    image: str = ""
    restart_count: int = 0
    health: str = ""  # healthy | unhealthy | starting | "" (no healthcheck)
    log_driver: str = ""
    log_opts: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    log_size: int | None = None
    started_at: str = ""

    @property
    def log_rotated(self) -> bool:
        """json-file/local logs are bounded only with max-size (local rotates by default)."""
        if self.log_driver == "local":
            return True
        if self.log_driver in ("json-file", ""):
            return "max-size" in self.log_opts
        return True  # journald, syslog, fluentd...: the daemon's files are not in the docker data root

    @classmethod
    def from_inspect(cls, line: str) -> "Container":
        parts = line.split("\t")
        if len(parts) < 8:
            raise ValueError("short inspect line")
        name, state, restarts, health, image, logcfg, logpath, started = parts[:8]
        cfg = json.loads(logcfg) or {}
        return cls(
            name=json.loads(name).lstrip("/"), state=json.loads(state), status=json.loads(state),
            image=json.loads(image), restart_count=int(restarts or 0), health=json.loads(health),
            log_driver=cfg.get("Type", ""), log_opts=cfg.get("Config") or {}, log_path=json.loads(logpath),
            started_at=json.loads(started),
        )


@dataclass
class Endpoint:
    """One HTTP answer from a node's operations endpoint, fetched on the node's host."""

    http_code: int
    body: str


@dataclass
class HostFacts:
    disks: list[DiskUsage] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)
    docker_installed: bool = True
    docker_version: str | None = None
    docker_error: str | None = None
    containers: list[Container] = field(default_factory=list)
    endpoints: dict[tuple[str, str], Endpoint] = field(default_factory=dict)  # (node, "metrics"|"healthz")
    complete: bool = False

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
    section = ""
    log_sizes: dict[str, int] = {}
    ep_key: tuple[str, str] | None = None
    ep_body: list[str] = []
    while i < len(lines):
        line = lines[i]
        if ep_key is not None:
            if line.startswith("@@http "):
                code = line[7:].strip()
                facts.endpoints[ep_key] = Endpoint(int(code) if code.isdigit() else 0, "\n".join(ep_body))
                ep_key, ep_body = None, []
            else:
                ep_body.append(line)
            i += 1
            continue
        if line.startswith("@@df "):
            du = _parse_df(line[5:], lines[i + 1] if i + 1 < len(lines) else "", lines[i + 2] if i + 2 < len(lines) else "")
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
            section = "dockererr"
            facts.docker_error = ""
        elif line in ("@@inspect", "@@ps", "@@logsizes"):
            section = line[2:]
        elif line.startswith("@@ep "):
            _, node, path = line.split(" ", 2)
            ep_key, ep_body, section = (node, path), [], ""
        elif line == "@@end":
            facts.complete = True
            section = ""
        elif section == "dockererr" and line.strip():
            facts.docker_error = ((facts.docker_error or "") + " " + line.strip()).strip()[:300]
        elif section == "inspect" and line.strip():
            try:
                facts.containers.append(Container.from_inspect(line))
            except (ValueError, json.JSONDecodeError):
                pass
        elif section == "ps" and line.strip().startswith("{"):
            try:
                row = json.loads(line)
                facts.containers.append(Container(row.get("Names", "").split(",")[0], row.get("State", ""),
                                                  row.get("Status", ""), row.get("Image", "")))
            except json.JSONDecodeError:
                pass
        elif section == "logsizes" and line.strip():
            size, _, lp = line.partition(" ")
            try:
                log_sizes[lp] = int(size)
            except ValueError:
                pass
        i += 1
    if facts.docker_error == "":
        facts.docker_error = "docker engine not reachable"
    for c in facts.containers:
        if c.log_path in log_sizes and log_sizes[c.log_path] >= 0:
            c.log_size = log_sizes[c.log_path]
    return facts


@dataclass(frozen=True)
class EndpointSpec:
    """Where a node's operations endpoint is and the files (on its host) that an HTTPS endpoint needs."""

    url: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def args(self, node: str) -> list[str]:
        return [node, self.url.rstrip("/"), self.ca_file or "", self.cert_file or "", self.key_file or ""]


def endpoint_of(node: Any) -> EndpointSpec:
    """A node's operations endpoint with the TLS files the inventory gives for it (an inventory ``Node``)."""
    return EndpointSpec(node.operations, node.operations_ca_file, node.operations_cert_file, node.operations_key_file)


def _endpoint_args(endpoints: dict[str, EndpointSpec | str] | None) -> list[str]:
    out: list[str] = []
    for node, spec in (endpoints or {}).items():
        out += (spec if isinstance(spec, EndpointSpec) else EndpointSpec(spec)).args(node)
    return out


def collect(session: BaseSession, paths: list[str], endpoints: dict[str, EndpointSpec | str] | None = None) -> HostFacts:
    """Run the collection script on ``session``: ``paths`` for df, ``endpoints`` node -> operations endpoint."""
    res = session.run(script(_SCRIPT, *paths, "--", *_endpoint_args(endpoints)), check=False)
    return parse_facts(res.stdout)


def collect_endpoints(session: BaseSession, endpoints: dict[str, EndpointSpec | str]) -> HostFacts:
    """Only the operations endpoints (no df, no Docker): e.g. the Raft view of orderers outside the selection."""
    res = session.run(script(_ENDPOINTS_SCRIPT, "--", *_endpoint_args(endpoints)), check=False)
    return parse_facts(res.stdout)
