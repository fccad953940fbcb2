"""Certificate expiry without a lab: the one expiry rule, and the host-side reader script run on this machine
(a LocalSession): certificates found under a directory, keys never sent back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opskit.health.certs import _CERTS, cert_findings, expiry_status, parse_certs
from opskit.inventory.model import Host, Inventory, Node, NodeKind, Thresholds
from opskit.output.report import Severity
from opskit.remote.command import script
from opskit.remote.session import LocalSession

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_cert(cn: str, days: float, *, now: datetime | None = None) -> tuple[bytes, bytes]:
    """A self-signed EC certificate valid from a day ago for ``days`` more days: (cert PEM, key PEM)."""
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_expiry_rule_thresholds():
    def sev(days: float, **kw) -> Severity:
        return expiry_status(NOW - timedelta(days=1), NOW + timedelta(days=days), now=NOW, **kw)[0]

    assert [sev(d) for d in (3650, 30.5, 29.9, 7.1, 6.9, 0.1)] == [
        Severity.OK, Severity.OK, Severity.WARNING, Severity.WARNING, Severity.CRITICAL, Severity.CRITICAL]
    assert expiry_status(NOW - timedelta(days=9), NOW - timedelta(days=1), now=NOW)[1].startswith("expired on")
    assert expiry_status(NOW + timedelta(days=1), NOW + timedelta(days=9), now=NOW) == (
        Severity.CRITICAL, f"not valid before {(NOW + timedelta(days=1)).isoformat()}")
    assert sev(5, warning=timedelta(days=3), critical=timedelta(days=1)) is Severity.OK


def test_thresholds_are_validated():
    import pydantic
    import pytest

    assert Thresholds(cert_warning_days=10, cert_critical_days=2).cert_warning_days == 10
    with pytest.raises(pydantic.ValidationError, match="cert_critical_days"):
        Thresholds(cert_warning_days=5, cert_critical_days=6)


def test_host_script_reads_certificates_not_keys(tmp_path: Path):
    d = tmp_path / "msp"
    (d / "signcerts").mkdir(parents=True)
    (d / "keystore").mkdir()
    soon, key = make_cert("soon.example.com", 5)
    later, _ = make_cert("later.example.com", 400)
    (d / "signcerts" / "cert.pem").write_bytes(soon)
    (d / "keystore" / "priv_sk").write_bytes(key)
    (d / "server.key").write_bytes(key)
    (d / "combined.pem").write_bytes(later + key)           # a cert and its key in one file
    (d / "bundle.crt").write_bytes(soon + later)            # two certificates in one file
    (d / "notes.txt").write_bytes(soon)                     # not a certificate file name
    res = LocalSession("here").run(script(_CERTS, f"h:{d}"))
    assert "PRIVATE KEY" not in res.stdout
    certs, missing = parse_certs(res.stdout, "here", {"-": "node1"})
    assert missing == []
    got = sorted((Path(c.path).name, c.index, c.subject) for c in certs)
    assert got == [("bundle.crt", 0, "CN=soon.example.com"), ("bundle.crt", 1, "CN=later.example.com"),
                   ("cert.pem", 0, "CN=soon.example.com"), ("combined.pem", 0, "CN=later.example.com")]
    inv = Inventory(hosts={"here": Host(address="127.0.0.1", connection="local")},
                    nodes={"node1": Node(kind=NodeKind.PEER, host="here")})
    per_cert = cert_findings(inv, certs, per_cert=True)
    assert [f.data["days_left"] for f in per_cert] == sorted(f.data["days_left"] for f in per_cert)
    assert [f.severity for f in per_cert][:2] == [Severity.CRITICAL, Severity.CRITICAL]
    assert all(f.severity is Severity.OK for f in per_cert[2:])
    health = cert_findings(inv, certs)
    assert [f.severity for f in health] == [Severity.CRITICAL, Severity.CRITICAL]   # no OK summary beside them
    assert str(d / "signcerts" / "cert.pem") in " ".join(f.message for f in health)


def test_migration_precheck_uses_the_same_rule():
    """The consenter certificate precheck of the Kafka-to-Raft migration: one expiry rule, its own limits
    (warning under 30 days, critical only once expired)."""
    from opskit.orderer.migration import check_certificate

    def sev(days: float) -> list[str]:
        pem, _ = make_cert("localhost", days)
        return [f"{f.severity.label()}: {f.message}" for f in check_certificate(pem, host="localhost", what="c",
                                                                                 require_san=False)]

    assert sev(10)[0].startswith("warning: c: expires soon (")
    assert sev(3)[0].startswith("warning: c: expires soon (")      # not critical before it has expired
    assert sev(400)[0].startswith("warning: c: SANs")                # only the SAN remark: the dates are fine
