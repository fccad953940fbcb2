"""A ready-to-run BIND 9 configuration for an org's own DNS server (and for the lab's).

One code path writes both: ``inv dns.server-config ORG`` and :class:`opskit_lab.bind.BindServer`.
The layout of a server directory::

    DIR/named.conf           options + one zone statement per zone (absolute paths)
    DIR/keys/<key>.key       the TSIG key of each zone (mode 0600), included by named.conf
    DIR/zones/db.<zone>      the zone file (SOA, NS, the NS host's A, initial records)
    DIR/run/                 pid, lock and session key files, journals live beside the zone files

Run it with ``named -g -c DIR/named.conf`` (foreground, logs on stderr) after
``named-checkconf -z DIR/named.conf``. Each zone is updatable and transferable only with
its own key: ``update-policy { grant KEY zonesub ANY; }; allow-transfer { key KEY; };``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opskit.dns import names as nm
from opskit.dns.errors import DnsError, DnsInputError
from opskit.dns.keys import TsigKey, write_key


@dataclass
class ZoneConfig:
    """One zone of a server: its key and the records its zone file starts with."""

    zone: str
    key: TsigKey
    records: list[tuple[str, str, int, str]] = field(default_factory=list)  # (relative name, type, ttl, value)


@dataclass
class ServerFiles:
    """What :func:`write_server_config` wrote."""

    directory: Path
    named_conf: Path
    zone_files: dict[str, Path]
    key_files: dict[str, Path]
    server_id: str
    listen: str
    port: int

    def command(self) -> list[str]:
        return ["named", "-g", "-c", str(self.named_conf)]


def records_from_mapping(zone: str, records: Mapping[str, object] | None, ttl: int = nm.DEFAULT_TTL
                         ) -> list[tuple[str, str, int, str]]:
    """``{"peer0": "10.0.0.1", "www": ["10.0.0.2", "2001:db8::2"], "alias": "peer0"}`` as validated records.

    A value that is not an IP address is a CNAME target (one label = inside the zone).
    """
    out: list[tuple[str, str, int, str]] = []
    for name, value in (records or {}).items():
        rel = nm.record_name(str(name), zone)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            val = nm.parse_value(str(v), zone)
            out.append((rel, val.rdtype, ttl, val.text))
    return out


def render_zone_file(zone: str, records: Iterable[tuple[str, str, int, str]], ns_address: str,
                     serial: int = 1) -> str:
    z = zone.rstrip(".").lower()
    ns_type = "AAAA" if ipaddress.ip_address(ns_address).version == 6 else "A"
    lines = [
        f"$ORIGIN {z}.",
        "$TTL 300",
        f"@ 3600 IN SOA ns.{z}. hostmaster.{z}. ( {serial} 3600 600 604800 60 )",
        f"@ 3600 IN NS ns.{z}.",
        f"ns 3600 IN {ns_type} {ns_address}",
    ]
    for rel, rdtype, ttl, value in records:
        if rel == "ns":
            raise DnsInputError(f"record name 'ns' in zone {z} is reserved for the zone's own name server")
        lines.append(f"{rel} {ttl} IN {rdtype} {value}")
    return "\n".join(lines) + "\n"


def render_named_conf(directory: Path, zones: list[tuple[str, str, Path]], key_files: Iterable[Path],
                      listen: str, port: int, server_id: str) -> str:
    """named.conf text. ``zones`` holds (zone, key name, zone file path)."""
    d = directory.resolve()
    ip = ipaddress.ip_address(listen)
    listen_v4 = f"listen-on port {port} {{ {listen}; }};" if ip.version == 4 else "listen-on { none; };"
    listen_v6 = f"listen-on-v6 port {port} {{ {listen}; }};" if ip.version == 6 else "listen-on-v6 { none; };"
    out = [
        "// Written by opskit (opskit.dns.server_config). Run: named -g -c " + str(d / "named.conf"),
        "options {",
        f'\tdirectory "{d / "zones"}";',
        f'\tpid-file "{d / "run" / "named.pid"}";',
        f'\tlock-file "{d / "run" / "named.lock"}";',
        f'\tsession-keyfile "{d / "run" / "session.key"}";',
        f'\tmanaged-keys-directory "{d / "run"}";',
        f"\t{listen_v4}",
        f"\t{listen_v6}",
        f'\tserver-id "{server_id}";',
        "\trecursion no;",
        "\tdnssec-validation no;",
        "\tnotify no;",
        "\tallow-query { any; };",
        "\tallow-transfer { none; };",
        "};",
        "controls { };",
    ]
    for kf in key_files:
        out.append(f'include "{Path(kf).resolve()}";')
    for zone, key_name, zfile in zones:
        out += [
            f'zone "{zone}" {{',
            "\ttype primary;",
            f'\tfile "{Path(zfile).resolve()}";',
            f"\tupdate-policy {{ grant {key_name} zonesub ANY; }};",
            f"\tallow-transfer {{ key {key_name}; }};",
            "};",
        ]
    return "\n".join(out) + "\n"


def write_server_config(directory: str | os.PathLike[str], zones: list[ZoneConfig], *, listen: str = "127.0.0.1",
                        port: int = 53, server_id: str | None = None, ns_address: str | None = None,
                        overwrite_zones: bool = True) -> ServerFiles:
    """Write named.conf, keys and zone files for ``zones`` into ``directory``.

    ``overwrite_zones=False`` keeps existing zone files (and their journals): a restart keeps the data.
    """
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        raise DnsInputError(f"listen address {listen!r} is not an IP address") from None
    if not 1 <= int(port) <= 65535:
        raise DnsInputError(f"port {port} is out of range")
    d = Path(directory).resolve()
    for sub in ("keys", "zones", "run"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    sid = server_id or f"opskit-{secrets.token_hex(6)}"
    ns_addr = ns_address or (listen if listen not in ("0.0.0.0", "::") else "127.0.0.1")
    key_files: dict[str, Path] = {}
    zone_files: dict[str, Path] = {}
    entries: list[tuple[str, str, Path]] = []
    seen_zones: set[str] = set()
    for zc in zones:
        z = zc.zone.rstrip(".").lower()
        if z in seen_zones:
            raise DnsInputError(f"zone {z} is listed twice")
        seen_zones.add(z)
        if zc.key.name not in key_files:
            key_files[zc.key.name] = write_key(zc.key, d / "keys" / f"{zc.key.name}.key")
        zfile = d / "zones" / f"db.{z}"
        if overwrite_zones or not zfile.exists():
            for jnl in (zfile.with_name(zfile.name + ".jnl"),):
                jnl.unlink(missing_ok=True)
            zfile.write_text(render_zone_file(z, zc.records, ns_addr))
        zone_files[z] = zfile
        entries.append((z, zc.key.name, zfile))
    conf = d / "named.conf"
    conf.write_text(render_named_conf(d, entries, key_files.values(), listen, int(port), sid))
    return ServerFiles(d, conf, zone_files, key_files, sid, listen, int(port))


def check_config(files: ServerFiles) -> None:
    """``named-checkconf -z``: a config error is reported here, not lost in a daemon's silence."""
    exe = shutil.which("named-checkconf") or "/usr/bin/named-checkconf"
    if not os.path.exists(exe):
        return
    proc = subprocess.run([exe, "-z", str(files.named_conf)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "secret" not in ln.lower()]
        raise DnsError(f"named-checkconf rejected {files.named_conf}: " + " | ".join(lines[-5:]))
