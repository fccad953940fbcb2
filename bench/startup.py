"""How long `inv --list` takes, against a bare interpreter start measured in the same run.

Usage: python3 bench/startup.py [--runs N]
Prints the median wall time of each and their ratio, and whether heavy modules
(boto3, fabric_protos, docker, prometheus_api_client) were imported at start-up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["boto3", "botocore", "fabric_protos", "google.protobuf", "docker", "prometheus_api_client", "pandas"]


def _time(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    bare = _time([sys.executable, "-c", "pass"], runs)
    inv_list = _time([sys.executable, "-m", "invoke", "--list"], runs)
    probe = ("import sys; from invoke.main import program; sys.argv=['inv','--list']\n"
             "import io, contextlib\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try: program.run()\n"
             "    except SystemExit: pass\n"
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    heavy = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"python -c pass : {bare * 1000:7.1f} ms (median of {runs})")
    print(f"inv --list     : {inv_list * 1000:7.1f} ms (median of {runs})")
    print(f"ratio          : {inv_list / bare:7.2f}x the bare interpreter")
    print(f"heavy modules imported at start-up: {heavy or 'none'}")
    print("target: inv --list < 500 ms ->", "OK" if inv_list < 0.5 else "MISSED")


if __name__ == "__main__":
    main()
