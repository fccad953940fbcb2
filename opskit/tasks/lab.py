"""lab.*: bring the network-namespace lab up, show it, take it down (root only). See docs/lab.md."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner

NAME_HELP = "lab name (default: lab); several labs need different --subnet values"


def _lab() -> None:
    """The lab is its own distribution (lab/pyproject.toml): say how to get it rather than a traceback."""
    import importlib.util

    if importlib.util.find_spec("opskit_lab") is None:
        from opskit.errors import OpskitError

        raise OpskitError("the lab is not installed: it is its own distribution, `pip install -e ./lab` in the "
                          "opskit checkout (or `bash tests/install.sh`); see docs/lab.md")


def _default_inventory_out() -> str:
    from opskit.inventory.load import DEFAULT_INVENTORY

    return str(DEFAULT_INVENTORY.parent / "lab.yaml")


@task(numbers={"hosts": runner.count(1, 64), "disk_mb": runner.count(64)}, help={
    "hosts": "number of hosts (default 6, up to 64)",
    "inventory_out": "where to write the lab inventory (default: inventories/lab.yaml in the repository)",
    "name": NAME_HELP,
    "subnet": "private IPv4 subnet of the lab bridge (default 10.77.0.0/24)",
    "disk_mb": "size of each host's disk in MB (default 384)",
    "no_fleet": "only hosts and services, no Fabric containers",
    "fabric": "run real Hyperledger Fabric from this release (directory or hyperledger-fabric-linux-amd64-*.tar.gz; "
              "'auto': $OPSKIT_FABRIC_RELEASE or ../shared/fabric) instead of stand-ins",
    "mtls": "real Fabric: orderers and peers require TLS client certificates",
    "ops_tls": "real Fabric: operations endpoints on HTTPS",
    "consensus": "etcdraft (default) or kafka: orderers on Kafka with a system channel (the starting point of "
                 "`inv orderer.migrate-raft`; real Fabric: a tansu broker)",
})
def up(c, hosts="6", inventory_out=None, name="lab", subnet=None, disk_mb="384", no_fleet=False, fabric=None,
       mtls=False, ops_tls=False, consensus="etcdraft"):
    """Build the lab: hosts with sshd/Docker/disk/node_exporter, the fleet, BIND, Prometheus, moto."""
    import sys

    with runner.task_errors():
        _lab()
    from opskit_lab.lab import DEFAULT_SUBNET, Lab, LabConfig, LabError

    with runner.task_errors():
        from opskit import values as v

        v.cli(v.arg, name, "--name")
        hosts = v.cli(v.count, hosts, "--hosts", minimum=1, maximum=64)
        disk_mb = v.cli(v.count, disk_mb, "--disk-mb", minimum=64)
        subnet = v.cli_optional(v.network, subnet, "--subnet")
        if inventory_out:
            v.cli(v.file_path, inventory_out, "--inventory-out")
        if consensus not in ("etcdraft", "kafka"):
            raise LabError(f"--consensus must be etcdraft or kafka, not {consensus!r}")
        if fabric == "auto":
            from opskit_lab.fabric import RELEASE_ENV, default_release

            fabric = default_release()
            if fabric is None:
                raise LabError(f"--fabric auto: no release found; set ${RELEASE_ENV} or give --fabric PATH")
        elif fabric:
            v.cli(v.file_path, fabric, "--fabric")
        cfg = LabConfig(name=name, hosts=hosts, subnet=subnet or DEFAULT_SUBNET, disk_mb=disk_mb,
                        inventory_out=inventory_out or _default_inventory_out(), fleet=not no_fleet,
                        fabric=fabric, mtls=bool(mtls), ops_tls=bool(ops_tls), consensus=consensus)
        lab = Lab(cfg)
        result = lab.up(log=lambda msg: print(f"lab.up: {msg}", file=sys.stderr, flush=True))
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
    print(f"lab {name} is up in {result.seconds:.1f}s ({phases})")
    if fabric:
        print(f"real Hyperledger Fabric from {fabric}; consenters file: {lab.consenters_file}")
    print(f"inventory: {cfg.inventory_out}")
    print(f"  export OPSKIT_INVENTORY={cfg.inventory_out}")


@task(help={"name": NAME_HELP})
def status(c, name="lab", json_=False):
    """Show every lab host (sshd, Docker, node_exporter, disk, containers) and service (exit 0 when all up)."""
    with runner.task_errors():
        _lab()
    from opskit_lab.lab import Lab, status_report

    with runner.task_errors():
        report = status_report(Lab.load(name).status())
    runner.finish(report, json_)


@task(help={"name": NAME_HELP})
def down(c, name="lab"):
    """Remove everything the lab created: processes (by pid file), mounts, loop devices, namespaces, files."""
    from invoke.exceptions import Exit

    with runner.task_errors():
        _lab()
    from opskit_lab.lab import Lab

    with runner.task_errors():
        lab = Lab.load(name)
        problems = lab.down()
        left = lab.leftovers()
    if problems or left:
        for p in problems + [f"left behind: {x}" for x in left]:
            print(f"lab.down: {p}")
        raise Exit(code=2)
    print(f"lab {name} is down; nothing left behind")
