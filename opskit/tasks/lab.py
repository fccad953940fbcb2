"""lab.*: bring the network-namespace lab up, show it, take it down (root only). See docs/lab.md."""

from __future__ import annotations

from invoke import task

from opskit.tasks import runner

NAME_HELP = "lab name (default: lab); several labs need different --subnet values"


def _default_inventory_out() -> str:
    from opskit.inventory.load import DEFAULT_INVENTORY

    return str(DEFAULT_INVENTORY.parent / "lab.yaml")


@task(help={
    "hosts": "number of hosts (default 6, up to 64)",
    "inventory_out": "where to write the lab inventory (default: inventories/lab.yaml in the repository)",
    "name": NAME_HELP,
    "subnet": "private IPv4 subnet of the lab bridge (default 10.77.0.0/24)",
    "disk_mb": "size of each host's disk in MB (default 384)",
    "no_fleet": "only hosts and services, no Fabric stand-in containers",
})
def up(c, hosts=6, inventory_out=None, name="lab", subnet=None, disk_mb=384, no_fleet=False):
    """Build the lab: hosts with sshd/Docker/disk/node_exporter, the fleet, BIND, Prometheus, moto."""
    import sys

    from opskit.lab.lab import DEFAULT_SUBNET, Lab, LabConfig

    with runner.task_errors():
        cfg = LabConfig(name=name, hosts=int(hosts), subnet=subnet or DEFAULT_SUBNET, disk_mb=int(disk_mb),
                        inventory_out=inventory_out or _default_inventory_out(), fleet=not no_fleet)
        lab = Lab(cfg)
        result = lab.up(log=lambda msg: print(f"lab.up: {msg}", file=sys.stderr, flush=True))
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
    print(f"lab {name} is up in {result.seconds:.1f}s ({phases})")
    print(f"inventory: {cfg.inventory_out}")
    print(f"  export OPSKIT_INVENTORY={cfg.inventory_out}")


@task(help={"name": NAME_HELP, "json": runner.JSON_HELP})
def status(c, name="lab", json_=False):
    """Show every lab host (sshd, Docker, node_exporter, disk, containers) and service (exit 0 when all up)."""
    from opskit.lab.lab import Lab, status_report

    with runner.task_errors():
        report = status_report(Lab.load(name).status())
    runner.finish(report, json_)


@task(help={"name": NAME_HELP})
def down(c, name="lab"):
    """Remove everything the lab created: processes (by pid file), mounts, loop devices, namespaces, files."""
    from invoke.exceptions import Exit

    from opskit.lab.lab import Lab

    with runner.task_errors():
        lab = Lab.load(name)
        problems = lab.down()
        left = lab.leftovers()
    if problems or left:
        for p in problems + [f"left behind: {x}" for x in left]:
            print(f"lab.down: {p}")
        raise Exit(code=2)
    print(f"lab {name} is down; nothing left behind")
