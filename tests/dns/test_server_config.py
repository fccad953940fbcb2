"""dns.server-config writes a BIND configuration that named accepts and serves, usable with the org's key."""

from __future__ import annotations

import subprocess

from opskit.dns.zone import ZoneClient
from opskit.inventory import load_inventory
from opskit_lab import procs
from opskit_lab.wait import free_port, wait_for

from .conftest import inv_cmd, inventory_yaml, json_out, secret_of


def test_server_config_runs_and_takes_signed_updates(bind, tmp_path) -> None:
    port = free_port()
    inv_path = tmp_path / "inv.yaml"
    inv_path.write_text(inventory_yaml(bind).replace(f"port: {bind.port}", f"port: {port}"))
    out = tmp_path / "org1-dns"
    proc = inv_cmd("dns.server-config", "org1", "--out", str(out), "--json", inventory=inv_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json_out(proc)["results"][0]["data"]
    assert data["port"] == port and data["key_generated"] is False
    assert secret_of(bind, "org1-key") not in proc.stdout + proc.stderr
    assert (out / "keys" / "org1-key.key").stat().st_mode & 0o777 == 0o600
    check = subprocess.run(["named-checkconf", "-z", str(out / "named.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    pidfile = tmp_path / "named.pid"
    procs.spawn(["named", "-g", "-c", str(out / "named.conf")], pidfile=pidfile, log=tmp_path / "named.log")
    try:
        inv = load_inventory(str(inv_path))
        c = ZoneClient.for_org(inv, "org1", timeout=1)
        wait_for(lambda: c.soa(timeout=0.3), timeout=15, what="the generated server to serve org1")
        # the zone file already holds the inventory's names; the org's key can change it
        assert c.lookup("peer0")["A"].values == ("10.0.0.21",)
        assert c.add("peer3", "10.0.0.5").verified
        assert ("peer3", "A") in c.axfr().managed()
    finally:
        procs.stop(pidfile)
