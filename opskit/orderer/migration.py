"""Kafka -> etcdraft migration, the pure part: prechecks, per-channel states and the three config updates.

The procedure (Fabric docs "Migrating from Kafka to Raft"; docs/orderer.md has the runbook):

=====  ==========================================================  =======================================
phase  what                                                        config update generated here
=====  ==========================================================  =======================================
1      enter maintenance on every channel (system channel first)   :func:`step1_enter_maintenance`
2      backup (orderers, Kafka, ZooKeeper stopped and copied)      -
3      switch every channel to etcdraft, same metadata everywhere  :func:`step2_switch_to_etcdraft`
4      restart the orderers as Raft, check a leader per channel    -
5      exit maintenance on every channel (system channel first)    :func:`step3_exit_maintenance`
=====  ==========================================================  =======================================

The three *updates* are numbered 1-3 as in the fixtures (``step1_to_maintenance``, ``step2_to_etcdraft``,
``step3_to_normal``). Each generator takes the channel's current ``Config``, returns a changed copy in which
only ``/Channel/Orderer/ConsensusType`` is re-serialized (the maintenance filter rejects a state change that
comes with any other change), and refuses to run from the wrong state. :class:`ChannelStep` is the state a
channel is in, derivable from its config (:func:`channel_step`), so a journal can be checked against reality.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fabric_protos.common import configtx_pb2

from opskit.errors import OpskitError
from opskit.health.certs import expiry_status
from opskit.orderer.config import (
    STATE_MAINTENANCE,
    STATE_NORMAL,
    ChannelConfigError,
    Consenter,
    RaftMetadata,
    RaftOptions,
    capability_version,
    clone,
    diff_configs,
    get_capabilities,
    get_consensus,
    highest_capability,
    orderer_endpoints,
    set_consensus,
)
from opskit.orderer.rules import UpdateRejected, next_config
from opskit.orderer.update import compute_update, wrap_update
from opskit.output.report import Finding, Severity

MIN_VERSION = (1, 4, 2)
MIN_CAPABILITY = "V1_4_2"
MIN_CONSENTERS = 3
EXPIRY_WARNING = timedelta(days=30)


class MigrationError(OpskitError):
    """A migration step cannot be generated or run from the current state."""


class PrecheckFailed(MigrationError):
    """At least one precheck is CRITICAL; ``findings`` lists all of them."""

    def __init__(self, findings: list[Finding]) -> None:
        bad = [f for f in findings if f.severity is Severity.CRITICAL]
        super().__init__("migration prechecks failed: " + "; ".join(f.message for f in bad), exit_code=2)
        self.findings = findings


class ChannelStep(str, enum.Enum):
    """Where one channel is in the migration; each value is visible in the channel's config."""

    KAFKA_NORMAL = "kafka-normal"  # not started
    KAFKA_MAINTENANCE = "kafka-maintenance"  # update 1 applied (abort = exit maintenance on kafka)
    RAFT_MAINTENANCE = "etcdraft-maintenance"  # update 2 applied (abort needs the backup restored)
    RAFT_NORMAL = "etcdraft-normal"  # update 3 applied: migrated

    @property
    def next_update(self) -> int | None:
        """Number (1-3) of the update that moves the channel on, None when done."""
        return {"kafka-normal": 1, "kafka-maintenance": 2, "etcdraft-maintenance": 3}.get(self.value)


class MigrationPhase(str, enum.Enum):
    """Fleet-wide phases a migration journal records (one entry per transition)."""

    PRECHECK = "precheck"
    ENTER_MAINTENANCE = "enter-maintenance"
    BACKUP = "backup"
    SWITCH_TYPE = "switch-type"
    RESTART_RAFT = "restart-raft"
    VERIFY_LEADER = "verify-leader"
    EXIT_MAINTENANCE = "exit-maintenance"
    DONE = "done"
    ABORTED = "aborted"


def channel_step(config: configtx_pb2.Config) -> ChannelStep:
    """The :class:`ChannelStep` a config shows (kafka/etcdraft x NORMAL/MAINTENANCE)."""
    ct = get_consensus(config)
    kind = {"kafka": "kafka", "etcdraft": "etcdraft"}.get(ct.type)
    if kind is None:
        raise MigrationError(f"consensus type {ct.type!r} is neither kafka nor etcdraft: nothing to migrate")
    state = "normal" if ct.state == STATE_NORMAL else "maintenance"
    return ChannelStep(f"{kind}-{state}")


# --------------------------------------------------------------------------------------------------- consenters


@dataclass(frozen=True)
class ConsenterSpec:
    """A Raft consenter as the operator describes it: endpoint and TLS certificates (PEM)."""

    host: str
    port: int
    client_tls_cert: bytes
    server_tls_cert: bytes
    name: str | None = None
    source: str | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def to_consenter(self) -> Consenter:
        return Consenter(self.host, self.port, self.client_tls_cert, self.server_tls_cert)


def _cert_field(value: Any, base: Path, what: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise MigrationError(f"{what}: expected a PEM file path or inline PEM text")
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    p = Path(value)
    if not p.is_absolute():
        p = base / p
    try:
        return p.read_bytes()
    except OSError as exc:
        raise MigrationError(f"{what}: cannot read {p}: {exc.strerror}") from None


def load_consenters(path: str | Path) -> tuple[list[ConsenterSpec], RaftOptions]:
    """Read a consenters file (YAML or JSON)::

        consenters:
          - host: orderer1.ordererorg1.example.com
            port: 7050
            client_tls_cert: crypto/orderer1/tls/server.crt   # path (relative to this file) or inline PEM
            server_tls_cert: crypto/orderer1/tls/server.crt
        options:            # optional, these are the defaults
          tick_interval: 500ms
          election_tick: 10
          heartbeat_tick: 1
          max_inflight_blocks: 5
          snapshot_interval_size: 16777216
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    p = Path(path)
    try:
        doc = YAML(typ="safe").load(p.read_text())
    except OSError as exc:
        raise MigrationError(f"cannot read consenters file {p}: {exc.strerror}") from None
    except YAMLError as exc:
        raise MigrationError(f"{p}: not valid YAML/JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("consenters"), list):
        raise MigrationError(f"{p}: expected a mapping with a 'consenters' list")
    specs: list[ConsenterSpec] = []
    for i, c in enumerate(doc["consenters"]):
        what = f"{p}: consenters[{i}]"
        if not isinstance(c, dict):
            raise MigrationError(f"{what}: expected a mapping with host, port, client_tls_cert, server_tls_cert")
        missing = [k for k in ("host", "port", "client_tls_cert", "server_tls_cert") if not c.get(k)]
        if missing:
            raise MigrationError(f"{what}: missing {', '.join(missing)}")
        try:
            port = int(c["port"])
        except (TypeError, ValueError):
            raise MigrationError(f"{what}: port {c['port']!r} is not a number") from None
        if not 0 < port < 65536:
            raise MigrationError(f"{what}: port {port} out of range")
        specs.append(ConsenterSpec(
            host=str(c["host"]), port=port,
            client_tls_cert=_cert_field(c["client_tls_cert"], p.parent, f"{what}.client_tls_cert"),
            server_tls_cert=_cert_field(c["server_tls_cert"], p.parent, f"{what}.server_tls_cert"),
            name=c.get("name"), source=str(p)))
    opts = doc.get("options") or {}
    if not isinstance(opts, dict):
        raise MigrationError(f"{p}: options must be a mapping")
    unknown = set(opts) - set(RaftOptions.__dataclass_fields__)
    if unknown:
        raise MigrationError(f"{p}: unknown etcdraft options {', '.join(sorted(unknown))}")
    try:
        options = RaftOptions(**{k: (str(v) if k == "tick_interval" else int(v)) for k, v in opts.items()})
    except (TypeError, ValueError) as exc:
        raise MigrationError(f"{p}: bad etcdraft options: {exc}") from None
    return specs, options


def raft_metadata(specs: Iterable[ConsenterSpec], options: RaftOptions | None = None) -> RaftMetadata:
    """The etcdraft ConfigMetadata every channel gets (identical on all channels)."""
    return RaftMetadata(tuple(s.to_consenter() for s in specs), options or RaftOptions())


# --------------------------------------------------------------------------------------------------- prechecks


def _finding(check: str, severity: Severity, message: str, channel: str | None = None, **data: Any) -> Finding:
    if channel:
        data["channel"] = channel
    return Finding(check=check, severity=severity, message=message, node=channel, data=data)


def check_capabilities(config: configtx_pb2.Config, channel: str | None = None) -> list[Finding]:
    """Channel AND orderer capability must be V1_4_2 or later (V2_0 counts)."""
    out: list[Finding] = []
    for level, where in (("channel", "/Channel"), ("orderer", "/Channel/Orderer")):
        try:
            caps = get_capabilities(config, level)
        except ChannelConfigError as exc:
            out.append(_finding(f"capability.{level}", Severity.CRITICAL, str(exc), channel))
            continue
        try:
            top = highest_capability(caps)
            ok = top is not None and capability_version(top) >= capability_version(MIN_CAPABILITY)
        except ChannelConfigError:
            top, ok = None, False
        label = f"{channel}: " if channel else ""
        if ok:
            out.append(_finding(f"capability.{level}", Severity.OK,
                                f"{label}{level} capability {top} >= {MIN_CAPABILITY}", channel, capabilities=sorted(caps)))
        else:
            shown = ", ".join(sorted(caps)) or "none"
            out.append(_finding(
                f"capability.{level}", Severity.CRITICAL,
                f"{label}{level} capability ({where} Capabilities: {shown}) is below {MIN_CAPABILITY}: raise it to "
                f"{MIN_CAPABILITY} or V2_0 with a config update before migrating", channel, capabilities=sorted(caps)))
    return out


def check_consensus(config: configtx_pb2.Config, channel: str | None = None) -> list[Finding]:
    """Where the channel is: kafka/NORMAL is the start; others are reported (resume, done, unsupported)."""
    label = f"{channel}: " if channel else ""
    try:
        step = channel_step(config)
    except (MigrationError, ChannelConfigError) as exc:
        return [_finding("consensus", Severity.CRITICAL, f"{label}{exc}", channel)]
    sev, msg = {
        ChannelStep.KAFKA_NORMAL: (Severity.OK, "kafka, STATE_NORMAL: ready to enter maintenance"),
        ChannelStep.KAFKA_MAINTENANCE: (Severity.WARNING, "kafka, STATE_MAINTENANCE: migration already started "
                                                          "(resume, or abort by exiting maintenance)"),
        ChannelStep.RAFT_MAINTENANCE: (Severity.WARNING, "etcdraft, STATE_MAINTENANCE: type already switched "
                                                         "(resume; abort needs the backup restored)"),
        ChannelStep.RAFT_NORMAL: (Severity.OK, "etcdraft, STATE_NORMAL: already migrated"),
    }[step]
    return [_finding("consensus", sev, label + msg, channel, step=step.value)]


def _sans(cert: Any) -> tuple[list[str], list[Any]]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress)


def host_matches(host: str, dns_names: list[str], ips: list[Any]) -> bool:
    """Whether ``host`` is covered by a certificate's SANs (IP literal vs IP SANs, name vs DNS SANs/wildcards)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in ips
    h = host.lower().rstrip(".")
    for name in dns_names:
        n = name.lower().rstrip(".")
        if n == h:
            return True
        if n.startswith("*.") and "." in h and h.split(".", 1)[1] == n[2:]:
            return True
    return False


def check_certificate(pem: bytes, *, host: str, what: str, now: datetime | None = None,
                      require_san: bool = True) -> list[Finding]:
    """One TLS certificate: parses as PEM X.509, valid now (not expired, not in the future), SAN covers ``host``."""
    from cryptography import x509

    now = now or datetime.now(timezone.utc)
    check = "consenter.cert"
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        return [_finding(check, Severity.CRITICAL, f"{what}: not a PEM X.509 certificate ({exc})", endpoint=host)]
    out: list[Finding] = []
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    sev, why = expiry_status(nb, na, now=now, warning=EXPIRY_WARNING, critical=timedelta(0))
    if sev is not Severity.OK:
        when = {"not_before": nb.isoformat()} if nb > now and na > now else {"not_after": na.isoformat()}
        why = why if sev is Severity.CRITICAL else f"expires soon ({na.isoformat()})"
        out.append(_finding(check, sev, f"{what}: {why}", **when))
    dns, ips = _sans(cert)
    if not host_matches(host, dns, ips):
        names = ", ".join(dns + [str(i) for i in ips]) or "no SANs"
        sev = Severity.CRITICAL if require_san else Severity.WARNING
        out.append(_finding(check, sev, f"{what}: SANs ({names}) do not include {host}", sans=dns + [str(i) for i in ips]))
    if not out:
        out.append(_finding(check, Severity.OK, f"{what}: valid until {na.date().isoformat()}, SAN covers {host}",
                            not_after=na.isoformat()))
    return out


def check_consenters(specs: list[ConsenterSpec], *, now: datetime | None = None,
                     endpoints: Iterable[str] | None = None) -> list[Finding]:
    """At least 3 consenters, distinct endpoints, readable unexpired certs whose SANs match the host.

    The server certificate's SANs must cover the consenter host (the other orderers dial it); for the client
    certificate a SAN mismatch is only a warning (Fabric's cluster authentication compares the certificate
    itself). ``endpoints``: the orderer endpoints of the channel config; a consenter outside them is a warning.
    """
    out: list[Finding] = []
    if len(specs) < MIN_CONSENTERS:
        out.append(_finding("consenters.count", Severity.CRITICAL,
                            f"{len(specs)} consenter(s) given, at least {MIN_CONSENTERS} are needed (Raft needs a "
                            "majority; 3 tolerate one failure)", count=len(specs)))
    else:
        out.append(_finding("consenters.count", Severity.OK, f"{len(specs)} consenters", count=len(specs)))
    seen: dict[str, int] = {}
    for s in specs:
        seen[s.endpoint] = seen.get(s.endpoint, 0) + 1
    for ep, n in seen.items():
        if n > 1:
            out.append(_finding("consenters.unique", Severity.CRITICAL, f"consenter {ep} is listed {n} times"))
    known = set(endpoints) if endpoints is not None else None
    for s in specs:
        label = f"consenter {s.endpoint}"
        if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", s.host):
            out.append(_finding("consenter.host", Severity.CRITICAL, f"{label}: host {s.host!r} is not a host name or IP"))
        out += check_certificate(s.server_tls_cert, host=s.host, what=f"{label} server_tls_cert", now=now)
        out += check_certificate(s.client_tls_cert, host=s.host, what=f"{label} client_tls_cert", now=now,
                                 require_san=False)
        if known is not None and s.endpoint not in known:
            out.append(_finding("consenter.endpoint", Severity.WARNING,
                                f"{label} is not among the orderer endpoints of the channel config "
                                f"({', '.join(sorted(known)) or 'none'})"))
    return out


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def check_node_versions(versions: Mapping[str, str]) -> list[Finding]:
    """Every orderer and peer must run Fabric >= 1.4.2 (``versions``: node name -> version string)."""
    out: list[Finding] = []
    for node, text in sorted(versions.items()):
        v = parse_version(text)
        if v is None:
            out.append(Finding("node.version", Severity.UNKNOWN, f"{node}: version {text!r} not understood", node=node))
        elif v < MIN_VERSION:
            out.append(Finding("node.version", Severity.CRITICAL,
                               f"{node}: Fabric {text} is older than 1.4.2: upgrade it before migrating", node=node))
        else:
            out.append(Finding("node.version", Severity.OK, f"{node}: Fabric {text}", node=node))
    return out


def precheck(configs: Mapping[str, configtx_pb2.Config], specs: list[ConsenterSpec], *,
             node_versions: Mapping[str, str] | None = None, now: datetime | None = None) -> list[Finding]:
    """All offline prechecks over every channel's config and the consenter list."""
    out: list[Finding] = []
    endpoints: set[str] = set()
    for ch, cfg in configs.items():
        out += check_capabilities(cfg, ch)
        out += check_consensus(cfg, ch)
        try:
            endpoints.update(orderer_endpoints(cfg))
        except ChannelConfigError:
            pass
    out += check_consenters(specs, now=now, endpoints=endpoints if configs else None)
    if node_versions is not None:
        out += check_node_versions(node_versions)
    return out


def require_ok(findings: list[Finding]) -> None:
    """Raise :class:`PrecheckFailed` if any finding is CRITICAL."""
    if any(f.severity is Severity.CRITICAL for f in findings):
        raise PrecheckFailed(findings)


# --------------------------------------------------------------------------------------------------- steps


def _expect(config: configtx_pb2.Config, allowed: tuple[ChannelStep, ...], what: str) -> None:
    step = channel_step(config)
    if step not in allowed:
        raise MigrationError(f"cannot {what}: channel is {step.value}, expected "
                             + " or ".join(s.value for s in allowed))


def step1_enter_maintenance(config: configtx_pb2.Config) -> configtx_pb2.Config:
    """Update 1: ConsensusType.state NORMAL -> MAINTENANCE; type (kafka) and metadata untouched."""
    _expect(config, (ChannelStep.KAFKA_NORMAL,), "enter maintenance")
    out = clone(config)
    set_consensus(out, state=STATE_MAINTENANCE)
    return out


def step2_switch_to_etcdraft(config: configtx_pb2.Config, metadata: RaftMetadata | bytes) -> configtx_pb2.Config:
    """Update 2: type kafka -> etcdraft with ``metadata``; state stays MAINTENANCE; KafkaBrokers left in place."""
    _expect(config, (ChannelStep.KAFKA_MAINTENANCE,), "switch to etcdraft")
    md = metadata if isinstance(metadata, RaftMetadata) else RaftMetadata.from_bytes(metadata)
    if len(md.consenters) < MIN_CONSENTERS:
        raise MigrationError(f"etcdraft metadata has {len(md.consenters)} consenter(s), at least {MIN_CONSENTERS} needed")
    out = clone(config)
    set_consensus(out, type="etcdraft", metadata=metadata)
    return out


def step3_exit_maintenance(config: configtx_pb2.Config) -> configtx_pb2.Config:
    """Update 3: state MAINTENANCE -> NORMAL on etcdraft (only after every channel has a Raft leader)."""
    _expect(config, (ChannelStep.RAFT_MAINTENANCE,), "exit maintenance")
    out = clone(config)
    set_consensus(out, state=STATE_NORMAL)
    return out


def abort_exit_maintenance(config: configtx_pb2.Config) -> configtx_pb2.Config:
    """Abort before the type switch: kafka MAINTENANCE -> NORMAL. After the switch only a backup restore helps."""
    step = channel_step(config)
    if step is ChannelStep.RAFT_MAINTENANCE:
        raise MigrationError("cannot abort with a config update: the channel is already etcdraft; restore the "
                             "step-2 backup on every orderer, Kafka broker and ZooKeeper node instead")
    _expect(config, (ChannelStep.KAFKA_MAINTENANCE,), "abort")
    out = clone(config)
    set_consensus(out, state=STATE_NORMAL)
    return out


STEP_NAMES = {1: "step1_to_maintenance", 2: "step2_to_etcdraft", 3: "step3_to_normal"}


@dataclass
class PlannedStep:
    """One config update for one channel, ready to be written or submitted."""

    channel: str
    number: int
    before: ChannelStep
    after: ChannelStep
    original: configtx_pb2.Config
    modified: configtx_pb2.Config
    update: configtx_pb2.ConfigUpdate
    changes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return STEP_NAMES[self.number]

    def before_after(self) -> dict[str, str]:
        """Every changed config value before and after this update, one ``path: value`` line each (``--diff``)."""
        diff = diff_configs(self.original, self.modified)
        return {"before": "\n".join(f"{c.path}: {c.old!r}" for c in diff),
                "after": "\n".join(f"{c.path}: {c.new!r}" for c in diff)}

    def envelope(self) -> Any:
        return wrap_update(self.update, self.channel)


def plan_channel(config: configtx_pb2.Config, channel: str, metadata: RaftMetadata | bytes,
                 *, until: int = 3) -> list[PlannedStep]:
    """The remaining updates for one channel from its current state (resume-aware), up to update ``until``.

    Each update is computed against the config the orderer would commit for the previous one
    (:func:`opskit.orderer.rules.next_config`: versions bumped, sequence + 1, every orderer rule except the
    signatures checked), so update 2 writes ConsensusType at version 2 and update 3 at version 3, as on a
    real network. ``modified`` of each step is that committed config.
    """
    out: list[PlannedStep] = []
    current = config
    step = channel_step(current)
    while step.next_update is not None and step.next_update <= until:
        n = step.next_update
        if n == 1:
            nxt = step1_enter_maintenance(current)
        elif n == 2:
            nxt = step2_switch_to_etcdraft(current, metadata)
        else:
            nxt = step3_exit_maintenance(current)
        upd = compute_update(current, nxt, channel)
        try:
            committed = next_config(current, upd)
        except UpdateRejected as exc:  # a bug here, or a config the orderer would not accept either
            raise MigrationError(f"{channel}: planned {STEP_NAMES[n]} would be rejected: {exc}") from None
        after = channel_step(committed)
        changes = [c.describe() for c in diff_configs(current, nxt)]
        out.append(PlannedStep(channel, n, step, after, current, committed, upd, changes))
        current, step = committed, after
    return out


def order_channels(channels: Iterable[str], system_channel: str | None) -> list[str]:
    """System channel first, then the application channels in name order."""
    rest = sorted(c for c in channels if c != system_channel)
    chans = list(channels)
    return ([system_channel] if system_channel and system_channel in chans else []) + rest


def plan_migration(configs: Mapping[str, configtx_pb2.Config], metadata: RaftMetadata | bytes, *,
                   system_channel: str | None = None, until: int = 3) -> list[PlannedStep]:
    """Every channel's remaining updates, ordered by update number, system channel first within each."""
    per_channel = {ch: plan_channel(cfg, ch, metadata, until=until) for ch, cfg in configs.items()}
    order = order_channels(configs, system_channel)
    out: list[PlannedStep] = []
    for n in (1, 2, 3):
        for ch in order:
            out += [s for s in per_channel[ch] if s.number == n]
    return out
