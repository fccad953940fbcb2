"""Disk capacity forecast: growth per day, days until 90 % / 100 % full, and the growth a target allows.

Pure math on samples ``(timestamp, used_bytes, size_bytes)``; ``size_bytes`` is the usable capacity
(``used + available`` as df counts it, so 100 % means df shows 100 %). Samples come from Prometheus
(node_exporter ``node_filesystem_*`` history, :func:`prometheus_samples`) or from opskit's own
:class:`SampleStore` (JSON lines that health runs append to).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DAY = 86400.0


@dataclass(frozen=True)
class Sample:
    ts: float
    used_bytes: float
    size_bytes: float


@dataclass
class Forecast:
    """What the samples of one filesystem say about its future."""

    samples: int
    span_days: float
    used_bytes: float
    size_bytes: float
    used_pct: float
    growth_bytes_per_day: float | None  # least-squares slope; None with fewer than 2 distinct timestamps
    days_to_90: float | None  # None = not growing (never at this rate); 0 = already there
    days_to_100: float | None
    r2: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
        return d


@dataclass
class Budget:
    """How much the ledger may grow per day so that the disk stays under ``limit_pct`` for ``target_days``."""

    target_days: float
    limit_pct: float
    headroom_bytes: float
    bytes_per_day: float
    blocks_per_day: float | None = None
    tx_per_day: float | None = None
    bytes_per_day_to_100: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def slope_per_day(samples: Sequence[Sample]) -> tuple[float, float | None] | None:
    """Least-squares slope of used bytes over time, in bytes per day, and R^2 (None: not computable)."""
    if len(samples) < 2:
        return None
    t0 = samples[0].ts
    xs = [(s.ts - t0) / DAY for s in samples]
    ys = [float(s.used_bytes) for s in samples]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else None
    return slope, r2


def days_until(used: float, size: float, pct: float, growth_per_day: float | None) -> float | None:
    """Days until ``used`` reaches ``pct`` % of ``size`` at ``growth_per_day`` (0 if already there, None if never)."""
    limit = size * pct / 100.0
    if used >= limit:
        return 0.0
    if growth_per_day is None or growth_per_day <= 0:
        return None
    return (limit - used) / growth_per_day


def forecast(samples: Iterable[Sample]) -> Forecast:
    """Forecast from samples (any order). "Now" is the newest sample: its used and size bytes."""
    ss = sorted(samples, key=lambda s: s.ts)
    if not ss:
        raise ValueError("no samples")
    last = ss[-1]
    fit = slope_per_day(ss)
    growth, r2 = (fit if fit else (None, None))
    pct = 100.0 * last.used_bytes / last.size_bytes if last.size_bytes else 0.0
    return Forecast(
        samples=len(ss), span_days=(last.ts - ss[0].ts) / DAY, used_bytes=last.used_bytes, size_bytes=last.size_bytes,
        used_pct=pct, growth_bytes_per_day=growth,
        days_to_90=days_until(last.used_bytes, last.size_bytes, 90.0, growth),
        days_to_100=days_until(last.used_bytes, last.size_bytes, 100.0, growth), r2=r2,
    )


def budget(used_bytes: float, size_bytes: float, target_days: float = 90.0, limit_pct: float = 90.0,
           avg_block_bytes: float | None = None, txs_per_block: float | None = None) -> Budget:
    """Ledger growth per day (bytes, and blocks/tx when a block size is given) that keeps the disk under
    ``limit_pct`` for ``target_days``. Zero when the disk is already past the limit."""
    if target_days <= 0:
        raise ValueError("target_days must be positive")
    headroom = max(0.0, size_bytes * limit_pct / 100.0 - used_bytes)
    per_day = headroom / target_days
    out = Budget(target_days, limit_pct, headroom, per_day,
                 bytes_per_day_to_100=max(0.0, size_bytes - used_bytes) / target_days)
    if avg_block_bytes and avg_block_bytes > 0:
        out.blocks_per_day = per_day / avg_block_bytes
        if txs_per_block is not None:
            out.tx_per_day = out.blocks_per_day * txs_per_block
    return out


def humanize_days(days: float | None) -> str:
    if days is None:
        return "never (not growing)"
    if days == 0:
        return "now"
    if math.isinf(days) or days > 3650:
        return "> 10 years"
    return f"{days:.1f} days"


# -- opskit's own sample store -------------------------------------------------------------------------
def default_samples_dir() -> str:
    return os.environ.get("OPSKIT_SAMPLES_DIR") or os.path.expanduser("~/.opskit/samples")


class SampleStore:
    """JSON lines per host: ``{"ts", "mount", "path", "used", "size"}``; append-only, one line per sample."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or default_samples_dir()

    def _file(self, host: str) -> str:
        if "/" in host or host.startswith("."):
            raise ValueError(f"bad host name {host!r}")
        return os.path.join(self.root, f"{host}.jsonl")

    def append(self, host: str, mount: str, used_bytes: float, size_bytes: float, ts: float | None = None,
               path: str | None = None) -> None:
        os.makedirs(self.root, exist_ok=True)
        line = json.dumps({"ts": time.time() if ts is None else ts, "mount": mount, "path": path or mount,
                           "used": used_bytes, "size": size_bytes})
        with open(self._file(host), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def append_disks(self, host: str, disks: Iterable[Any], ts: float | None = None) -> int:
        """Record df-like objects (``mount``, ``path``, ``used_bytes``, ``avail_bytes``), one per mount."""
        seen: set[str] = set()
        now = time.time() if ts is None else ts
        for d in disks:
            if d.mount in seen:
                continue
            seen.add(d.mount)
            self.append(host, d.mount, d.used_bytes, d.used_bytes + d.avail_bytes, now, d.path)
        return len(seen)

    def load(self, host: str, mount: str | None = None, since: float | None = None) -> dict[str, list[Sample]]:
        """Samples per mount (a torn last line from a crash is skipped)."""
        out: dict[str, list[Sample]] = {}
        try:
            f = open(self._file(host), encoding="utf-8")
        except FileNotFoundError:
            return out
        with f:
            for line in f:
                try:
                    row = json.loads(line)
                    s = Sample(float(row["ts"]), float(row["used"]), float(row["size"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if mount is not None and row.get("mount") != mount:
                    continue
                if since is not None and s.ts < since:
                    continue
                out.setdefault(row.get("mount", "?"), []).append(s)
        return out


# -- Prometheus history ----------------------------------------------------------------------------------
FS_FILTER = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.lxcfs|devtmpfs"'


def prometheus_samples(url: str, days: float = 7.0, step: str = "1h", end: float | None = None,
                       extra_selector: str = "") -> dict[tuple[str, str], list[Sample]]:
    """Filesystem history from node_exporter metrics: {(instance, mountpoint): samples}.

    used = size - free, capacity = used + avail (df's view, reserved blocks excluded).
    """
    from datetime import datetime, timezone

    from prometheus_api_client import PrometheusConnect

    pc = PrometheusConnect(url=url, disable_ssl=True)
    end_ts = time.time() if end is None else end
    start = datetime.fromtimestamp(end_ts - days * DAY, tz=timezone.utc)
    stop = datetime.fromtimestamp(end_ts, tz=timezone.utc)
    sel = FS_FILTER + (("," + extra_selector) if extra_selector else "")
    series: dict[str, dict[tuple[str, str], dict[float, float]]] = {}
    for metric in ("size", "free", "avail"):
        query = f"last_over_time(node_filesystem_{metric}_bytes{{{sel}}}[{step}])"  # robust to sparse scrapes
        rows = pc.custom_query_range(query, start_time=start, end_time=stop, step=step)
        table: dict[tuple[str, str], dict[float, float]] = {}
        for row in rows:
            labels = row.get("metric", {})
            key = (labels.get("instance", "?"), labels.get("mountpoint", "?"))
            table.setdefault(key, {}).update({float(ts): float(v) for ts, v in row.get("values", [])})
        series[metric] = table
    out: dict[tuple[str, str], list[Sample]] = {}
    for key, sizes in series["size"].items():
        free = series["free"].get(key, {})
        avail = series["avail"].get(key, {})
        pts = []
        for ts, size in sorted(sizes.items()):
            if ts in free and ts in avail:
                used = size - free[ts]
                pts.append(Sample(ts, used, used + avail[ts]))
        if pts:
            out[key] = pts
    return out


def mount_for(path: str, mounts: Iterable[str]) -> str | None:
    """The mount point holding ``path`` (longest prefix)."""
    best = None
    for m in mounts:
        mm = m.rstrip("/") or "/"
        if path == mm or path.startswith(mm.rstrip("/") + "/") or mm == "/":
            if best is None or len(mm) > len(best):
                best = mm
    return best


# -- whole-fleet forecast (used by `inv fleet.forecast`) ----------------------------------------------
def _human_bytes(n: float) -> str:
    neg = n < 0
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            s = f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
            return ("-" if neg else "") + s
        n /= 1024
    return str(n)


def _instance_host(instance: str) -> str:
    """``10.0.0.1:9100`` / ``[::1]:9100`` / ``name:9100`` -> the address part."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


#: a slope fitted over less history than this is noise (a few MB of temp files become "GB per day")
MIN_SPAN_DAYS = 0.25


def forecast_finding(host: str, mount: str, paths: list[str], samples: list[Sample], target_days: float,
                     avg_block_bytes: float | None, txs_per_block: float | None, source: str,
                     min_span_days: float = MIN_SPAN_DAYS) -> Any:
    """One finding for one filesystem of one host (UNKNOWN until the samples span ``min_span_days``)."""
    from opskit.output.report import Finding, Severity

    fc = forecast(samples)
    bud = budget(fc.used_bytes, fc.size_bytes, target_days, 90.0, avg_block_bytes, txs_per_block)
    data: dict[str, Any] = {"mount": mount, "paths": paths, "source": source, **fc.to_dict(), "budget": bud.to_dict()}
    where = f"{mount}" + (f" ({', '.join(p for p in paths if p != mount)})" if any(p != mount for p in paths) else "")
    if fc.growth_bytes_per_day is None or fc.span_days < min_span_days:
        msg = (f"{where}: {fc.used_pct:.1f}% used; not enough history yet ({fc.samples} sample(s) over "
               f"{fc.span_days * 24:.1f} h from {source}, need {min_span_days * 24:g} h)")
        return Finding("forecast", Severity.UNKNOWN, msg, host=host, data=data)
    msg = (f"{where}: {fc.used_pct:.1f}% used, {_human_bytes(fc.growth_bytes_per_day)}/day over {fc.span_days:.1f} days; "
           f"90% {humanize_days(fc.days_to_90)}, 100% {humanize_days(fc.days_to_100)}; "
           f"{target_days:g} days under 90% allow {_human_bytes(bud.bytes_per_day)}/day")
    if bud.blocks_per_day is not None:
        msg += f" (~{bud.blocks_per_day:,.0f} blocks/day"
        msg += f", ~{bud.tx_per_day:,.0f} tx/day)" if bud.tx_per_day is not None else ")"
    d90 = fc.days_to_90
    if d90 is not None and d90 <= 7:
        sev = Severity.CRITICAL
    elif d90 is not None and d90 < target_days:
        sev = Severity.WARNING
    else:
        sev = Severity.OK
    return Finding("forecast", sev, msg, host=host, data=data)


def fleet_forecast(inv: Any, hosts: list[Any], target_days: float = 90.0, avg_block_bytes: float | None = None,
                   txs_per_block: float | None = None, store: SampleStore | None = None, record: bool = True,
                   window_days: float = 7.0, prometheus_url: str | None = None, options: Any = None,
                   min_span_days: float = MIN_SPAN_DAYS) -> Any:
    """Forecast every data filesystem (/, docker data root, ledger paths) of ``hosts``.

    With a Prometheus URL (argument or ``monitoring.prometheus_url``) the history comes from node_exporter
    metrics over ``window_days``; otherwise opskit takes a df sample now on every host (through the remote
    engine), appends it to the sample store, and fits the stored samples.
    """
    from opskit.health.basic import host_paths
    from opskit.output.report import Finding, Report, Severity

    report = Report("fleet.forecast", inventory=inv.source)
    url = prometheus_url or inv.monitoring.prometheus_url
    if url:
        report.meta["source"] = f"prometheus {url}"
        series = prometheus_samples(url, days=window_days)
        for host in hosts:
            mine = {mp: s for (inst, mp), s in series.items() if _instance_host(inst) in (host.address, host.name)}
            if not mine:
                report.add(Finding("forecast", Severity.UNKNOWN,
                                   f"no node_exporter filesystem series in Prometheus for {host.address}", host=host.name))
                continue
            by_mount: dict[str, list[str]] = {}
            for p in host_paths(inv, host):
                mp = mount_for(p, mine)
                if mp is not None:
                    by_mount.setdefault(mp, []).append(p)
            for mp, paths in by_mount.items():
                report.add(forecast_finding(host.name, mp, paths, mine[mp], target_days, avg_block_bytes,
                                            txs_per_block, "prometheus", min_span_days))
        return report
    from opskit.health.facts import collect
    from opskit.remote.engine import Engine, EngineOptions

    store = store or SampleStore()
    report.meta["source"] = f"samples {store.root}"
    paths_of = {h.name: host_paths(inv, h) for h in hosts}
    with Engine(inv, options or EngineOptions.from_inventory(inv)) as engine:
        results = engine.run(hosts, lambda s: collect(s, paths_of[s.name]))
    report.hosts = [r.outcome() for r in results]
    now = time.time()
    for r in results:
        if not r.ok or r.value is None:
            report.add(Finding("forecast", Severity.UNKNOWN, f"no disk sample: {r.error}", host=r.host))
            continue
        by_mount = {}
        for d in r.value.disks:
            by_mount.setdefault(d.mount, []).append(d.path)
        if record:
            store.append_disks(r.host, r.value.disks, now)
        stored = store.load(r.host)
        for mount, paths in by_mount.items():
            samples = stored.get(mount) or []
            if not samples:
                d = next(x for x in r.value.disks if x.mount == mount)
                samples = [Sample(now, d.used_bytes, d.used_bytes + d.avail_bytes)]
            report.add(forecast_finding(r.host, mount, paths, samples, target_days, avg_block_bytes,
                                        txs_per_block, "opskit samples", min_span_days))
    return report
