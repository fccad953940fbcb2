"""The fleet model: typed, validated objects for hosts, organisations, nodes and channels.

Documents are YAML (see docs/inventory.md). Unknown keys are rejected so that a
typo never silently turns into a default. Names used as selectors or container
names must be plain identifiers: they end up in remote commands and DNS.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from opskit.errors import InventoryError
from opskit import values
from opskit.values import FilePath, ImageRef, MountPath, Text, Url, VolumeName

CURRENT_VERSION = 2

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
#: One DNS label (RFC 1123): letters, digits, inner hyphens, 1-63 characters. Shared with opskit.dns.
DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}\Z)({DNS_LABEL})(\.{DNS_LABEL})*\.?\Z")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '.', '_' and '-' (max 63, no spaces or shell characters)"
        )
    return value


def _check_address(value: str) -> str:
    """An IP address or a DNS host name; nothing else may reach a command line."""
    if "%" in value:
        values.ip(value)  # the clear message for a scoped IPv6 address
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if _HOSTNAME_RE.match(value) and not re.match(r"^[0-9.]+$", value):
        return value
    raise ValueError(f"{value!r} is neither a valid IP address nor a valid host name")


Name = Annotated[str, AfterValidator(_check_name)]
Address = Annotated[str, AfterValidator(_check_address)]
AbsPath = values.AbsPath
Port = Annotated[int, Field(ge=1, le=65535)]


class LinkError(InventoryError, ValueError):
    """A cross-reference problem, with the document path it belongs to (for file:line errors).

    Raised inside the model's validators, so it must also be a ``ValueError`` (pydantic turns only those into
    validation errors); the loader turns the ``ValidationError`` into an :class:`InventoryError` with the
    file:line (:func:`opskit.inventory.load.load_text`).
    """

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


class NodeKind(str, Enum):
    PEER = "peer"
    ORDERER = "orderer"
    KAFKA = "kafka"
    ZOOKEEPER = "zookeeper"
    COUCHDB = "couchdb"
    CLI = "cli"
    PROMETHEUS = "prometheus"
    GRAFANA = "grafana"
    NODE_EXPORTER = "node_exporter"
    CA = "ca"
    OTHER = "other"


class Thresholds(_Strict):
    """Warning/critical limits; a host may override the global ones."""

    disk_warning_pct: float = Field(80.0, ge=0, le=100)
    disk_critical_pct: float = Field(90.0, ge=0, le=100)
    log_warning_bytes: int = Field(1 * 1024**3, ge=0)
    lag_warning_blocks: int = Field(5, ge=0)
    lag_critical_blocks: int = Field(20, ge=0)
    cert_warning_days: float = Field(30.0, ge=0, description="a certificate expiring sooner is a WARNING")
    cert_critical_days: float = Field(7.0, ge=0, description="a certificate expiring sooner is CRITICAL")

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.disk_warning_pct > self.disk_critical_pct:
            raise ValueError("disk_warning_pct must not exceed disk_critical_pct")
        if self.lag_warning_blocks > self.lag_critical_blocks:
            raise ValueError("lag_warning_blocks must not exceed lag_critical_blocks")
        if self.cert_critical_days > self.cert_warning_days:
            raise ValueError("cert_critical_days must not exceed cert_warning_days")
        return self


class Defaults(_Strict):
    """Values every host inherits unless it sets its own."""

    ssh_user: Name = "root"
    port: Port = 22
    key_file: FilePath | None = None
    known_hosts: FilePath | None = None
    strict_host_keys: bool = True
    connect_timeout: float = Field(5.0, gt=0, le=600)
    host_timeout: float = Field(60.0, gt=0, le=86400)
    workers: int = Field(32, ge=1, le=1024)
    docker_data_root: AbsPath = "/var/lib/docker"
    thresholds: Thresholds = Field(default_factory=Thresholds)


class Host(_Strict):
    """A machine (VM) of the fleet, reached over SSH or, for this machine, locally."""

    name: Name = ""
    address: Address
    connection: Literal["ssh", "local"] = "ssh"
    ssh_user: Name | None = None
    port: Port | None = None
    key_file: FilePath | None = None
    home: AbsPath | None = None
    docker_data_root: AbsPath | None = None
    docker_host: Text | None = None
    ledger_paths: list[AbsPath] = Field(default_factory=list)
    labels: dict[Name, Text] = Field(default_factory=dict)
    thresholds: Thresholds | None = None


class DnsSettings(_Strict):
    """Where an organisation's own DNS server is and how opskit signs updates to it."""

    server: Address
    port: Port = 53
    zone: str
    tsig_key_name: str
    tsig_key_file: FilePath
    tsig_algorithm: Name = "hmac-sha256"

    @field_validator("zone", "tsig_key_name")
    @classmethod
    def _dns_name(cls, v: str) -> str:
        if not _HOSTNAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid DNS name")
        return v.rstrip(".")


class Org(_Strict):
    """An organisation: peer org or orderer org."""

    name: Name = ""
    domain: str
    msp_id: Name
    kind: Literal["peer", "orderer"] = "peer"
    admin_msp_path: AbsPath | None = None
    admin_tls_cert: AbsPath | None = Field(None, description="the admin's TLS client certificate inside the tools "
                                           "container: `--clientauth --certfile` for orderers and peers that require "
                                           "client certificates (ORDERER_GENERAL_TLS_CLIENTAUTHREQUIRED)")
    admin_tls_key: AbsPath | None = Field(None, description="the key of admin_tls_cert inside the tools container")
    dns: DnsSettings | None = None
    address: Address | None = Field(None, description="where other orgs reach this org's nodes when that is not "
                                     "their hosts' addresses (a proxy or load balancer in front of the org): "
                                     "dns.sync points the DNS names of the org's nodes here (IP: A/AAAA, name: CNAME)")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not _HOSTNAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid domain")
        return v.rstrip(".")


class Node(_Strict):
    """A Fabric (or supporting) container placed on a host."""

    name: Name = ""
    kind: NodeKind
    host: Name
    org: Name | None = None
    container: Name | None = None
    hostname: Address | None = None
    compose_file: AbsPath | None = None
    compose_service: Name | None = None
    image: ImageRef | None = None
    operations: Url | None = Field(None, description="operations endpoint base URL, e.g. http://10.0.0.1:9443")
    ports: list[Port] = Field(default_factory=list)
    listen_port: Port | None = Field(None, description="the node's Fabric (gRPC) port: what `peer ... -o HOSTNAME:PORT` "
                                     "uses from the tools container (orderer 7050, peer 7051)")
    tls_ca_file: AbsPath | None = Field(None, description="CA of the node's TLS server cert, as a path inside the tools "
                                        "container: `peer ... --tls --cafile` for orderers, "
                                        "CORE_PEER_TLS_ROOTCERT_FILE for peers")
    admin_port: Port | None = Field(None, description="an orderer's channel participation (osnadmin) admin port")
    operations_ca_file: AbsPath | None = Field(None, description="CA of an HTTPS operations endpoint, as a path on the "
                                               "node's host (curl --cacert)")
    operations_cert_file: AbsPath | None = Field(None, description="client certificate for an operations endpoint "
                                                 "that requires one, as a path on the node's host")
    operations_key_file: AbsPath | None = Field(None, description="key of operations_cert_file, on the node's host")
    volumes: dict[MountPath, VolumeName] = Field(default_factory=dict, description="container path -> named volume")
    ledger_path: AbsPath | None = None
    channels: list[Name] = Field(default_factory=list)
    labels: dict[Name, Text] = Field(default_factory=dict)

    @property
    def container_name(self) -> str:
        return self.container or self.name


class Channel(_Strict):
    name: Name = ""
    system: bool = False
    orderers: list[Name] = Field(default_factory=list)
    peers: list[Name] = Field(default_factory=list)


class Chaincode(_Strict):
    name: Name
    channel: Name
    invoke_args: list[Text] = Field(default_factory=list)
    query_args: list[Text] = Field(default_factory=list)


class Monitoring(_Strict):
    prometheus_url: Url | None = None
    grafana_url: Url | None = None


class AwsSettings(_Strict):
    region: Name | None = None
    profile: Name | None = None
    endpoint_url: Url | None = None


class Inventory(_Strict):
    """A whole fleet, as validated from one YAML document."""

    version: Literal[2] = 2
    name: Name = "fleet"
    defaults: Defaults = Field(default_factory=Defaults)
    hosts: dict[Name, Host]
    orgs: dict[Name, Org] = Field(default_factory=dict)
    nodes: dict[Name, Node] = Field(default_factory=dict)
    channels: dict[Name, Channel] = Field(default_factory=dict)
    chaincode: Chaincode | None = None
    monitoring: Monitoring = Field(default_factory=Monitoring)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    source: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _link(self) -> "Inventory":
        tables = {"hosts": self.hosts, "orgs": self.orgs, "nodes": self.nodes, "channels": self.channels}
        for section, table in tables.items():
            for key, item in table.items():
                if item.name and item.name != key:
                    raise LinkError((section, key, "name"), f"entry {key!r} has a different name: {item.name!r}")
                item.name = key
        for node in self.nodes.values():
            if node.host not in self.hosts:
                raise LinkError(("nodes", node.name, "host"), f"node {node.name!r} is on host {node.host!r}, which is not defined under hosts")
            if node.org is not None and node.org not in self.orgs:
                raise LinkError(("nodes", node.name, "org"), f"node {node.name!r} names org {node.org!r}, which is not defined under orgs")
            for ch in node.channels:
                if self.channels and ch not in self.channels:
                    raise LinkError(("nodes", node.name, "channels"), f"node {node.name!r} names channel {ch!r}, which is not defined under channels")
        seen: dict[tuple[str, str], str] = {}
        for node in self.nodes.values():
            key = (node.host, node.container_name)
            if key in seen:
                raise LinkError(
                    ("nodes", node.name),
                    f"nodes {seen[key]!r} and {node.name!r} both use container {node.container_name!r} on host {node.host!r}",
                )
            seen[key] = node.name
        addresses: dict[tuple[str, int], str] = {}
        for host in self.hosts.values():
            if host.connection == "local":
                continue
            key = (host.address, self.port_of(host))
            if key in addresses:
                raise LinkError(("hosts", host.name), f"hosts {addresses[key]!r} and {host.name!r} have the same address and port {key[0]}:{key[1]}")
            addresses[key] = host.name
        for ch in self.channels.values():
            for member in ch.orderers + ch.peers:
                if member not in self.nodes:
                    raise LinkError(("channels", ch.name), f"channel {ch.name!r} lists node {member!r}, which is not defined under nodes")
        return self

    # -- effective per-host settings -------------------------------------------------
    def port_of(self, host: Host) -> int:
        return host.port or self.defaults.port

    def user_of(self, host: Host) -> str:
        return host.ssh_user or self.defaults.ssh_user

    def docker_root_of(self, host: Host) -> str:
        return host.docker_data_root or self.defaults.docker_data_root

    def thresholds_of(self, host: Host) -> Thresholds:
        return host.thresholds or self.defaults.thresholds

    def nodes_on(self, host: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.host == host]

    def channels_of(self, node: Node) -> list[str]:
        if node.channels:
            return list(node.channels)
        return [c.name for c in self.channels.values() if node.name in c.orderers + c.peers]
