"""The wrapper each crontab entry runs: take the job's lock, run the task, log one JSON line.

`python3 -m opskit.cron.run --name health --inventory INV --log-dir DIR [--lock-scope S] -- TASK ARGS...`

A second run while the first still holds the lock logs who holds it and exits 3
(cron's mail stays quiet, the JSON log says why). Logs rotate by size.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from opskit.errors import LockHeld
from opskit.runlock import INHERITED_ENV, fleet_lock


def _logger(log_dir: Path, name: str) -> logging.Logger:
    log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"opskit.cron.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.handlers.RotatingFileHandler(log_dir / f"{name}.jsonl", maxBytes=5 * 1024 * 1024, backupCount=5)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="opskit.cron.run")
    ap.add_argument("--name", required=True)
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--lock-scope", default=None)
    ap.add_argument("task", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    task = [a for a in args.task if a != "--"] if args.task[:1] == ["--"] else args.task
    log = _logger(Path(args.log_dir), args.name)
    record: dict[str, object] = {"ts": datetime.now(timezone.utc).isoformat(timespec="seconds"), "job": args.name,
                                 "task": task, "inventory": args.inventory}
    started = time.monotonic()
    try:
        with fleet_lock(args.inventory, f"cron:{args.name}", scope=args.lock_scope or args.name) as lock:
            if lock.took_over:
                record["took_over_stale_lock"] = lock.took_over.describe()
            env = {**os.environ, "OPSKIT_INVENTORY": args.inventory, INHERITED_ENV: str(lock.path)}
            proc = subprocess.run([sys.executable, "-m", "opskit", *task], capture_output=True, text=True, env=env)
            record["exit_code"] = proc.returncode
            try:
                doc = json.loads(proc.stdout)
                record["summary"] = doc.get("summary", doc) if isinstance(doc, dict) else doc
            except json.JSONDecodeError:
                record["stdout_tail"] = proc.stdout[-2000:]
            if proc.stderr.strip():
                record["stderr_tail"] = proc.stderr[-2000:]
    except LockHeld as exc:
        record["exit_code"] = exc.exit_code
        record["error"] = str(exc)
    record["duration_s"] = round(time.monotonic() - started, 3)
    log.info(json.dumps(record, default=str))
    return int(record["exit_code"])  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main())
