"""inventory.*: validate, show and upgrade inventory documents."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner


@task()
def show(c, inventory=None, select=None, json_=False):
    """Validate the inventory and list the selected hosts and nodes (contacts nothing)."""
    import json as jsonlib

    from opskit.inventory import select as sel

    with runner.task_errors():
        inv = runner.inventory(inventory)
        chosen = sel(inv, select)
    if json_:
        print(jsonlib.dumps({
            "inventory": inv.source, "name": inv.name,
            "hosts": [h.model_dump(mode="json") for h in chosen.hosts],
            "nodes": [n.model_dump(mode="json") for n in chosen.nodes],
        }, indent=2))
        return
    for h in chosen.hosts:
        nodes = ", ".join(n.name for n in chosen.nodes if n.host == h.name) or "-"
        print(f"{h.name:<16} {inv.user_of(h)}@{h.address}:{inv.port_of(h)} ({h.connection})  {nodes}")


@task()
def upgrade(c, inventory=None):
    """Print an older inventory document upgraded to the current version (file untouched)."""
    import sys

    from ruamel.yaml import YAML

    with runner.task_errors():
        inv = runner.inventory(inventory)
    data = inv.model_dump(mode="json", exclude_defaults=True)
    data = {"version": inv.version, **{k: v for k, v in data.items() if k != "version"}}
    YAML().dump(data, sys.stdout)
