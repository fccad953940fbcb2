"""health/facts.py parsing on the collection script's real output from lab hosts (tests/fixtures/docker, captured
with the ``docker inspect`` of the same containers at the same moment by capture.py there). Fast: no lab."""

from __future__ import annotations

import math
import json
from pathlib import Path

import pytest

from opskit.health.facts import Container, parse_facts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "docker"


@pytest.mark.parametrize("host", ["vm1", "vm5"])
def test_containers_match_docker_inspect_of_the_same_moment(host: str) -> None:
    facts = parse_facts((FIX / f"facts.{host}.txt").read_text())
    inspect = json.loads((FIX / f"ps.{host}.json").read_text())
    assert facts.complete and facts.docker_installed and facts.docker_reachable
    assert facts.docker_version == "20.10.24+dfsg1" and facts.docker_error is None
    by_name = {c.name: c for c in facts.containers}
    assert set(by_name) == {d["Name"].lstrip("/") for d in inspect}
    for d in inspect:
        c = by_name[d["Name"].lstrip("/")]
        assert (c.state, c.image, c.restart_count) == (d["State"]["Status"], d["Config"]["Image"], d["RestartCount"])
        assert c.started_at == d["State"]["StartedAt"] and c.log_path == d["LogPath"]
        assert (c.log_driver, c.log_opts) == (d["HostConfig"]["LogConfig"]["Type"], d["HostConfig"]["LogConfig"]["Config"])
        assert c.health == ((d["State"].get("Health") or {}).get("Status") or "")
        assert c.log_size is not None and c.log_size > 0
        assert not c.log_rotated  # the lab's stand-ins run json-file without max-size


def test_disks_and_endpoints_of_an_orderer_host() -> None:
    facts = parse_facts((FIX / "facts.vm1.txt").read_text())
    disks = {d.path: d for d in facts.disks}
    assert set(disks) == {"/", "/var/lib/docker", "/var/hyperledger"} and facts.missing_paths == []
    lab_disk = disks["/var/hyperledger"]
    assert lab_disk.mount == "/var/hyperledger" and lab_disk.size_bytes == 358271 * 1024
    assert lab_disk.used_bytes == 12127 * 1024 and lab_disk.avail_bytes == 338116 * 1024
    assert lab_disk.used_pct == math.ceil(100 * 12127 / (12127 + 338116))  # df rounds up (issue 18 D12)
    assert lab_disk.inodes_total == 98304 and lab_disk.inodes_pct == math.ceil(100 * 410 / 98304)  # as df -i
    assert set(facts.endpoints) == {("orderer1", "metrics"), ("orderer1", "healthz"),
                                    ("peer0.org2", "metrics"), ("peer0.org2", "healthz")}
    health = facts.endpoints[("orderer1", "healthz")]
    assert health.http_code == 200 and json.loads(health.body)["status"] == "OK"
    metrics = facts.endpoints[("orderer1", "metrics")]
    assert metrics.http_code == 200 and 'consensus_etcdraft_cluster_size{channel="mychannel"} 4' in metrics.body


def test_cut_short_output_is_not_complete_and_keeps_what_arrived() -> None:
    text = (FIX / "facts.vm1.txt").read_text()
    cut = text[: text.index("@@ep orderer1 healthz")]
    facts = parse_facts(cut)
    assert not facts.complete
    assert len(facts.containers) == 5 and ("orderer1", "metrics") in facts.endpoints
    assert ("orderer1", "healthz") not in facts.endpoints


def test_engine_down_and_no_docker() -> None:
    down = parse_facts("@@dockererr\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                       "Is the docker daemon running?\n@@end\n")
    assert not down.docker_reachable and down.docker_installed
    assert down.docker_error is not None and down.docker_error.startswith("Cannot connect to the Docker daemon")
    assert parse_facts("@@dockererr\n@@end\n").docker_error == "docker engine not reachable"
    assert not parse_facts("@@nodocker\n@@end\n").docker_installed


def test_log_rotation_rules() -> None:
    line = (FIX / "facts.vm1.txt").read_text().split("@@inspect\n", 1)[1].splitlines()[0]
    c = Container.from_inspect(line)
    assert c.log_driver == "json-file" and not c.log_rotated
    c.log_opts = {"max-size": "10m"}
    assert c.log_rotated
    assert Container("x", "running", log_driver="local").log_rotated
    with pytest.raises(ValueError):
        Container.from_inspect("only\ttwo")
