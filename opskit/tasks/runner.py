"""What every task shares: loading the inventory, turning errors into exit codes, rendering.

Tasks stay thin: parse arguments, call a library module, hand the result here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from invoke.exceptions import Exit

from opskit.errors import OpskitError
from opskit.inventory import Inventory, load_inventory
from opskit.output.render import render
from opskit.output.report import Report

INVENTORY_HELP = "inventory YAML (default: $OPSKIT_INVENTORY, else inventories/local.yaml)"
SELECT_HELP = "hosts/nodes: NAME, peer1.org1, kind:peer, org:org1, label:k=v (comma = union)"
JSON_HELP = "print one JSON document instead of a table"


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Turn an :class:`OpskitError` into its message on stderr and its exit code, no traceback."""
    try:
        yield
    except OpskitError as exc:
        raise Exit(f"opskit: {exc}", code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("opskit: interrupted", code=3) from None


def inventory(path: str | None) -> Inventory:
    return load_inventory(path)


def finish(report: Report, as_json: bool) -> None:
    """Render ``report`` and end the task with its Nagios exit code."""
    code = render(report, as_json=as_json)
    sys.stdout.flush()
    if code:
        raise Exit(code=code)
