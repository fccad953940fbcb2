#!/usr/bin/env python3
"""Sync 1000 A records into a real BIND: opskit's sync vs one UPDATE per record, in one run.

opskit: AXFR read, plan, ONE UPDATE guarded by the SOA read, AXFR verification (the whole
``dns.sync`` path, minus the inventory). Baseline: one signed UPDATE per record over TCP (what a
loop around ``nsupdate`` or per-record ``dns.add`` does), without any verification.
Each side writes into its own fresh zone of the same named. Target: ratio >= 10.

    python3 bench/dns_sync_bench.py [--records 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opskit.dns.keys import load_key  # noqa: E402
from opskit.dns.plan import Desired, apply_plan, compute_plan, verify_applied  # noqa: E402
from opskit.dns.zone import ZoneClient  # noqa: E402
from opskit_lab.bind import BindServer, ZoneSpec  # noqa: E402


def records(n: int) -> list[tuple[str, str]]:
    return [(f"node{i}", f"10.{(i // 250) // 250}.{(i // 250) % 250}.{i % 250 + 1}") for i in range(n)]


def opskit_sync(c: ZoneClient, recs: list[tuple[str, str]]) -> float:
    want = Desired("bench", c.zone)
    for name, ip in recs:
        want.put(name, "A", ip, 300, "bench")
    t = time.perf_counter()
    plan = compute_plan(c.axfr(), want)
    res = apply_plan(c, plan)
    verify_applied(c, want)
    took = time.perf_counter() - t
    assert res.messages == 1 and len(c.axfr().managed()) == len(recs)
    return took


def per_record(c: ZoneClient, recs: list[tuple[str, str]]) -> float:
    import dns.query
    import dns.rcode

    t = time.perf_counter()
    for name, ip in recs:
        upd = c.new_update()
        upd.add(name, 300, "A", ip)
        r = dns.query.tcp(upd, c.server_name, timeout=10, port=c.port)
        assert r.rcode() == dns.rcode.NOERROR
    took = time.perf_counter() - t
    assert len(c.axfr().managed()) == len(recs)
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    recs = records(args.records)
    fast: list[float] = []
    slow: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dnsbench-") as d:
        zones = [ZoneSpec(f"r{r}{side}.bench.example", "bench-key") for r in range(args.rounds) for side in "ab"]
        srv = BindServer(Path(d), zones).start()
        try:
            key = load_key(srv.key_file("bench-key"), "bench-key")
            for r in range(args.rounds):
                a = ZoneClient("bench", f"r{r}a.bench.example", srv.address, srv.port, key, timeout=30)
                b = ZoneClient("bench", f"r{r}b.bench.example", srv.address, srv.port, key, timeout=30)
                fast.append(opskit_sync(a, recs))
                slow.append(per_record(b, recs))
                print(f"round {r + 1}: opskit sync {fast[-1]:.3f}s, one UPDATE per record {slow[-1]:.3f}s, "
                      f"ratio {slow[-1] / fast[-1]:.1f}x")
        finally:
            srv.stop()
    f, s = statistics.median(fast), statistics.median(slow)
    ratio = s / f
    print(f"{args.records} records, median of {args.rounds}: opskit sync {f:.3f}s "
          f"(AXFR + plan + 1 guarded UPDATE + AXFR verify), one UPDATE per record {s:.3f}s "
          f"({args.records / s:.0f} records/s): ratio {ratio:.1f}x (target >= 10x) -> {'PASS' if ratio >= 10 else 'FAIL'}")
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
