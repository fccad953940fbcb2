"""``extra_hosts`` of the fleet: read from compose files or running containers, over the remote engine.

Compose accepts ``extra_hosts`` as a list (``"name:ip"``, ``"name=ip"``, IPv6 in brackets or not)
or as a mapping (``name: ip``). Docker reports a container's entries in
``.HostConfig.ExtraHosts`` as ``"name:ip"`` strings. Values that are not IP addresses
(``host-gateway``, ``${VAR}``) are reported and skipped.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opskit.dns import names as nm
from opskit.dns.errors import DnsError, DnsInputError
from opskit.dns.plan import Desired
from opskit.dns.zone import org_dns

SOURCES = ("compose", "containers")

_INSPECT_FORMAT = "{{json .HostConfig.ExtraHosts}}"


@dataclass(frozen=True)
class ExtraHost:
    """One ``name -> address`` entry and where it was found."""

    name: str
    address: str
    host: str
    source: str  # "compose FILE service SVC" or "container NAME"

    def where(self) -> str:
        return f"{self.host}: {self.source}"


@dataclass
class Harvest:
    """Everything read from the selected hosts."""

    entries: list[ExtraHost] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (host, message)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (host, error) hosts/files not read
    outcomes: list[Any] = field(default_factory=list)  # HostOutcome per host


def split_entry(entry: str) -> tuple[str, str]:
    """``"name:ip"`` / ``"name=ip"`` / ``"name:[v6]"`` -> (name, ip text without brackets)."""
    text = entry.strip()
    if "=" in text:
        name, _, addr = text.partition("=")
    else:
        name, _, addr = text.partition(":")
    name, addr = name.strip(), addr.strip()
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    if not name or not addr:
        raise DnsInputError(f"extra_hosts entry {entry!r} is not NAME:IP or NAME=IP")
    return name, addr


def _check(name: str, addr: str) -> tuple[str, str]:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise DnsInputError(f"{name}: {addr!r} is not an IP address") from None
    return name.rstrip(".").lower(), ip.compressed


def entries_from_value(value: Any, host: str, source: str) -> tuple[list[ExtraHost], list[str]]:
    """Parse one service's ``extra_hosts`` value (list or mapping)."""
    items: list[tuple[str, str]] = []
    warnings: list[str] = []
    if value is None:
        return [], []
    if isinstance(value, dict):
        raw = [(str(k), "" if v is None else str(v)) for k, v in value.items()]
        for k, v in raw:
            vals = v if isinstance(v, list) else [v]
            for one in vals:
                one = one.strip()
                if one.startswith("[") and one.endswith("]"):
                    one = one[1:-1]
                items.append((k, one))
    elif isinstance(value, list):
        for entry in value:
            try:
                items.append(split_entry(str(entry)))
            except DnsInputError as exc:
                warnings.append(f"{source}: {exc}")
    else:
        return [], [f"{source}: extra_hosts is neither a list nor a mapping"]
    out = []
    for name, addr in items:
        try:
            n, a = _check(name, addr)
        except DnsInputError as exc:
            warnings.append(f"{source}: {exc}; skipped")
            continue
        out.append(ExtraHost(n, a, host, source))
    return out, warnings


def parse_compose(text: str, host: str, path: str) -> tuple[list[ExtraHost], list[str]]:
    """Every service's extra_hosts in one compose document."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        return [], [f"compose file {path}{where}: not valid YAML"]
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return [], [f"compose file {path}: no services"]
    entries: list[ExtraHost] = []
    warnings: list[str] = []
    for svc, body in doc["services"].items():
        if not isinstance(body, dict) or "extra_hosts" not in body:
            continue
        e, w = entries_from_value(body.get("extra_hosts"), host, f"compose {path} service {svc}")
        entries += e
        warnings += w
    return entries, warnings


def parse_inspect(output: str, host: str, container: str) -> tuple[list[ExtraHost], list[str]]:
    """The output of ``docker inspect --format '{{json .HostConfig.ExtraHosts}}' NAME``."""
    text = output.strip()
    if not text or text == "null":
        return [], []
    try:
        value = json.loads(text)
    except ValueError:
        return [], [f"container {container}: docker inspect printed no JSON"]
    return entries_from_value(value, host, f"container {container}")


def harvest(inv: Any, hosts: list[Any], nodes: list[Any], sources: Iterable[str] = ("compose",),
            engine_options: Any = None) -> Harvest:
    """Read extra_hosts on every selected host in parallel (compose files of the selected nodes,
    and/or the selected nodes' containers)."""
    from opskit.remote.engine import Engine, EngineOptions

    wanted = list(sources)
    for s in wanted:
        if s not in SOURCES:
            raise DnsInputError(f"unknown extra_hosts source {s!r} (use {', '.join(SOURCES)})")
    per_host: dict[str, tuple[list[str], list[str]]] = {}
    for node in nodes:
        files, containers = per_host.setdefault(node.host, ([], []))
        if "compose" in wanted and node.compose_file and node.compose_file not in files:
            files.append(node.compose_file)
        if "containers" in wanted and node.container_name not in containers:
            containers.append(node.container_name)
    targets = [h for h in hosts if h.name in per_host and any(per_host[h.name])]
    out = Harvest()

    def work(session: Any) -> tuple[list[ExtraHost], list[str], list[str]]:
        files, containers = per_host[session.name]
        entries: list[ExtraHost] = []
        warns: list[str] = []
        fails: list[str] = []
        for path in files:
            home = inv.hosts[session.name].home
            p = path if not path.startswith("~") or not home else home + path[1:]
            res = session.run(["cat", "--", p], check=False)
            if res.exit_code != 0:
                fails.append(f"compose file {p}: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'cannot read'}")
                continue
            e, w = parse_compose(res.stdout, session.name, p)
            entries += e
            warns += w
        for name in containers:
            res = session.run(["docker", "inspect", "--format", _INSPECT_FORMAT, "--", name], check=False)
            if res.exit_code != 0:
                last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.exit_code}"
                fails.append(f"container {name}: {last}")
                continue
            e, w = parse_inspect(res.stdout, session.name, name)
            entries += e
            warns += w
        return entries, warns, fails

    if not targets:
        return out
    opts = engine_options or EngineOptions.from_inventory(inv)
    with Engine(inv, opts) as engine:
        results = engine.run(targets, work)
    for r in results:
        out.outcomes.append(r.outcome())
        if not r.ok or r.value is None:
            out.failures.append((r.host, r.error or "failed"))
            continue
        e, w, f = r.value
        out.entries += e
        out.warnings += [(r.host, x) for x in w]
        out.failures += [(r.host, x) for x in f]
    return out


def zone_of(inv: Any, name: str) -> tuple[str, str] | None:
    """(org, relative name) for the org zone that holds ``name`` (longest zone wins), or None."""
    best: tuple[str, str] | None = None
    best_len = -1
    for org_name, org in inv.orgs.items():
        if org.dns is None:
            continue
        z = org.dns.zone.rstrip(".").lower()
        if name.endswith("." + z) and len(z) > best_len:
            try:
                rel = nm.record_name(name + ".", z)
            except DnsError:
                continue
            best, best_len = (org_name, rel), len(z)
    return best


def desired_from_extra_hosts(inv: Any, org_name: str, entries: Iterable[ExtraHost],
                             ttl: int = nm.DEFAULT_TTL) -> Desired:
    """The records extra_hosts implies for one org's zone (conflicting entries are reported, first kept)."""
    settings = org_dns(inv, org_name)
    want = Desired(org_name, settings.zone.rstrip(".").lower())
    for e in entries:
        hit = zone_of(inv, e.name)
        if hit is None or hit[0] != org_name:
            continue
        rdtype = "A" if ipaddress.ip_address(e.address).version == 4 else "AAAA"
        want.put(hit[1], rdtype, e.address, ttl, e.where())
    return want


def outside_zones(inv: Any, entries: Iterable[ExtraHost]) -> list[ExtraHost]:
    return [e for e in entries if zone_of(inv, e.name) is None]
