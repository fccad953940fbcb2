"""One real BIND for the DNS tests: zones org1/org2/org3.example.com, each with its own TSIG key,
and a temporary inventory whose orgs point at it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opskit_lab.bind import BindServer, ZoneSpec
from tests.conftest import run_inv

REPO = Path(__file__).resolve().parents[2]
ZONES = ("org1.example.com", "org2.example.com", "org3.example.com")

pytestmark = pytest.mark.skipif(shutil.which("named") is None, reason="BIND (named) is not installed")


def inventory_yaml(bind: BindServer, *, nodes: str | None = None, extra_orgs: str = "", hosts: str | None = None,
                   key_files: dict[str, str] | None = None) -> str:
    kf = {f"org{i}": str(bind.key_file(f"org{i}-key")) for i in (1, 2, 3)}
    kf.update(key_files or {})
    orgs = "".join(
        f"""  org{i}:
    domain: org{i}.example.com
    msp_id: Org{i}MSP
    dns:
      server: {bind.address}
      port: {bind.port}
      zone: org{i}.example.com
      tsig_key_name: org{i}-key
      tsig_key_file: {kf[f'org{i}']}
""" for i in (1, 2, 3))
    hosts = hosts if hosts is not None else """  localhost:
    address: 127.0.0.1
    connection: local
  peer-vm1:
    address: 10.0.0.21
  peer-vm2:
    address: 10.0.0.22
  peer-vm3:
    address: 10.0.0.23
  peer-vm6:
    address: 2001:db8::26
"""
    nodes = nodes if nodes is not None else """  peer0.org1:
    kind: peer
    host: peer-vm1
    org: org1
    container: peer0.org1.example.com
  peer1.org1:
    kind: peer
    host: peer-vm2
    org: org1
    container: peer1.org1.example.com
  couchdb0.org1:
    kind: couchdb
    host: peer-vm1
    org: org1
    container: couchdb0.org1
  peer0.org2:
    kind: peer
    host: peer-vm3
    org: org2
    container: peer0.org2.example.com
  peer1.org2:
    kind: peer
    host: peer-vm6
    org: org2
    hostname: peer1
  orderer1:
    kind: orderer
    host: peer-vm3
    org: ordererorg1
"""
    return f"""version: 2
name: dnstest
hosts:
{hosts}orgs:
{orgs}  ordererorg1:
    kind: orderer
    domain: ordererorg1.example.com
    msp_id: OrdererOrg1MSP
{extra_orgs}nodes:
{nodes}"""


@pytest.fixture(scope="session")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    srv = BindServer(tmp_path_factory.mktemp("bind"),
                     [ZoneSpec(z, f"org{i}-key", {"seed": f"10.9.{i}.1"}) for i, z in enumerate(ZONES, 1)])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def inventory_file(bind: BindServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    p.write_text(inventory_yaml(bind))
    return p


@pytest.fixture(scope="session")
def inventory(inventory_file: Path):
    from opskit.inventory import load_inventory

    return load_inventory(str(inventory_file))


def client(inventory, org: str, **kw):
    from opskit.dns.zone import ZoneClient

    return ZoneClient.for_org(inventory, org, **kw)


@pytest.fixture
def clean_zones(bind: BindServer, inventory) -> None:
    """Every org zone back to its seed state (one UPDATE per zone)."""
    for i in (1, 2, 3):
        c = client(inventory, f"org{i}")
        snap = c.axfr()
        upd = c.new_update()
        for (name, rdtype) in snap.managed():
            upd.delete(name, rdtype)
        upd.add("seed", 300, "A", f"10.9.{i}.1")
        c._exchange(upd, "test reset")
        assert set(c.axfr().managed()) == {("seed", "A")}


def inv_cmd(*args: str, inventory: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``inv ARGS`` the way an operator does, from the repository root."""
    env = {"COLUMNS": "250"}
    if inventory is not None:
        env["OPSKIT_INVENTORY"] = str(inventory)
    return run_inv(*args, env=env, timeout=timeout)


def json_out(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout)


def secret_of(bind: BindServer, key_name: str) -> str:
    from opskit.dns.keys import load_key

    return load_key(bind.key_file(key_name), key_name).secret
