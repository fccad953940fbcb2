"""Read and change a channel configuration (``common.Config``) the way an orderer operator needs.

Input files: a config block (``peer channel fetch config``), a CONFIG envelope, or a bare ``common.Config``
(``configtxlator proto_encode --type common.Config``); :func:`load_config_file` tells them apart.

Setters change the parsed ``Config`` in place and re-serialize **only the value they change**, and only when
its decoded content really changes. Every other value keeps the exact bytes it had in the block: re-encoding a
whole config (for example from JSON) can re-order protobuf maps (``Application/ACLs``) and so invent a
difference that the orderer then rejects. Versions are not bumped: ``compute_update`` ignores them, the
orderer bumps them when it applies the update.

:func:`render_config` / :func:`render_update` / :func:`render_envelope` give the same JSON as
``configtxlator proto_decode`` (opaque values decoded by their name and group, uint64 as strings, bytes as
base64, enums by name, unset messages and empty bytes as ``null``); :func:`diff_rendered` lists the changed
JSON paths for plans.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError, Message

from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.common import configuration_pb2 as common_conf
from fabric_protos.msp import identities_pb2, msp_config_pb2, msp_principal_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_conf
from fabric_protos.orderer.etcdraft import configuration_pb2 as etcdraft_conf
from fabric_protos.peer import configuration_pb2 as peer_conf

from opskit.errors import OpskitError

ORDERER = "Orderer"
APPLICATION = "Application"
CONSORTIUMS = "Consortiums"

CONSENSUS_TYPE = "ConsensusType"
BATCH_SIZE = "BatchSize"
BATCH_TIMEOUT = "BatchTimeout"
CAPABILITIES = "Capabilities"
KAFKA_BROKERS = "KafkaBrokers"

STATE_NORMAL = "STATE_NORMAL"
STATE_MAINTENANCE = "STATE_MAINTENANCE"

#: capability levels: ``channel`` = /Channel, ``orderer`` = /Channel/Orderer, ``application`` = /Channel/Application
LEVELS = ("channel", "orderer", "application")

#: etcdraft options Fabric's sample configtx.yaml uses (and the fixtures show)
DEFAULT_RAFT_OPTIONS = {
    "tick_interval": "500ms",
    "election_tick": 10,
    "heartbeat_tick": 1,
    "max_inflight_blocks": 5,
    "snapshot_interval_size": 16 * 1024 * 1024,
}

UINT32_MAX = 2**32 - 1


class ChannelConfigError(OpskitError):
    """A config file or value is missing, malformed, or a change is not valid."""


# --------------------------------------------------------------------------------------------------- loading


@dataclass
class LoadedConfig:
    """A decoded ``common.Config`` and where it came from."""

    config: configtx_pb2.Config
    kind: str  # "block", "envelope" or "config"
    channel_id: str | None = None
    block_number: int | None = None
    source: str | None = None


def config_from_envelope(env: common_pb2.Envelope) -> tuple[configtx_pb2.Config, str] | None:
    """(config, channel id) of a CONFIG envelope (as block 0 or a config block holds it), else None."""
    if not env.payload:
        return None
    payload = common_pb2.Payload()
    payload.ParseFromString(env.payload)
    if not payload.header.channel_header:
        return None
    chdr = common_pb2.ChannelHeader()
    chdr.ParseFromString(payload.header.channel_header)
    if chdr.type != common_pb2.CONFIG:
        return None
    cenv = configtx_pb2.ConfigEnvelope()
    cenv.ParseFromString(payload.data)
    if not cenv.HasField("config") or not cenv.config.HasField("channel_group"):
        return None
    return cenv.config, chdr.channel_id


def parse_config_bytes(data: bytes, source: str | None = None) -> LoadedConfig:
    """Decode a config block, a CONFIG envelope or a bare ``common.Config``."""
    where = source or "input"
    try:
        block = common_pb2.Block()
        block.ParseFromString(data)
        if block.HasField("header") and len(block.data.data) >= 1:
            env = common_pb2.Envelope()
            env.ParseFromString(block.data.data[0])
            got = config_from_envelope(env)
            if got is not None:
                return LoadedConfig(got[0], "block", got[1], block.header.number, source)
            raise ChannelConfigError(
                f"{where}: block {block.header.number} is not a config block (fetch it with `peer channel fetch config`)"
            )
    except DecodeError:
        pass
    try:
        env = common_pb2.Envelope()
        env.ParseFromString(data)
        got = config_from_envelope(env)
        if got is not None:
            return LoadedConfig(got[0], "envelope", got[1], None, source)
    except DecodeError:
        pass
    try:
        cfg = configtx_pb2.Config()
        cfg.ParseFromString(data)
        if cfg.HasField("channel_group") and (cfg.channel_group.groups or cfg.channel_group.values):
            return LoadedConfig(cfg, "config", None, None, source)
    except DecodeError:
        pass
    raise ChannelConfigError(f"{where}: not a config block, CONFIG envelope or common.Config protobuf")


def load_config_file(path: str | Path) -> LoadedConfig:
    """Read ``path`` (a ``.block`` / ``.pb``) and decode its channel config."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ChannelConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    return parse_config_bytes(data, str(p))


def clone(config: configtx_pb2.Config) -> configtx_pb2.Config:
    """An independent copy (setters change their argument in place)."""
    out = configtx_pb2.Config()
    out.CopyFrom(config)
    return out


# --------------------------------------------------------------------------------------------------- groups, values


def group_at(config: configtx_pb2.Config, *path: str) -> configtx_pb2.ConfigGroup:
    """The group at ``path`` below the channel group, e.g. ``group_at(cfg, "Orderer")``."""
    group = config.channel_group
    for i, name in enumerate(path):
        if name not in group.groups:
            raise ChannelConfigError(f"config has no group /Channel/{'/'.join(path[: i + 1])}")
        group = group.groups[name]
    return group


def _decode_value(group: configtx_pb2.ConfigGroup, name: str, msg_type: type[Message], where: str) -> Message:
    if name not in group.values:
        raise ChannelConfigError(f"config has no value {where}/{name}")
    msg = msg_type()
    try:
        msg.ParseFromString(group.values[name].value)
    except DecodeError as exc:
        raise ChannelConfigError(f"{where}/{name} does not decode as {msg.DESCRIPTOR.full_name}: {exc}") from None
    return msg


def _store_value(group: configtx_pb2.ConfigGroup, name: str, msg: Message, *, mod_policy: str = "Admins") -> bool:
    """Re-serialize one value, only if its decoded content changed. Returns whether it changed."""
    if name in group.values:
        old = type(msg)()
        try:
            old.ParseFromString(group.values[name].value)
            if old == msg:
                return False
        except DecodeError:
            pass
        group.values[name].value = msg.SerializeToString(deterministic=True)
    else:
        group.values[name].value = msg.SerializeToString(deterministic=True)
        group.values[name].mod_policy = mod_policy
    return True


# --------------------------------------------------------------------------------------------------- ConsensusType


@dataclass(frozen=True)
class Consenter:
    """One etcdraft consenter; certificates are PEM bytes (what the config holds)."""

    host: str
    port: int
    client_tls_cert: bytes
    server_tls_cert: bytes

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RaftOptions:
    tick_interval: str = DEFAULT_RAFT_OPTIONS["tick_interval"]
    election_tick: int = DEFAULT_RAFT_OPTIONS["election_tick"]
    heartbeat_tick: int = DEFAULT_RAFT_OPTIONS["heartbeat_tick"]
    max_inflight_blocks: int = DEFAULT_RAFT_OPTIONS["max_inflight_blocks"]
    snapshot_interval_size: int = DEFAULT_RAFT_OPTIONS["snapshot_interval_size"]


@dataclass(frozen=True)
class RaftMetadata:
    """etcdraft ``ConfigMetadata``: the consenters and options every channel must share."""

    consenters: tuple[Consenter, ...]
    options: RaftOptions | None = field(default_factory=RaftOptions)

    def to_proto(self) -> etcdraft_conf.ConfigMetadata:
        md = etcdraft_conf.ConfigMetadata()
        for c in self.consenters:
            md.consenters.add(host=c.host, port=c.port, client_tls_cert=c.client_tls_cert,
                              server_tls_cert=c.server_tls_cert)
        if self.options is not None:
            o = self.options
            if not is_go_duration(o.tick_interval):
                raise ChannelConfigError(f"etcdraft tick_interval {o.tick_interval!r} is not a Go duration like 500ms")
            md.options.CopyFrom(etcdraft_conf.Options(
                tick_interval=o.tick_interval, election_tick=o.election_tick, heartbeat_tick=o.heartbeat_tick,
                max_inflight_blocks=o.max_inflight_blocks, snapshot_interval_size=o.snapshot_interval_size))
        return md

    def to_bytes(self) -> bytes:
        return self.to_proto().SerializeToString(deterministic=True)

    @classmethod
    def from_proto(cls, md: etcdraft_conf.ConfigMetadata) -> "RaftMetadata":
        consenters = tuple(Consenter(c.host, c.port, bytes(c.client_tls_cert), bytes(c.server_tls_cert))
                           for c in md.consenters)
        options = None
        if md.HasField("options"):
            o = md.options
            options = RaftOptions(o.tick_interval, o.election_tick, o.heartbeat_tick, o.max_inflight_blocks,
                                  o.snapshot_interval_size)
        return cls(consenters, options)

    @classmethod
    def from_bytes(cls, data: bytes) -> "RaftMetadata":
        md = etcdraft_conf.ConfigMetadata()
        try:
            md.ParseFromString(data)
        except DecodeError as exc:
            raise ChannelConfigError(f"etcdraft metadata does not decode: {exc}") from None
        return cls.from_proto(md)


@dataclass(frozen=True)
class ConsensusInfo:
    """The decoded ``/Channel/Orderer/ConsensusType`` value."""

    type: str
    state: str
    metadata: bytes
    version: int

    @property
    def raft(self) -> RaftMetadata | None:
        if self.type != "etcdraft" or not self.metadata:
            return None
        return RaftMetadata.from_bytes(self.metadata)

    @property
    def in_maintenance(self) -> bool:
        return self.state == STATE_MAINTENANCE


def get_consensus(config: configtx_pb2.Config) -> ConsensusInfo:
    group = group_at(config, ORDERER)
    ct = _decode_value(group, CONSENSUS_TYPE, orderer_conf.ConsensusType, "/Channel/Orderer")
    return ConsensusInfo(ct.type, orderer_conf.ConsensusType.State.Name(ct.state), bytes(ct.metadata),
                         group.values[CONSENSUS_TYPE].version)


_KEEP: Any = object()


def set_consensus(config: configtx_pb2.Config, *, type: str | None = None, state: str | None = None,
                  metadata: RaftMetadata | bytes | None = _KEEP) -> bool:
    """Change ConsensusType's type, state and/or metadata (``None`` metadata = empty). Returns whether it changed."""
    group = group_at(config, ORDERER)
    ct = _decode_value(group, CONSENSUS_TYPE, orderer_conf.ConsensusType, "/Channel/Orderer")
    if type is not None:
        if not type:
            raise ChannelConfigError("consensus type must not be empty")
        ct.type = type
    if state is not None:
        names = orderer_conf.ConsensusType.State.keys()
        if state not in names:
            raise ChannelConfigError(f"consensus state {state!r} is not one of {', '.join(names)}")
        ct.state = orderer_conf.ConsensusType.State.Value(state)
    if metadata is not _KEEP:
        if metadata is None:
            ct.metadata = b""
        elif isinstance(metadata, RaftMetadata):
            ct.metadata = metadata.to_bytes()
        else:
            ct.metadata = bytes(metadata)
    return _store_value(group, CONSENSUS_TYPE, ct)


# --------------------------------------------------------------------------------------------------- batch parameters

_DURATION_RE = re.compile(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+\Z")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def is_go_duration(text: str) -> bool:
    """Whether ``text`` parses with Go's ``time.ParseDuration`` (unsigned forms: ``2s``, ``1m30s``, ``500ms``)."""
    return bool(_DURATION_RE.match(text or ""))


def duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration string."""
    if not is_go_duration(text):
        raise ChannelConfigError(f"{text!r} is not a Go duration (examples: 2s, 500ms, 1m30s)")
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text):
        total += float(num) * _UNIT_NS[unit]
    return int(round(total))


def get_batch_timeout(config: configtx_pb2.Config) -> str:
    return _decode_value(group_at(config, ORDERER), BATCH_TIMEOUT, orderer_conf.BatchTimeout, "/Channel/Orderer").timeout


def set_batch_timeout(config: configtx_pb2.Config, timeout: str) -> bool:
    """Set BatchTimeout (a Go duration such as ``2s``; must be > 0, as the orderer requires)."""
    if duration_ns(timeout) <= 0:
        raise ChannelConfigError(f"batch timeout must be positive, got {timeout!r}")
    group = group_at(config, ORDERER)
    bt = _decode_value(group, BATCH_TIMEOUT, orderer_conf.BatchTimeout, "/Channel/Orderer")
    bt.timeout = timeout
    return _store_value(group, BATCH_TIMEOUT, bt)


@dataclass(frozen=True)
class BatchSize:
    max_message_count: int
    absolute_max_bytes: int
    preferred_max_bytes: int


def get_batch_size(config: configtx_pb2.Config) -> BatchSize:
    bs = _decode_value(group_at(config, ORDERER), BATCH_SIZE, orderer_conf.BatchSize, "/Channel/Orderer")
    return BatchSize(bs.max_message_count, bs.absolute_max_bytes, bs.preferred_max_bytes)


def set_batch_size(config: configtx_pb2.Config, *, max_message_count: int | None = None,
                   absolute_max_bytes: int | None = None, preferred_max_bytes: int | None = None) -> bool:
    """Change any of the three BatchSize fields; the orderer's own limits are checked first."""
    group = group_at(config, ORDERER)
    bs = _decode_value(group, BATCH_SIZE, orderer_conf.BatchSize, "/Channel/Orderer")
    for name, value in (("max_message_count", max_message_count), ("absolute_max_bytes", absolute_max_bytes),
                        ("preferred_max_bytes", preferred_max_bytes)):
        if value is None:
            continue
        value = int(value)
        if not 0 < value <= UINT32_MAX:
            raise ChannelConfigError(f"batch size {name} must be between 1 and {UINT32_MAX}, got {value}")
        setattr(bs, name, value)
    if bs.preferred_max_bytes > bs.absolute_max_bytes:
        raise ChannelConfigError(
            f"batch size preferred_max_bytes ({bs.preferred_max_bytes}) is greater than absolute_max_bytes "
            f"({bs.absolute_max_bytes})")
    return _store_value(group, BATCH_SIZE, bs)


def get_kafka_brokers(config: configtx_pb2.Config) -> list[str]:
    group = group_at(config, ORDERER)
    if KAFKA_BROKERS not in group.values:
        return []
    return list(_decode_value(group, KAFKA_BROKERS, orderer_conf.KafkaBrokers, "/Channel/Orderer").brokers)


# --------------------------------------------------------------------------------------------------- capabilities


def _level_group(config: configtx_pb2.Config, level: str) -> tuple[configtx_pb2.ConfigGroup, str]:
    if level == "channel":
        return config.channel_group, "/Channel"
    if level == "orderer":
        return group_at(config, ORDERER), "/Channel/Orderer"
    if level == "application":
        return group_at(config, APPLICATION), "/Channel/Application"
    raise ChannelConfigError(f"capability level must be one of {', '.join(LEVELS)}, got {level!r}")


def get_capabilities(config: configtx_pb2.Config, level: str) -> set[str]:
    """Capability names at ``channel``, ``orderer`` or ``application`` level (empty set if the value is absent)."""
    group, where = _level_group(config, level)
    if CAPABILITIES not in group.values:
        return set()
    return set(_decode_value(group, CAPABILITIES, common_conf.Capabilities, where).capabilities)


def set_capabilities(config: configtx_pb2.Config, level: str, names: Iterable[str]) -> bool:
    """Replace the capability set at ``level``."""
    group, _ = _level_group(config, level)
    caps = common_conf.Capabilities()
    for n in names:
        if not re.fullmatch(r"V\d+_\d+(?:_\d+)?", n):
            raise ChannelConfigError(f"capability {n!r} is not a name like V2_0 or V1_4_2")
        caps.capabilities[n].CopyFrom(common_conf.Capability())
    return _store_value(group, CAPABILITIES, caps)


def capability_version(name: str) -> tuple[int, ...]:
    """``V1_4_2`` -> (1, 4, 2); ``V2_0`` -> (2, 0, 0)."""
    m = re.fullmatch(r"V(\d+)_(\d+)(?:_(\d+))?", name)
    if not m:
        raise ChannelConfigError(f"capability {name!r} is not a name like V2_0 or V1_4_2")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def highest_capability(names: Iterable[str]) -> str | None:
    valid = [n for n in names if re.fullmatch(r"V(\d+)_(\d+)(?:_(\d+))?", n)]
    return max(valid, key=capability_version) if valid else None


# --------------------------------------------------------------------------------------------------- summary


def orderer_endpoints(config: configtx_pb2.Config) -> list[str]:
    """Orderer endpoints the config advertises: per-org ``Endpoints`` plus the global ``OrdererAddresses``."""
    out: list[str] = []
    if ORDERER in config.channel_group.groups:
        for org in sorted(config.channel_group.groups[ORDERER].groups):
            g = config.channel_group.groups[ORDERER].groups[org]
            if "Endpoints" in g.values:
                out += _decode_value(g, "Endpoints", common_conf.OrdererAddresses, f"/Channel/Orderer/{org}").addresses
    if "OrdererAddresses" in config.channel_group.values:
        out += _decode_value(config.channel_group, "OrdererAddresses", common_conf.OrdererAddresses, "/Channel").addresses
    seen: dict[str, None] = {}
    for a in out:
        seen.setdefault(a, None)
    return list(seen)


def summary(config: configtx_pb2.Config) -> dict[str, Any]:
    """What an operator wants first: consensus, state, batch parameters, consenters, capabilities."""
    ct = get_consensus(config)
    raft = ct.raft
    out: dict[str, Any] = {
        "sequence": config.sequence,
        "consensus": {"type": ct.type, "state": ct.state, "version": ct.version},
        "batch_timeout": get_batch_timeout(config),
        "batch_size": get_batch_size(config).__dict__,
        "capabilities": {},
        "orderer_orgs": sorted(group_at(config, ORDERER).groups),
    }
    if raft is not None:
        out["consensus"]["consenters"] = [c.endpoint for c in raft.consenters]
        out["consensus"]["options"] = raft.options.__dict__ if raft.options else None
    brokers = get_kafka_brokers(config)
    if brokers:
        out["kafka_brokers"] = brokers
    for level in LEVELS:
        try:
            out["capabilities"][level] = sorted(get_capabilities(config, level), key=capability_version)
        except ChannelConfigError:
            continue
    if APPLICATION in config.channel_group.groups:
        out["application_orgs"] = sorted(config.channel_group.groups[APPLICATION].groups)
    if CONSORTIUMS in config.channel_group.groups:
        out["consortiums"] = sorted(config.channel_group.groups[CONSORTIUMS].groups)
    out["orderer_endpoints"] = orderer_endpoints(config)
    return out


# --------------------------------------------------------------------------------------------------- JSON rendering
#
# configtxlator's JSON: every field is emitted (proto3 defaults included), proto field names, 64-bit integers
# as strings, bytes as base64 (empty bytes as null), enums by name, unset messages as null; opaque `bytes`
# that hold another message (ConfigValue.value, Policy.value, MSPConfig.config, ...) are decoded in place.

_INT64_TYPES = {3, 4, 6, 16, 18}  # TYPE_INT64, TYPE_UINT64, TYPE_FIXED64, TYPE_SFIXED64, TYPE_SINT64
_TYPE_BYTES = 12
_TYPE_ENUM = 14
_TYPE_MESSAGE = 11
_TYPE_FLOATS = {1, 2}

_VALUE_TYPES: dict[str, dict[str, type[Message]]] = {
    "channel": {
        "HashingAlgorithm": common_conf.HashingAlgorithm,
        "BlockDataHashingStructure": common_conf.BlockDataHashingStructure,
        "OrdererAddresses": common_conf.OrdererAddresses,
        "Consortium": common_conf.Consortium,
        "Capabilities": common_conf.Capabilities,
    },
    "orderer": {
        "ConsensusType": orderer_conf.ConsensusType,
        "BatchSize": orderer_conf.BatchSize,
        "BatchTimeout": orderer_conf.BatchTimeout,
        "KafkaBrokers": orderer_conf.KafkaBrokers,
        "ChannelRestrictions": orderer_conf.ChannelRestrictions,
        "Capabilities": common_conf.Capabilities,
        "Orderers": common_conf.Orderers,
    },
    "orderer_org": {"MSP": msp_config_pb2.MSPConfig, "Endpoints": common_conf.OrdererAddresses},
    "application": {"ACLs": peer_conf.ACLs, "Capabilities": common_conf.Capabilities},
    "application_org": {"MSP": msp_config_pb2.MSPConfig, "AnchorPeers": peer_conf.AnchorPeers},
    "consortiums": {},
    "consortium": {"ChannelCreationPolicy": policies_pb2.Policy},
    "consortium_org": {"MSP": msp_config_pb2.MSPConfig},
}


def group_context(path: tuple[str, ...]) -> str:
    """Which kind of group ``path`` (names below /Channel) is: channel, orderer, orderer_org, application, ..."""
    if not path:
        return "channel"
    top = path[0]
    if top == ORDERER:
        return "orderer" if len(path) == 1 else "orderer_org"
    if top == APPLICATION:
        return "application" if len(path) == 1 else "application_org"
    if top == CONSORTIUMS:
        return {1: "consortiums", 2: "consortium"}.get(len(path), "consortium_org")
    return "unknown"


def _b64(data: bytes) -> str | None:
    return base64.b64encode(data).decode("ascii") if data else None


def _opaque(msg: Message, fname: str) -> Message | None | str:
    """Decode an opaque bytes field configtxlator knows; ``str`` result = keep base64."""
    full = msg.DESCRIPTOR.full_name
    raw = getattr(msg, fname)
    sub: Message
    if full == "orderer.ConsensusType" and fname == "metadata":
        if not raw:
            return None
        if msg.type == "etcdraft":
            sub = etcdraft_conf.ConfigMetadata()
        elif msg.type == "BFT":
            from fabric_protos.orderer.smartbft import configuration_pb2 as bft_conf

            sub = bft_conf.Options()
        else:
            return _b64(raw) or ""
    elif full == "msp.MSPConfig" and fname == "config":
        if not raw:
            return None
        sub = msp_config_pb2.FabricMSPConfig() if msg.type == 0 else msp_config_pb2.IdemixMSPConfig()
    elif full == "common.Policy" and fname == "value":
        if not raw:
            return None
        if msg.type == policies_pb2.Policy.SIGNATURE:
            sub = policies_pb2.SignaturePolicyEnvelope()
        elif msg.type == policies_pb2.Policy.IMPLICIT_META:
            sub = policies_pb2.ImplicitMetaPolicy()
        else:
            return _b64(raw) or ""
    elif full == "common.MSPPrincipal" and fname == "principal":
        if not raw:
            return None
        cls = {
            msp_principal_pb2.MSPPrincipal.ROLE: msp_principal_pb2.MSPRole,
            msp_principal_pb2.MSPPrincipal.ORGANIZATION_UNIT: msp_principal_pb2.OrganizationUnit,
            msp_principal_pb2.MSPPrincipal.IDENTITY: identities_pb2.SerializedIdentity,
            msp_principal_pb2.MSPPrincipal.ANONYMITY: msp_principal_pb2.MSPIdentityAnonymity,
            msp_principal_pb2.MSPPrincipal.COMBINED: msp_principal_pb2.CombinedPrincipal,
        }.get(msg.principal_classification)
        if cls is None:
            return _b64(raw) or ""
        sub = cls()
    elif full in ("common.Header",) and fname in ("channel_header", "signature_header"):
        if not raw:
            return None
        sub = common_pb2.ChannelHeader() if fname == "channel_header" else common_pb2.SignatureHeader()
    elif full in ("common.SignatureHeader", "common.ConfigSignature") and fname in ("creator", "signature_header"):
        if not raw:
            return None
        sub = identities_pb2.SerializedIdentity() if fname == "creator" else common_pb2.SignatureHeader()
    elif full == "common.ConfigUpdateEnvelope" and fname == "config_update":
        if not raw:
            return None
        cu = configtx_pb2.ConfigUpdate()
        cu.ParseFromString(raw)
        return render_update(cu)  # type: ignore[return-value]
    else:
        return "__plain__"
    try:
        sub.ParseFromString(raw)
    except DecodeError:
        return _b64(raw) or ""
    return sub


def message_to_json(msg: Message) -> dict[str, Any]:
    """One protobuf message as configtxlator renders it (opaque fields it knows are decoded)."""
    out: dict[str, Any] = {}
    oneofs = {f.name for o in msg.DESCRIPTOR.oneofs for f in o.fields}
    for f in msg.DESCRIPTOR.fields:
        if f.name in oneofs:
            if msg.WhichOneof(f.containing_oneof.name) != f.name:
                continue
        value = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {str(k): _scalar_or_msg(vf, v) for k, v in value.items()}
        elif f.label == f.LABEL_REPEATED:
            out[f.name] = [_scalar_or_msg(f, v) for v in value]
        elif f.type == _TYPE_BYTES:
            dec = _opaque(msg, f.name)
            if isinstance(dec, str) and dec == "__plain__":
                out[f.name] = _b64(value)
            elif isinstance(dec, Message):
                out[f.name] = message_to_json(dec)
            else:
                out[f.name] = dec if dec != "" else None
        elif f.type == _TYPE_MESSAGE:
            if f.message_type.full_name == "google.protobuf.Timestamp":
                out[f.name] = value.ToJsonString() if msg.HasField(f.name) else None
            else:
                out[f.name] = message_to_json(value) if msg.HasField(f.name) else None
        else:
            out[f.name] = _scalar_or_msg(f, value)
    return out


def _scalar_or_msg(f: Any, v: Any) -> Any:
    if f.type == _TYPE_MESSAGE:
        return message_to_json(v)
    if f.type in _INT64_TYPES:
        return str(v)
    if f.type == _TYPE_BYTES:
        return base64.b64encode(v).decode("ascii")
    if f.type == _TYPE_ENUM:
        ev = f.enum_type.values_by_number.get(v)
        return ev.name if ev is not None else v
    return v


def render_value(path: tuple[str, ...], name: str, value: configtx_pb2.ConfigValue) -> dict[str, Any]:
    """A ``ConfigValue`` with its ``value`` decoded by name and group (``null`` when empty)."""
    rendered: Any
    if not value.value:
        rendered = None
    else:
        cls = _VALUE_TYPES.get(group_context(path), {}).get(name)
        if cls is None:
            rendered = base64.b64encode(value.value).decode("ascii")
        else:
            msg = cls()
            try:
                msg.ParseFromString(value.value)
                rendered = message_to_json(msg)
            except DecodeError:
                rendered = base64.b64encode(value.value).decode("ascii")
    return {"mod_policy": value.mod_policy, "value": rendered, "version": str(value.version)}


def render_policy(policy: configtx_pb2.ConfigPolicy) -> dict[str, Any]:
    return {
        "mod_policy": policy.mod_policy,
        "policy": message_to_json(policy.policy) if policy.HasField("policy") else None,
        "version": str(policy.version),
    }


def render_group(group: configtx_pb2.ConfigGroup, path: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "groups": {k: render_group(g, path + (k,)) for k, g in sorted(group.groups.items())},
        "mod_policy": group.mod_policy,
        "policies": {k: render_policy(p) for k, p in sorted(group.policies.items())},
        "values": {k: render_value(path, k, v) for k, v in sorted(group.values.items())},
        "version": str(group.version),
    }


def render_config(config: configtx_pb2.Config) -> dict[str, Any]:
    """``configtxlator proto_decode --type common.Config`` (= ``.data.data[0].payload.data.config`` of a block)."""
    return {"channel_group": render_group(config.channel_group) if config.HasField("channel_group") else None,
            "sequence": str(config.sequence)}


def render_update(update: configtx_pb2.ConfigUpdate) -> dict[str, Any]:
    """``configtxlator proto_decode --type common.ConfigUpdate``."""
    return {
        "channel_id": update.channel_id,
        "isolated_data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(update.isolated_data.items())},
        "read_set": render_group(update.read_set) if update.HasField("read_set") else None,
        "write_set": render_group(update.write_set) if update.HasField("write_set") else None,
    }


def render_envelope(env: common_pb2.Envelope) -> dict[str, Any]:
    """A CONFIG_UPDATE envelope (``peer channel signconfigtx`` / ``update`` input) as configtxlator decodes it."""
    payload = common_pb2.Payload()
    payload.ParseFromString(env.payload)
    out_payload: dict[str, Any] = {"header": message_to_json(payload.header) if payload.HasField("header") else None}
    chdr = common_pb2.ChannelHeader()
    if payload.header.channel_header:
        chdr.ParseFromString(payload.header.channel_header)
    if chdr.type == common_pb2.CONFIG_UPDATE:
        cue = configtx_pb2.ConfigUpdateEnvelope()
        cue.ParseFromString(payload.data)
        out_payload["data"] = message_to_json(cue)
    else:
        out_payload["data"] = _b64(payload.data)
    return {"payload": out_payload, "signature": _b64(env.signature)}


# --------------------------------------------------------------------------------------------------- diffs


@dataclass(frozen=True)
class Change:
    """One changed leaf between two rendered documents; ``path`` is a jq-style path."""

    path: str
    old: Any
    new: Any

    def describe(self, width: int = 60) -> str:
        def short(v: Any) -> str:
            text = "(absent)" if v is _ABSENT else repr(v)
            return text if len(text) <= width else text[: width - 3] + "..."

        return f"{self.path}: {short(self.old)} -> {short(self.new)}"


_ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "(absent)"})()


def diff_rendered(old: Any, new: Any, path: str = "", *, ignore: Callable[[str], bool] | None = None) -> list[Change]:
    """Changed leaves between two JSON documents (dicts recurse, lists compare whole)."""
    if ignore is not None and path and ignore(path):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else f'{path}["{k}"]'
            out += diff_rendered(old.get(k, _ABSENT), new.get(k, _ABSENT), sub, ignore=ignore)
        return out
    if old == new:
        return []
    return [Change(path or ".", old, new)]


def diff_configs(old: configtx_pb2.Config, new: configtx_pb2.Config, *, versions: bool = False) -> list[Change]:
    """What differs between two configs, as configtxlator JSON paths (versions/sequence ignored by default)."""
    ignore = None if versions else (lambda p: p.endswith(".version") or p == ".sequence")
    return diff_rendered(render_config(old), render_config(new), ignore=ignore)
