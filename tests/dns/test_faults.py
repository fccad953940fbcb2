"""Every fault of the issue: a clear error, the zone unchanged (or exactly as reported), no secret printed."""

from __future__ import annotations

import base64

import pytest

from opskit.dns.errors import DnsAuthError, DnsServerError, DnsTimeoutUnverified
from opskit.dns.keys import TsigKey, load_key, write_key
from opskit.dns.zone import ZoneClient
from opskit_lab.bind import BindServer, ZoneSpec
from opskit_lab.wait import free_port, wait_for

from .conftest import client, inv_cmd, inventory_yaml, secret_of


@pytest.fixture
def zone_unchanged(inventory):
    """Assert after the test that org1's zone is exactly as before."""
    c = client(inventory, "org1")
    before = c.axfr()
    yield
    after = c.axfr()
    assert after.serial == before.serial and after.rrsets == before.rrsets


def _inventory_with(bind, tmp_path, **kw):
    p = tmp_path / "inv.yaml"
    p.write_text(inventory_yaml(bind, **kw))
    return p


def _all_secrets(bind) -> list[str]:
    return [secret_of(bind, f"org{i}-key") for i in (1, 2, 3)]


def test_bad_input_is_refused_before_sending(bind, inventory_file, zone_unchanged) -> None:
    cases = [
        (("dns.add", "org9", "x", "10.0.0.1"), "unknown org 'org9'"),
        (("dns.add", "ordererorg1", "x", "10.0.0.1"), "has no dns: settings"),
        (("dns.add", "org1", "bad_name", "10.0.0.1"), "not a valid DNS name"),
        (("dns.add", "org1", "x.org2.example.com", "10.0.0.1"), "outside zone org1.example.com"),
        (("dns.add", "org1", "x", "10.0.0.999"), "not a valid IP address"),
        (("dns.add", "org1", "x", "10.0.0.1", "--ttl", "9999999"), "out of range"),
        (("dns.update", "org1", "x", "1.2.3"), "not a valid IP address"),
        (("dns.delete", "org1", "org1.example.com"), "zone apex"),
    ]
    for args, words in cases:
        proc = inv_cmd(*args, inventory=inventory_file)
        assert proc.returncode == 3, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_key_file_missing_or_unreadable(bind, tmp_path, zone_unchanged) -> None:
    missing = _inventory_with(bind, tmp_path, key_files={"org1": str(tmp_path / "nope.key")})
    proc = inv_cmd("dns.add", "org1", "x", "10.0.0.1", inventory=missing)
    assert proc.returncode == 3 and "nope.key does not exist" in proc.stderr
    (tmp_path / "dir.key").mkdir()
    unreadable = tmp_path / "inv2.yaml"
    unreadable.write_text(inventory_yaml(bind, key_files={"org1": str(tmp_path / "dir.key")}))
    proc = inv_cmd("dns.list", "org1", inventory=unreadable)
    assert proc.returncode == 3 and "is a directory" in proc.stderr
    garbled = tmp_path / "garbled.key"
    garbled.write_text(bind.key_file("org1-key").read_text().replace("algorithm", "algorythm"))
    p3 = tmp_path / "inv3.yaml"
    p3.write_text(inventory_yaml(bind, key_files={"org1": str(garbled)}))
    proc = inv_cmd("dns.add", "org1", "x", "10.0.0.1", inventory=p3)
    assert proc.returncode == 3 and "lacks an algorithm" in proc.stderr
    assert not any(s in proc.stderr + proc.stdout for s in _all_secrets(bind))


def test_wrong_secret_is_badsig(bind, tmp_path, zone_unchanged) -> None:
    wrong = TsigKey("org1-key", "hmac-sha256", base64.b64encode(b"w" * 32).decode())
    kf = write_key(wrong, tmp_path / "wrong.key")
    inv = _inventory_with(bind, tmp_path, key_files={"org1": str(kf)})
    for args in (("dns.add", "org1", "x", "10.0.0.1"), ("dns.list", "org1"), ("dns.sync", "--org", "org1")):
        proc = inv_cmd(*args, inventory=inv)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        out = proc.stdout + proc.stderr
        assert "BADSIG" in out and "does not match the server's" in out
        assert wrong.secret not in out and not any(s in out for s in _all_secrets(bind))


def test_unknown_key_is_badkey(bind, zone_unchanged) -> None:
    stranger = TsigKey("stranger-key", "hmac-sha256", base64.b64encode(b"s" * 32).decode())
    c = ZoneClient("org1", "org1.example.com", bind.address, bind.port, stranger)
    with pytest.raises(DnsAuthError, match="BADKEY") as exc:
        c.add("x", "10.0.0.1")
    assert stranger.secret not in str(exc.value)


def test_other_orgs_key_is_refused_cli(bind, tmp_path, inventory) -> None:
    """org1 configured with org2's key (a copy-paste mistake): REFUSED, org1's zone unchanged."""
    inv = _inventory_with(bind, tmp_path, key_files={"org1": str(bind.key_file("org2-key"))})
    p = tmp_path / "inv.yaml"
    p.write_text(p.read_text().replace("tsig_key_name: org1-key", "tsig_key_name: org2-key", 1))
    before = client(inventory, "org1").axfr()
    proc = inv_cmd("dns.add", "org1", "x", "10.0.0.1", inventory=inv)
    assert proc.returncode == 2 and "REFUSED" in proc.stderr and "'org2-key'" in proc.stderr
    after = client(inventory, "org1").axfr()
    assert after.rrsets == before.rrsets and after.serial == before.serial


def test_server_down_connection_refused(bind, tmp_path) -> None:
    port = free_port()
    text = inventory_yaml(bind).replace(f"port: {bind.port}", f"port: {port}")
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    for args in (("dns.add", "org1", "x", "10.0.0.1"), ("dns.list", "org1"), ("dns.show", "org1", "x")):
        proc = inv_cmd(*args, inventory=inv)
        assert proc.returncode == 2 and f"127.0.0.1:{port} refused the connection (is it running?)" in proc.stderr
    proc = inv_cmd("dns.sync", inventory=inv)
    assert proc.returncode == 2 and "refused the connection" in proc.stdout


@pytest.fixture
def own_bind(tmp_path):
    srv = BindServer(tmp_path / "bind", [ZoneSpec("org1.example.com", "org1-key", {"seed": "10.9.1.1"})]).start()
    try:
        yield srv
    finally:
        srv.stop()


def _own_client(srv: BindServer, **kw) -> ZoneClient:
    return ZoneClient("org1", "org1.example.com", srv.address, srv.port,
                      load_key(srv.key_file("org1-key"), "org1-key"), **kw)


def test_hung_server_then_change_lands_and_is_reported(own_bind) -> None:
    """The server hangs after opskit read the zone; the UPDATE times out; the server wakes up during the
    check: opskit reports that the change landed, verified by query."""
    events: list[str] = []

    def progress(line: str) -> None:
        events.append(line)
        if "did not answer" in line:
            own_bind.resume()

    c = _own_client(own_bind, timeout=0.5, verify_grace=10, progress=progress)
    orig = c.send_update

    def hang_then_send(upd, what, landed=None):
        own_bind.pause()
        return orig(upd, what, landed)

    c.send_update = hang_then_send  # the hang happens between the read and the update
    res = c.add("slow", "10.7.0.1")
    assert res.action == "added" and res.verified
    assert "did not answer the update within 0.5s, but the change is on the server" in res.note
    assert any("checking by query whether the change landed" in m for m in events)
    assert _own_client(own_bind).lookup("slow")["A"].values == ("10.7.0.1",)


def test_hung_server_unverified_is_reported_as_unknown(own_bind, tmp_path) -> None:
    c = _own_client(own_bind, timeout=0.4, verify_grace=0.8)
    serial, _ = c.soa()
    own_bind.pause()
    try:
        with pytest.raises(DnsServerError, match="did not answer") as exc:
            c.add("hung", "10.7.0.2")
        # the read itself hangs here: opskit stops before sending, nothing can have changed
        assert "did not answer the CNAME query" in str(exc.value) or isinstance(exc.value, DnsTimeoutUnverified)
        upd = c.new_update()
        upd.add("hung2", 300, "A", "10.7.0.3")
        with pytest.raises(DnsTimeoutUnverified, match="cannot tell whether the change was applied"):
            c.send_update(upd, "the test update", lambda: c.lookup("hung2") != {})
    finally:
        own_bind.resume()
    # exactly as reported: it "may have been applied" -- the hung server applies it once it wakes up
    wait_for(lambda: _own_client(own_bind).lookup("hung2") != {}, timeout=10, what="the queued update to land")
    assert _own_client(own_bind).soa()[0] == serial + 1


def test_hung_server_cli_timeout_is_clear(own_bind, tmp_path) -> None:
    inv = tmp_path / "inv.yaml"
    text = inventory_yaml(own_bind).replace("server: 127.0.0.1", "server: 127.0.0.1", 1)
    inv.write_text(text)
    own_bind.pause()
    try:
        proc = inv_cmd("dns.add", "org1", "x", "10.0.0.1", "--timeout", "0.5", inventory=inv)
    finally:
        own_bind.resume()
    assert proc.returncode == 2 and "did not answer" in proc.stderr and "within 0.5s" in proc.stderr
    assert _own_client(own_bind).lookup("x") == {}


def test_bind_pause_resume_stop(tmp_path) -> None:
    srv = BindServer(tmp_path / "b", [ZoneSpec("org9.example.com", "org9-key")])
    srv.start()
    try:
        pid = srv.pid
        assert srv.key_file("org9-key").exists() and srv.running()
        c = ZoneClient("org9", "org9.example.com", srv.address, srv.port, load_key(srv.key_file("org9-key"), "org9-key"),
                       timeout=0.3)
        assert c.soa()[0] == 1
        srv.pause()
        with pytest.raises(DnsServerError, match="did not answer"):
            c.soa()
        srv.resume()
        assert c.soa()[0] == 1
        c.add("kept", "10.8.0.1")
        srv.stop()
        assert not srv.running() and pid is not None
        with pytest.raises(DnsServerError, match="refused the connection"):
            c.soa()
        srv.start()  # a restart keeps the zone data (journal) and the keys
        assert c.lookup("kept")["A"].values == ("10.8.0.1",)
        srv.stop()
    finally:
        srv.stop()
