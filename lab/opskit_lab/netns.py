"""The lab's private network: one Linux bridge, one network namespace per host, a veth pair each.

Everything here shells out to iproute2 (``ip``) with argv lists. Names are chosen by
the caller (see :class:`opskit_lab.lab.Lab`); every function that deletes something
deletes only the name it is given and treats "already gone" as success, so a
half-built lab can always be torn down.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opskit.errors import OpskitError

NETNS_DIR = Path("/var/run/netns")
#: Linux limits interface names to 15 characters.
IFNAMSIZ = 15


class NetnsError(OpskitError):
    """An ``ip`` command of the lab network failed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def _check_ifname(name: str) -> str:
    if not name or len(name) > IFNAMSIZ or "/" in name or " " in name:
        raise NetnsError(f"interface name {name!r} is not valid (1..{IFNAMSIZ} characters, no '/' or spaces)")
    return name


# -- queries -----------------------------------------------------------------------------
def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def netns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def subnet_in_use(subnet: str, *, ignore_dev: str | None = None) -> str | None:
    """The route (as text) that already covers or overlaps ``subnet`` in the root namespace, or None."""
    net = ipaddress.ip_network(subnet, strict=False)
    out = _ip("-4", "-o", "route", "show", "table", "all").stdout
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        dest = parts[0]
        if dest in ("default", "local", "broadcast", "unreachable", "blackhole", "prohibit", "throw"):
            if dest in ("local", "broadcast") and len(parts) > 1:
                dest = parts[1]
            else:
                continue
        if ignore_dev and f"dev {ignore_dev}" in line:
            continue
        try:
            other = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if other.prefixlen == 0:
            continue
        if other.overlaps(net):
            return line.strip()
    return None


# -- bridge --------------------------------------------------------------------------------
def create_bridge(name: str, address: str, prefixlen: int) -> None:
    """Create bridge ``name`` with ``address/prefixlen`` and bring it up."""
    _check_ifname(name)
    _ip("link", "add", name, "type", "bridge")
    _ip("addr", "add", f"{address}/{prefixlen}", "dev", name)
    _ip("link", "set", name, "up")


def delete_link(name: str) -> bool:
    """Delete interface ``name`` (bridge or veth); False when it did not exist."""
    if not link_exists(name):
        return False
    proc = _ip("link", "del", name, check=False)
    if proc.returncode != 0 and link_exists(name):
        raise NetnsError(f"cannot delete interface {name}: {proc.stderr.strip()}")
    return True


def set_link(name: str, up: bool) -> None:
    _ip("link", "set", name, "up" if up else "down")


def link_is_up(name: str) -> bool:
    try:
        flags = int(Path("/sys/class/net", name, "flags").read_text(), 16)
    except OSError:
        return False
    return bool(flags & 0x1)


# -- hosts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostLink:
    """One lab host's place on the bridge."""

    netns: str        #: namespace name under /var/run/netns
    veth: str         #: the root-namespace end of the pair (a bridge port)
    address: str      #: the host's address on the bridge subnet
    prefixlen: int
    gateway: str      #: the bridge's address

    @property
    def path(self) -> str:
        return netns_path(self.netns)


def create_host(link: HostLink, bridge: str) -> None:
    """Create the namespace, the veth pair (``eth0`` inside), addresses, ``lo`` and the default route."""
    _check_ifname(link.veth)
    _ip("netns", "add", link.netns)
    _ip("link", "add", link.veth, "type", "veth", "peer", "name", "eth0", "netns", link.netns)
    _ip("link", "set", link.veth, "master", bridge, "up")
    ns = ("-n", link.netns)
    _ip(*ns, "addr", "add", f"{link.address}/{link.prefixlen}", "dev", "eth0")
    _ip(*ns, "link", "set", "lo", "up")
    _ip(*ns, "link", "set", "eth0", "up")
    _ip(*ns, "route", "add", "default", "via", link.gateway)


def delete_netns(name: str) -> bool:
    """Delete namespace ``name`` (its veth end goes with it); False when it did not exist."""
    if not netns_exists(name):
        return False
    proc = _ip("netns", "del", name, check=False)
    if proc.returncode != 0 and netns_exists(name):
        raise NetnsError(f"cannot delete network namespace {name}: {proc.stderr.strip()}")
    return True


def delete_host(link: HostLink) -> None:
    delete_netns(link.netns)
    delete_link(link.veth)  # normally gone with the namespace; a half-built host may have only this end
