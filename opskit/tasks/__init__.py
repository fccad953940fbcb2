"""The Invoke front end: one namespace per capability, each a thin layer over the library.

Task modules import only Invoke and opskit's light modules at load time; heavy
libraries (boto3, protobufs) are imported inside the task bodies so
that ``inv --list`` stays fast.
"""

from __future__ import annotations

import importlib

from invoke import Collection

#: namespace -> module under opskit.tasks; a module is listed once it exists.
NAMESPACES = ["fleet", "inventory", "lab", "ledger", "rollout", "container", "dns", "orderer", "aws", "cron", "load"]


def build() -> Collection:
    ns = Collection()
    for name in NAMESPACES:
        try:
            module = importlib.import_module(f"opskit.tasks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"opskit.tasks.{name}":
                continue
            raise
        ns.add_collection(Collection.from_module(module, name=name))
    return ns


ns = build()

# `inv` (Invoke's own program, which imported tasks.py and so this module) gets opskit's command-line contract:
# exit 3 and one `opskit:` line for a bad command line, `TASK -h` for every task. See opskit/tasks/program.py.
from opskit.tasks.program import adopt_invoke_cli  # noqa: E402

adopt_invoke_cli()
