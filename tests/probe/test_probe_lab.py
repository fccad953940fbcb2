"""fleet.probe against the lab: a healthy fleet, then a missing image, a blocked port and a stopped engine,
each found in its own section."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from opskit_lab import faults
from opskit_lab.standin.launch import IMAGE
from opskit.probe import port_checks, probe_fleet
from tests.conftest import run_inv

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
NFT_TABLE = "opskit_probe_test"


def block_port(lab, host: str, port: int) -> faults.Fault:  # type: ignore[no-untyped-def]
    """Fault: the host's firewall (nftables in its network namespace) rejects TCP to ``port`` with a reset."""
    h = lab.host(host)
    h.exec(["nft", "add", "table", "inet", NFT_TABLE])
    h.exec(["nft", "add", "chain", "inet", NFT_TABLE, "input",
            "{ type filter hook input priority 0 ; policy accept ; }"])
    h.exec(["nft", "add", "rule", "inet", NFT_TABLE, "input", "tcp", "dport", str(port), "reject", "with", "tcp",
            "reset"])
    fault = faults.Fault("block_port", f"{host}:{port}",
                         lambda: h.exec(["nft", "delete", "table", "inet", NFT_TABLE]), lab=lab)
    lab.faults.append(fault)
    return fault


def untag_image(lab, host: str, image: str) -> faults.Fault:  # type: ignore[no-untyped-def]
    """Fault: ``docker rmi`` of the tag on the host (running containers keep the image); undo tags it again."""
    h = lab.host(host)
    image_id = subprocess.run([*h.docker, "image", "inspect", "--format", "{{.Id}}", image], check=True,
                              capture_output=True, text=True, timeout=30).stdout.strip()
    subprocess.run([*h.docker, "rmi", "-f", image], check=True, capture_output=True, timeout=30)

    def undo() -> None:
        subprocess.run([*h.docker, "tag", image_id, image], check=True, capture_output=True, timeout=30)

    fault = faults.Fault("untag_image", f"{host}:{image}", undo, lab=lab)
    lab.faults.append(fault)
    return fault


def _sections(report) -> dict[str, list]:  # type: ignore[no-untyped-def]
    out: dict[str, list] = {}
    for f in report.findings:
        out.setdefault(f.check.removeprefix("probe."), []).append(f)
    return out


def test_probe_of_a_healthy_lab(lab) -> None:
    inv = lab.inventory()
    report = probe_fleet(inv)
    s = _sections(report)
    for section in ("placement", "ssh", "docker", "images"):
        assert {f.host for f in s[section]} == set(lab.hosts), section
        assert all(f.severity.label() == "ok" for f in s[section]), [f.message for f in s[section]]
    placed = {f.host: {n["name"] for n in f.data["nodes"]} for f in s["placement"]}
    assert placed == {h: {n.name for n in lab.topology.nodes_on(h)} for h in lab.hosts}
    # every check of the plan was made, from the host that needs it
    plan = {(c.source_host, c.target, c.port) for c in port_checks(inv)}
    got = {(f.host, f.node, f.data["port"]) for f in s["network"]}
    assert got == plan
    cli_host = lab.node("cli").host
    assert {(cli_host, o.name, o.ports["listen"]) for o in lab.topology.orderers} <= got
    # nothing is blocked; CouchDB and operations ports answer HTTP, gRPC, Kafka and ZooKeeper ports close a plain
    # HTTP/1.0 request as real ones do (the stand-ins imitate that): a fresh lab probes green
    for f in s["network"]:
        assert f.data["connect"] == "ok" and f.severity.label() == "ok", f.message
        assert f.data["answer"] == ("http" if f.data["expect"] == "http" else "closed"), f.message
    assert report.exit_code == 0

    # the task: same report, exit code 0
    res = run_inv("fleet.probe", "-i", str(lab.inventory_path), "--json", "--select", "vm1", env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    doc = json.loads(res.stdout)
    assert {r["host"] for r in doc["results"]} == {"vm1"}
    assert doc["meta"]["sections"]["network"]["critical"] == 0


def test_probe_finds_missing_image_blocked_port_and_stopped_engine(lab) -> None:
    inv = lab.inventory()
    o1 = lab.node("orderer1")
    blocked_host, blocked_port = o1.host, o1.ports["listen"]
    image_host = lab.node("orderer2").host
    engine_host = lab.node("orderer3").host
    assert len({blocked_host, image_host, engine_host}) == 3
    block_port(lab, blocked_host, blocked_port)
    untag_image(lab, image_host, IMAGE)
    faults.stop_docker(lab, engine_host)

    report = probe_fleet(inv)
    s = _sections(report)
    # images section: the missing tag on its host, nothing missing elsewhere; unknown where the engine is down
    images = {f.host: f for f in s["images"]}
    assert images[image_host].severity.label() == "critical" and f"{IMAGE} missing" in images[image_host].message
    assert images[engine_host].severity.label() == "unknown"
    assert all(f.severity.label() == "ok" for h, f in images.items() if h not in (image_host, engine_host))
    # docker section: only the stopped engine
    docker = {f.host: f for f in s["docker"]}
    assert docker[engine_host].severity.label() == "critical"
    assert "engine not reachable" in docker[engine_host].message
    assert all(f.severity.label() == "ok" for h, f in docker.items() if h != engine_host)
    assert docker[image_host].severity.label() == "ok"           # the engine is fine, only the image is gone
    # network section: every host that needs orderer1's port sees it refused; other ports of that host are open
    to_o1 = [f for f in s["network"] if f.node == "orderer1" and f.data["port"] == blocked_port]
    assert {f.host for f in to_o1} == {h for h in lab.hosts if h != blocked_host} | (
        {blocked_host} if any(n.kind == "peer" for n in lab.topology.nodes_on(blocked_host)) else set())
    assert all(f.severity.label() == "critical" and f.data["connect"] == "refused" for f in to_o1)
    same_host_other = [f for f in s["network"] if f.data["target_host"] == blocked_host and f.node != "orderer1"]
    assert same_host_other and all(f.data["connect"] == "ok" for f in same_host_other)
    # the stopped engine took its containers down: their ports are closed too, reported as such
    on_engine_host = {n.name for n in lab.topology.nodes_on(engine_host)}
    down = [f for f in s["network"] if f.node in on_engine_host]
    assert down and all(f.severity.label() == "critical" for f in down)
    # nothing else is critical in the network section
    others = [f for f in s["network"] if f not in to_o1 and f not in down]
    assert all(f.severity.label() in ("ok", "warning") for f in others)
    # SSH itself is fine everywhere
    assert all(f.severity.label() == "ok" for f in s["ssh"])
    assert report.exit_code == 2
    assert report.meta["sections"]["images"]["critical"] == 1
    assert report.meta["sections"]["docker"]["critical"] == 1
