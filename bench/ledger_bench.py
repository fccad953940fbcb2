"""Ledger reader benchmark: height cost vs chain length, and full-verify throughput.

Writes two synthetic chains with opskit's own writer (real record format, blocks hash-chained, real
64 MiB file size): a short one (``--short`` files) and a long one (``--long`` files). Then:

* height of each, repeated; prints the long/short time ratio (the baseline is the short chain measured
  in the same run). Height reads only the last file, so the ratio should stay near 1.
* full verify of the long chain in MB/s, against a baseline measured in the same run: plain SHA-256 of
  the same files with hashlib (the floor any verifier pays). Files were just written, so this is the
  page-cache (warm) figure; a cold read is bounded by the disk instead.
* height through the shipped reader (``python3 -c`` on a LocalSession, as on a remote host).

Usage: python3 bench/ledger_bench.py [--short 4] [--long 16] [--file-mib 64] [--dir DIR] [--keep]
Disk use: (short + long) x file size (default 20 x 64 MiB = 1.25 GiB), removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from opskit.ledger import blockfile as bf  # noqa: E402


def build_chain(d: str, files: int, file_size: int, txs: int, tx_bytes: int) -> tuple[int, float]:
    """Write blocks until the chain fills ``files`` files; returns (blocks, seconds)."""
    t0 = time.perf_counter()
    w = bf.ChainWriter(d, max_file_size=file_size)
    filler = bytes(range(256)) * (tx_bytes // 256 + 1)
    n = 0
    while True:
        envs = [bf.make_envelope("benchchannel", filler[: tx_bytes - 100] + b"%d/%d" % (n, i), tx_id="tx%d-%d" % (n, i),
                                 timestamp=1_700_000_000 + n)
                for i in range(txs)]
        w.append(envs)
        n += 1
        if w.file_index >= files:  # the block that opened file N+1 is the first of the next file: stop before
            break
    # drop the file that was just opened so the chain has exactly `files` files
    last = os.path.join(d, "blockfile_%06d" % w.file_index)
    os.remove(last)
    return n - 1, time.perf_counter() - t0


def timed_pair(fa, fb, repeat: int) -> tuple[float, float]:
    """Medians of fa and fb measured alternately, so both see the same machine load."""
    ta, tb = [], []
    for _ in range(repeat):
        for fn, out in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _first_of_last(d: str) -> int:
    path = bf.list_blockfiles(d)[-1][1]
    first = next(bf.iter_headers(path))
    assert isinstance(first, bf.BlockHeader)
    return first.number


def sha256_files(d: str) -> int:
    total = 0
    for _, p in bf.list_blockfiles(d):
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while True:
                chunk = f.read(16 << 20)
                if not chunk:
                    break
                h.update(chunk)
                total += len(chunk)
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=int, default=4)
    ap.add_argument("--long", type=int, default=16)
    ap.add_argument("--file-mib", type=int, default=64)
    ap.add_argument("--txs", type=int, default=10, help="transactions per block")
    ap.add_argument("--tx-bytes", type=int, default=4000)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--repeat", type=int, default=31)
    a = ap.parse_args()
    root = a.dir or tempfile.mkdtemp(prefix="opskit-ledger-bench-")
    size = a.file_mib * 1024 * 1024
    try:
        short_d, long_d = os.path.join(root, "short"), os.path.join(root, "long")
        nb_s, ts = build_chain(short_d, a.short, size, a.txs, a.tx_bytes)
        nb_l, tl = build_chain(long_d, a.long, size, a.txs, a.tx_bytes)
        bytes_l = sum(os.path.getsize(p) for _, p in bf.list_blockfiles(long_d))
        print(f"chains: short {a.short} files / {nb_s} blocks (written in {ts:.1f}s), "
              f"long {a.long} files / {nb_l} blocks, {bytes_l / 1e6:.0f} MB (written in {tl:.1f}s, "
              f"{bytes_l / 1e6 / tl:.0f} MB/s); {a.txs} tx x {a.tx_bytes} B per block, {a.file_mib} MiB files")

        hs, hl = bf.height(short_d), bf.height(long_d)
        assert hs["height"] == nb_s and hl["height"] == nb_l, (hs["height"], nb_s, hl["height"], nb_l)
        t_short, t_long = timed_pair(lambda: bf.height(short_d), lambda: bf.height(long_d), a.repeat)
        print(f"height: short {t_short * 1000:.2f} ms, long {t_long * 1000:.2f} ms (median of {a.repeat}, interleaved; "
              f"last files hold {hs['last_block']['number'] - _first_of_last(short_d) + 1} / "
              f"{hl['last_block']['number'] - _first_of_last(long_d) + 1} blocks); "
              f"ratio long/short = {t_long / t_short:.2f} for {nb_l / nb_s:.1f}x the blocks")

        t0 = time.perf_counter()
        raw = sha256_files(long_d)
        t_raw = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = bf.verify(long_d)
        t_ver = time.perf_counter() - t0
        assert res["ok"] and res["blocks"] == nb_l, res["first_broken"]
        mbps = res["bytes"] / 1e6 / t_ver
        raw_mbps = raw / 1e6 / t_raw
        print(f"verify: {res['bytes'] / 1e6:.0f} MB, {res['blocks']} blocks in {t_ver:.2f}s = {mbps:.0f} MB/s "
              f"(baseline plain sha256 of the files: {raw_mbps:.0f} MB/s; ratio verify/baseline = {mbps / raw_mbps:.2f}) "
              f"[warm page cache]")

        from opskit.ledger.remote import NodeLedger
        from opskit.remote.session import LocalSession

        lg = NodeLedger.for_dir(LocalSession("bench"), long_d)
        lg.height()
        t_remote = timed(lambda: lg.height(), 5)
        print(f"height via the shipped reader (python3 -c on a LocalSession, incl. interpreter start): "
              f"{t_remote * 1000:.0f} ms")
        return 0
    finally:
        if not a.keep and not a.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
