"""D6 (name-server names are refused, BIND's REFUSED said as such) and the stop_dns fault's undo keeping zones."""

from __future__ import annotations

import pytest

from opskit.dns.errors import DnsAuthError, DnsInputError
from opskit_lab.bind import BindServer, ZoneSpec
from tests.dns.conftest import ZONES, client, inventory_yaml


@pytest.mark.parametrize("call", [
    lambda c: c.update("ns", "10.9.9.9"),
    lambda c: c.add("ns", "10.9.9.9"),
    lambda c: c.delete("ns"),
    lambda c: c.update("ns.org1.example.com", "10.9.9.9"),
    lambda c: c.add("org1.example.com", "10.9.9.9"),
])
def test_name_server_host_and_apex_are_refused(bind, inventory, clean_zones, call):
    c = client(inventory, "org1")
    before = c.lookup("ns")
    serial, _ = c.soa()
    with pytest.raises(DnsInputError, match="name server|zone apex") as exc:
        call(c)
    assert exc.value.exit_code == 3
    assert c.lookup("ns") == before and c.soa()[0] == serial


def test_cli_update_of_ns_exits_3(bind, inventory_file, clean_zones):
    from tests.dns.conftest import inv_cmd

    proc = inv_cmd("dns.update", "org1", "ns", "10.9.9.9", inventory=inventory_file)
    assert proc.returncode == 3, proc.stderr
    assert "name server" in proc.stderr and "Traceback" not in proc.stderr


def test_refused_update_is_reported_as_the_servers_policy(bind, inventory):
    c = client(inventory, "org1")
    c.zone, c.origin = "org2.example.com", __import__("dns.name").name.from_text("org2.example.com")
    upd = c.new_update()
    upd.add("x", 300, "A", "10.9.9.8")
    with pytest.raises(DnsAuthError, match=r"REFUSED the update .* update policy does not allow it"):
        c.send_update(upd, "the update adding x.org2.example.com")


def test_stop_dns_undo_keeps_dynamic_updates(tmp_path):
    srv = BindServer(tmp_path / "bind", [ZoneSpec(z, f"org{i}-key", {"seed": f"10.9.{i}.1"})
                                         for i, z in enumerate(ZONES, 1)])
    srv.start()
    try:
        inv_path = tmp_path / "inv.yaml"
        inv_path.write_text(inventory_yaml(srv))
        from opskit.inventory import load_inventory

        inv = load_inventory(str(inv_path))
        c = client(inv, "org1")
        res = c.add("peer9", "10.9.1.99")
        serial = res.serial
        assert serial and serial > 1
        # what faults.stop_dns does, and its undo
        srv.stop()
        srv.start()
        c = client(inv, "org1")
        assert c.lookup("peer9")["A"].values == ("10.9.1.99",), "the dynamic update was lost"
        assert c.soa()[0] >= serial, "the zone went back to an older serial"
        # and a fresh BindServer object for the same directory (another process undoing the fault) too
        srv.stop()
        again = BindServer(tmp_path / "bind", srv.zones, listen=srv.listen, port=srv.port)
        again.start()
        try:
            assert client(inv, "org1").lookup("peer9")["A"].values == ("10.9.1.99",), "lost by a new BindServer"
        finally:
            again.stop()
    finally:
        srv.stop()
