"""fleet.health fan-out against a 20-host lab: opskit vs one host, Ansible ad-hoc and a sequential loop.

Usage (root): python3 bench/health_bench.py [--hosts 20] [--runs 3] [--keep]

Brings up a lab of N hosts (its own name and subnet), then times in the same run:
  A  opskit fleet.health on all N hosts (parallel engine, one connection per host)
  B  the same checks on 1 host
  C  the same shell collection script through `ansible all -m shell -f N` (ansible-core)
  D  a sequential loop (the engine with one worker)
and prints medians and the ratios A/C (target <= 0.25) and A/B (target <= 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.health.basic import host_paths  # noqa: E402
from opskit.health.facts import _SCRIPT  # noqa: E402
from opskit.health.fleet import HealthOptions, fleet_health  # noqa: E402
from opskit.inventory import load_inventory, select  # noqa: E402
from opskit.remote.engine import EngineOptions  # noqa: E402


def _median(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--name", default="bench")
    ap.add_argument("--subnet", default="10.81.0.0/24")
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = ap.parse_args()

    from opskit_lab.lab import Lab, LabConfig

    lab = Lab(LabConfig(name=args.name, hosts=args.hosts, subnet=args.subnet))
    if lab.exists():
        lab.down()
    up = lab.up()
    print(f"lab of {args.hosts} hosts up in {up.seconds:.1f}s")
    try:
        inv = load_inventory(up.inventory)
        sel = select(inv)
        one = select(inv, next(iter(inv.hosts)))
        opts = HealthOptions(use_prometheus=False, ledger_fallback=False, record_samples=False,
                             state_file=Path(tempfile.mkdtemp()) / "restarts.json")
        par = EngineOptions.from_inventory(inv, workers=max(32, args.hosts))
        seq = EngineOptions.from_inventory(inv, workers=1)

        # warm-up (page cache, first SSH handshakes)
        fleet_health(inv, sel, par, opts)

        a = _median(lambda: fleet_health(inv, sel, par, opts), args.runs)
        b = _median(lambda: fleet_health(inv, one, par, opts), args.runs)
        d = _median(lambda: fleet_health(inv, sel, seq, opts), max(1, args.runs // 2))

        # Ansible: the same collection script (df of the same paths, docker inspect, log sizes, endpoints)
        tmp = Path(tempfile.mkdtemp())
        lines = ["[lab]"]
        for h in inv.hosts.values():
            lines.append(f"{h.name} ansible_host={h.address} ansible_user=root "
                         f"ansible_ssh_private_key_file={inv.defaults.key_file} "
                         f"ansible_python_interpreter=/usr/bin/python3 "
                         f"ansible_ssh_common_args='-o UserKnownHostsFile={inv.defaults.known_hosts} -o StrictHostKeyChecking=yes'")
        (tmp / "hosts.ini").write_text("\n".join(lines) + "\n")
        h0 = next(iter(inv.hosts.values()))
        endpoints = [f"{n.name}|{n.operations}" for n in inv.nodes_on(h0.name) if n.operations]
        cmd = "sh -c " + shlex.quote(_SCRIPT) + " opskit " + " ".join(
            shlex.quote(x) for x in [*host_paths(inv, h0), "--", *endpoints])
        # docker's Go templates are not Jinja; a leading "{" would be read as JSON arguments
        cmd = "exec {% raw %}" + cmd + "{% endraw %}"

        ANSIBLE = ""

        def ansible() -> None:
            res = subprocess.run([ANSIBLE, "all", "-i", str(tmp / "hosts.ini"), "-f", str(args.hosts), "-m", "shell",
                                  "-a", cmd], capture_output=True, text=True,
                                 env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True",
                                      "ANSIBLE_STDOUT_CALLBACK": "minimal", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible")})
            if res.returncode != 0:
                raise SystemExit(f"ansible failed: {res.stdout[-500:]} {res.stderr[-500:]}")

        ANSIBLE = shutil.which("ansible") or sys.exit("ansible-core is not installed (pip install ansible-core)")
        ansible()  # warm-up
        c = _median(ansible, args.runs)
        print(f"A opskit fleet.health, {args.hosts} hosts : {a:6.2f} s")
        print(f"B opskit fleet.health, 1 host     : {b:6.2f} s")
        print(f"C ansible -m shell -f {args.hosts}, same checks: {c:6.2f} s")
        print(f"D sequential loop (1 worker)      : {d:6.2f} s")
        print(f"A/C = {a / c:.3f}  (target <= 0.25)")
        print(f"A/B = {a / b:.3f}  (target <= 2)")
        print(f"D/A = {d / a:.1f}x  (parallel speed-up)")
    finally:
        if not args.keep:
            problems = lab.down()
            print("lab down" + (f" with problems: {problems}" if problems else ""))


if __name__ == "__main__":
    main()
