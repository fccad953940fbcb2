"""Validation of what operators type: record names, addresses, TTLs.

Rules (docs/dns.md):
- NAME is either one DNS label (``peer3``, taken relative to the org's zone) or a fully
  qualified name inside the zone (``peer3.org1.example.com``, trailing dot optional).
  A dotted name that does not end with the zone is *outside the zone* and refused;
  the zone apex itself is refused (opskit does not touch SOA/NS).
- Labels are letters, digits and hyphens (no leading/trailing hyphen), 1-63 characters.
- A value is an IPv4 address (A), an IPv6 address (AAAA) or, for CNAME, a host name.
- TTL between :data:`TTL_MIN` and :data:`TTL_MAX` seconds.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import dns.name

from opskit.dns.errors import DnsInputError
from opskit.inventory.model import DNS_LABEL

TTL_MIN = 1
TTL_MAX = 604800  # one week: more is almost certainly a typo (milliseconds?)
DEFAULT_TTL = 300
ADDRESS_TYPES = ("A", "AAAA", "CNAME")

_LABEL_RE = re.compile(rf"^{DNS_LABEL}\Z")
_LOOKS_NUMERIC = re.compile(r"^[0-9.]+\Z")


def check_label(label: str) -> str:
    if not _LABEL_RE.match(label):
        raise DnsInputError(
            f"{label!r} is not a valid DNS label: use letters, digits and '-' (1-63 characters, "
            "not starting or ending with '-')"
        )
    return label.lower()


def zone_name(zone: str) -> dns.name.Name:
    return dns.name.from_text(zone.rstrip(".") + ".")


def _show(text: str) -> str:
    """A value for an error message: printable, bounded."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def record_name(name: str, zone: str) -> str:
    """The name relative to ``zone`` (lowercase, no trailing dot), validated.

    ``peer3`` and ``peer3.org1.example.com[.]`` both give ``peer3`` for zone ``org1.example.com``.
    """
    if not isinstance(name, str) or not name.strip():
        raise DnsInputError("the record name is empty")
    raw = name.strip()
    zone_l = zone.rstrip(".").lower()
    text = raw.rstrip(".").lower() if raw.endswith(".") else raw.lower()
    if raw.endswith(".") and not raw[:-1]:
        raise DnsInputError("the record name is empty")
    if text == zone_l:
        raise DnsInputError(f"{_show(raw)} is the zone apex of {zone_l}: opskit manages names below the apex only")
    if "." in text or raw.endswith("."):
        suffix = "." + zone_l
        if not text.endswith(suffix):
            raise DnsInputError(
                f"{_show(raw)} is outside zone {zone_l} (give one label such as 'peer3' or a name ending in {suffix})"
            )
        rel = text[: -len(suffix)]
    else:
        rel = text
    labels = rel.split(".")
    for label in labels:
        if not _LABEL_RE.match(label):
            raise DnsInputError(
                f"{_show(raw)} is not a valid DNS name: label {_show(label)} must be letters, digits and '-' "
                "(1-63 characters, not starting or ending with '-')"
            )
    fqdn = rel + "." + zone_l
    if len(fqdn) > 253:
        raise DnsInputError(f"{_show(raw)} is too long for DNS (more than 253 characters with the zone)")
    return rel


def check_ttl(ttl: int | str | None) -> int:
    if ttl is None:
        return DEFAULT_TTL
    try:
        value = int(str(ttl).strip())
    except ValueError:
        raise DnsInputError(f"TTL {_show(str(ttl))} is not a whole number of seconds") from None
    if not TTL_MIN <= value <= TTL_MAX:
        raise DnsInputError(f"TTL {value} is out of range ({TTL_MIN}..{TTL_MAX} seconds)")
    return value


@dataclass(frozen=True)
class Value:
    """A validated record value: its type and canonical text."""

    rdtype: str
    text: str


def canonical_target(target: str, zone: str) -> str:
    """A CNAME target as an absolute, lowercase name with trailing dot. One label = inside the zone."""
    raw = target.strip()
    text = raw.rstrip(".").lower()
    if not text:
        raise DnsInputError("the CNAME target is empty")
    labels = text.split(".")
    for label in labels:
        if not _LABEL_RE.match(label):
            raise DnsInputError(f"{_show(raw)} is neither a valid IP address nor a valid host name")
    if len(labels) == 1 and not raw.endswith("."):
        text = f"{text}.{zone.rstrip('.').lower()}"
    return text + "."


def parse_value(value: str, zone: str, rdtype: str | None = None) -> Value:
    """Validate ``value``: an IPv4 (A), IPv6 (AAAA) address, or a host name (CNAME).

    ``rdtype`` forces a type; without it the type follows the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise DnsInputError("the address is empty")
    raw = value.strip()
    want = rdtype.upper() if rdtype else None
    if want is not None and want not in ADDRESS_TYPES:
        raise DnsInputError(f"record type {_show(rdtype or '')} is not supported (use {', '.join(ADDRESS_TYPES)})")
    if want == "CNAME" or (want is None and not _LOOKS_NUMERIC.match(raw) and ":" not in raw
                           and any(c.isalpha() for c in raw)):
        return Value("CNAME", canonical_target(raw, zone))
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise DnsInputError(f"{_show(raw)} is not a valid IP address") from None
    kind = "A" if ip.version == 4 else "AAAA"
    if want is not None and want != kind:
        raise DnsInputError(f"{_show(raw)} is an IPv{ip.version} address, not a {want} value")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        raise DnsInputError(f"{_show(raw)} is an IPv4-mapped IPv6 address: give the IPv4 address instead")
    return Value(kind, ip.compressed)


def fqdn(rel: str, zone: str) -> str:
    return f"{rel}.{zone.rstrip('.').lower()}"
