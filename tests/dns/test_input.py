"""Validation and key files: refused before anything is sent, with clear messages and no secret."""

from __future__ import annotations

import pytest

from opskit.dns import names as nm
from opskit.dns.errors import DnsInputError, DnsKeyError
from opskit.dns.extra_hosts import entries_from_value, parse_compose, parse_inspect, split_entry
from opskit.dns.keys import load_key, parse_keys

Z = "org1.example.com"


@pytest.mark.parametrize("name,rel", [
    ("peer3", "peer3"), ("PEER3", "peer3"), ("peer3.org1.example.com", "peer3"),
    ("peer3.org1.example.com.", "peer3"), ("a.b.org1.example.com", "a.b"), ("x-1", "x-1"),
])
def test_record_names_accepted(name: str, rel: str) -> None:
    assert nm.record_name(name, Z) == rel


@pytest.mark.parametrize("name,words", [
    ("x_y", "not a valid DNS name"), ("-x", "not a valid DNS name"), ("x" * 64, "not a valid DNS name"),
    ("peer3.org2.example.com", "outside zone"), ("peer3.dc1", "outside zone"), ("evil.com.", "outside zone"),
    ("org1.example.com", "zone apex"), ("", "empty"), ("a b", "not a valid DNS name"),
    ("x;rm -rf /", "not a valid DNS name"),
])
def test_record_names_refused(name: str, words: str) -> None:
    with pytest.raises(DnsInputError, match=words):
        nm.record_name(name, Z)


@pytest.mark.parametrize("value,rdtype,text", [
    ("10.0.0.5", "A", "10.0.0.5"), ("2001:DB8:0::1", "AAAA", "2001:db8::1"),
    ("peer0", "CNAME", "peer0.org1.example.com."), ("lb.example.net.", "CNAME", "lb.example.net."),
])
def test_values(value: str, rdtype: str, text: str) -> None:
    v = nm.parse_value(value, Z)
    assert (v.rdtype, v.text) == (rdtype, text)


@pytest.mark.parametrize("value", ["10.0.0.256", "10.0.0", "010.0.0.1", "1.2.3.4.5", "::ffff:10.0.0.1", "2001:db8::g", ""])
def test_invalid_ip_refused(value: str) -> None:
    with pytest.raises(DnsInputError):
        nm.parse_value(value, Z)


@pytest.mark.parametrize("ttl", [0, -1, 604801, "1e3", "abc", 2**31])
def test_ttl_out_of_range(ttl) -> None:
    with pytest.raises(DnsInputError, match="TTL"):
        nm.check_ttl(ttl)


def test_ttl_default_and_bounds() -> None:
    assert nm.check_ttl(None) == 300
    assert nm.check_ttl("1") == 1 and nm.check_ttl(604800) == 604800


SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXh4eHg="


def test_key_file_parsing_and_repr_hides_secret(tmp_path) -> None:
    text = f'# comment\nkey "org1-key" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n' \
           f'key other {{ algorithm hmac-sha512; secret "{SECRET}"; }};\n'
    keys = parse_keys(text)
    assert set(keys) == {"org1-key", "other"} and keys["other"].algorithm == "hmac-sha512"
    assert SECRET not in repr(keys["org1-key"]) and SECRET not in str(keys["org1-key"])
    p = tmp_path / "k.key"
    p.write_text(text)
    assert load_key(p, "org1-key").secret == SECRET


def test_key_file_faults_are_clear_and_secret_free(tmp_path) -> None:
    with pytest.raises(DnsKeyError, match="does not exist"):
        load_key(tmp_path / "missing.key", "org1-key")
    with pytest.raises(DnsKeyError, match="is a directory"):
        load_key(tmp_path, "org1-key")
    p = tmp_path / "k.key"
    p.write_text(f'key "org1-key" {{ algorithm hmac-sha256; secret "{SECRET}"; }};')
    with pytest.raises(DnsKeyError, match="no key named 'org2-key'") as exc:
        load_key(p, "org2-key")
    assert SECRET not in str(exc.value)
    with pytest.raises(DnsKeyError, match="inventory says hmac-sha512"):
        load_key(p, "org1-key", "hmac-sha512")
    bad = tmp_path / "bad.key"
    bad.write_text('key "org1-key" { algorithm hmac-sha256; secret "not*base64!"; };')
    with pytest.raises(DnsKeyError, match="not valid base64") as exc:
        load_key(bad, "org1-key")
    assert "not*base64" not in str(exc.value)
    junk = tmp_path / "junk.key"
    junk.write_text("hello")
    with pytest.raises(DnsKeyError, match="no key statement"):
        load_key(junk, "org1-key")


def test_extra_hosts_forms() -> None:
    assert split_entry("a.org1.example.com:10.0.0.1") == ("a.org1.example.com", "10.0.0.1")
    assert split_entry("a=10.0.0.1") == ("a", "10.0.0.1")
    assert split_entry("v6:[2001:db8::1]") == ("v6", "2001:db8::1")
    assert split_entry("v6=2001:db8::1") == ("v6", "2001:db8::1")
    entries, warnings = entries_from_value({"m.org1.example.com": "10.0.0.9", "gw": "host-gateway"}, "h", "s")
    assert [(e.name, e.address) for e in entries] == [("m.org1.example.com", "10.0.0.9")]
    assert any("host-gateway" in w for w in warnings)
    entries, _ = parse_inspect('["x.org1.example.com:10.0.0.7","y:2001:db8::7"]', "h", "c1")
    assert [(e.name, e.address) for e in entries] == [("x.org1.example.com", "10.0.0.7"), ("y", "2001:db8::7")]
    assert parse_inspect("null\n", "h", "c1") == ([], [])


def test_compose_parse_reports_bad_yaml_with_line() -> None:
    entries, warnings = parse_compose("services:\n  a:\n    extra_hosts: [x\n", "h", "/f.yaml")
    assert entries == [] and "line" in warnings[0]
