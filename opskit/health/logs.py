"""Container log checks: size of each json log and whether the container rotates it."""

from __future__ import annotations

from opskit.health.basic import human_bytes as _human
from opskit.health.facts import HostFacts
from opskit.inventory.model import Host, Inventory
from opskit.output.report import Finding, Severity


def log_findings(inv: Inventory, host: Host, facts: HostFacts) -> list[Finding]:
    """Unrotated logs are a warning (they grow without bound); a log above the size limit is critical."""
    limit = inv.thresholds_of(host).log_warning_bytes
    node_by_container = {n.container_name: n.name for n in inv.nodes_on(host.name)}
    out = []
    for c in facts.containers:
        size = c.log_size
        data = {"container": c.name, "log_bytes": size, "driver": c.log_driver, "options": c.log_opts,
                "rotated": c.log_rotated, "limit_bytes": limit}
        size_text = _human(size) if size is not None else "size unknown (log file not readable)"
        if size is not None and size >= limit:
            sev = Severity.CRITICAL
            msg = f"{c.name}: log {size_text} exceeds {_human(limit)}"
        elif not c.log_rotated:
            sev = Severity.WARNING
            msg = f"{c.name}: log {size_text}, no rotation (json-file without max-size)"
        else:
            sev = Severity.OK
            opts = ", ".join(f"{k}={v}" for k, v in sorted(c.log_opts.items()))
            msg = f"{c.name}: log {size_text}, rotated ({c.log_driver or 'json-file'}{': ' + opts if opts else ''})"
        if not c.log_rotated and size is not None and size >= limit:
            msg += "; no rotation"
        out.append(Finding("logs", sev, msg, host=host.name, node=node_by_container.get(c.name), data=data))
    return out
