"""Host-level health checks: disk use, Docker engine reachability and container states.

The checks are pure functions from collected :class:`HostFacts` to findings, so
they are tested on real collected text as well as against the lab.
"""

from __future__ import annotations

from opskit.health.facts import HostFacts
from opskit.inventory.model import Host, Inventory
from opskit.output.report import Finding, Severity


def human_bytes(n: float) -> str:
    """1536 -> '1.5KiB' (binary units, as df -h and docker show them)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def host_paths(inv: Inventory, host: Host) -> list[str]:
    """Filesystems worth watching on ``host``: /, the docker data root, ledger paths."""
    paths = ["/", inv.docker_root_of(host), *host.ledger_paths]
    return list(dict.fromkeys(paths))


def disk_findings(inv: Inventory, host: Host, facts: HostFacts) -> list[Finding]:
    th = inv.thresholds_of(host)
    out: list[Finding] = []
    seen_mounts: dict[str, str] = {}
    for d in facts.disks:
        if d.mount in seen_mounts:
            continue
        seen_mounts[d.mount] = d.path
        pct = d.used_pct
        ipct = d.inodes_pct
        worst = max(pct, ipct or 0.0)
        sev = Severity.CRITICAL if worst >= th.disk_critical_pct else Severity.WARNING if worst >= th.disk_warning_pct else Severity.OK
        msg = f"{d.path} ({d.mount}) {pct:.0f}% used, {human_bytes(d.avail_bytes)} free of {human_bytes(d.size_bytes)}"
        if ipct is not None:
            msg += f"; inodes {ipct:.0f}%"
        out.append(Finding("disk", sev, msg, host=host.name, data={
            "path": d.path, "mount": d.mount, "used_pct": round(pct, 2), "inodes_pct": None if ipct is None else round(ipct, 2),
            "size_bytes": d.size_bytes, "used_bytes": d.used_bytes, "avail_bytes": d.avail_bytes,
            "warning_pct": th.disk_warning_pct, "critical_pct": th.disk_critical_pct,
        }))
    docker_root = inv.docker_root_of(host)
    for p in facts.missing_paths:
        if p == docker_root and not inv.nodes_on(host.name):
            continue  # no docker data root on a host that runs no containers is fine
        out.append(Finding("disk", Severity.WARNING, f"{p} does not exist", host=host.name, data={"path": p}))
    return out


def docker_findings(inv: Inventory, host: Host, facts: HostFacts) -> list[Finding]:
    expected = inv.nodes_on(host.name)
    if not facts.docker_installed:
        sev = Severity.CRITICAL if expected else Severity.OK
        return [Finding("docker", sev, "docker is not installed" + ("" if expected else " (no nodes expected here)"), host=host.name)]
    if not facts.docker_reachable:
        sev = Severity.CRITICAL if expected else Severity.WARNING
        return [Finding("docker", sev, f"docker engine not reachable: {facts.docker_error}", host=host.name)]
    out = [Finding("docker", Severity.OK, f"engine {facts.docker_version} reachable, {len(facts.containers)} container(s)",
                   host=host.name, data={"version": facts.docker_version})]
    by_name = {c.name: c for c in facts.containers}
    for node in expected:
        c = by_name.get(node.container_name)
        if c is None:
            out.append(Finding("container", Severity.CRITICAL, f"container {node.container_name} is missing",
                               host=host.name, node=node.name))
        elif c.state != "running":
            out.append(Finding("container", Severity.CRITICAL, f"container {c.name} is {c.state} ({c.status})",
                               host=host.name, node=node.name, data={"state": c.state}))
        else:
            out.append(Finding("container", Severity.OK, f"{c.name} running ({c.status})", host=host.name,
                               node=node.name, data={"state": c.state, "image": c.image}))
    known = {n.container_name for n in expected}
    for c in facts.containers:
        if c.name in known:
            continue
        sev = Severity.WARNING if c.state in ("exited", "dead", "restarting") and expected else Severity.OK
        out.append(Finding("container", sev, f"{c.name} {c.state} ({c.status}), not in the inventory",
                           host=host.name, data={"state": c.state, "image": c.image, "unexpected": True}))
    return out
