"""The rules an orderer applies to a config update, as pure functions.

Used on live fleets and offline: the online path checks a signed envelope with :func:`authorize` before it
submits it (:mod:`opskit.orderer.online`: a missing signature is a clear error, not a BAD_REQUEST), and the
migration computes each step's next config with :func:`next_config` (:mod:`opskit.orderer.migration`). The lab's
stand-in orderers apply the same functions to the updates they receive (:func:`apply_update`,
:func:`check_normal_transaction`, :func:`check_deliver`).

:func:`apply_update` takes the current ``common.Config`` of a channel and a CONFIG_UPDATE envelope (or a
``ConfigUpdateEnvelope``) and either returns the next config or raises :class:`UpdateRejected` with a
message shaped like the orderer's. It follows Fabric's ``common/configtx`` validator and the orderer's
maintenance filter (``orderer/common/msgprocessor/maintenancefilter.go``):

1. the envelope is CONFIG_UPDATE for this channel; ``ConfigUpdate.channel_id`` matches;
2. every read-set element exists at exactly the version read;
3. the delta set (write-set elements whose version differs from the read set) is not empty; each element
   has a valid mod_policy; an existing element must be written at its version + 1, a new one at version 0;
4. the mod_policy of every existing changed element is satisfied by the update's signatures;
5. the next config = current config with the delta overlaid, sequence + 1;
6. maintenance filter: without the orderer capability for consensus-type migration (V1_4_2 or later) state
   and type must not change; a change of ``ConsensusType.state`` must be the only change of the update
   (write set = exactly the Orderer group holding exactly the ConsensusType value) and must not change type
   or metadata; ``type`` may change only while the current and the next state are both MAINTENANCE, only
   to etcdraft/solo/kafka, and etcdraft metadata must decode.

**Signatures are counted, not verified.** A signature counts for the MSP id named in its creator
(``SignatureHeader.creator`` -> ``SerializedIdentity.mspid``); identities are de-duplicated by their
serialized bytes. Neither the signature bytes, the certificate chain nor the role (ADMIN/MEMBER/...) of a
principal are checked: a principal is satisfied by any distinct signer of its MSP. That is enough to
tell, before submitting, whether ``ImplicitMeta MAJORITY Admins`` ("3 of 4 orderer orgs") is met, and to exercise
it in a lab; it is not a security boundary (the real orderer verifies every signature).

Not modelled: etcdraft's own consenter-set checks (one consenter change at a time), channel creation, the
capability checks of ``channelconfig.NewBundle`` beyond the ones above.

:func:`check_normal_transaction` and :func:`check_deliver` give the two other maintenance-mode rules:
normal transactions are refused with SERVICE_UNAVAILABLE; deliver needs ``/Channel/Orderer/Readers``.
"""

from __future__ import annotations

from collections.abc import Callable

import re
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import identities_pb2, msp_principal_pb2
from fabric_protos.orderer.etcdraft import configuration_pb2 as etcdraft_conf

from opskit.errors import OpskitError
from opskit.orderer.config import (
    ORDERER,
    STATE_MAINTENANCE,
    STATE_NORMAL,
    ChannelConfigError,
    ConsensusInfo,
    capability_version,
    get_capabilities,
    get_consensus,
)

GROUP_PREFIX = "[Group]  "
VALUE_PREFIX = "[Value]  "
POLICY_PREFIX = "[Policy] "
ROOT = "Channel"
PERMITTED_TARGET_TYPES = ("etcdraft", "solo", "kafka")
_CONFIG_ID = re.compile(r"^[a-zA-Z0-9.\-_]+\Z")


class UpdateRejected(OpskitError):
    """The orderer would refuse this update/transaction. ``status`` is the broadcast status it would return."""

    def __init__(self, message: str, *, status: str = "BAD_REQUEST") -> None:
        super().__init__(message, exit_code=2)
        self.status = status


# --------------------------------------------------------------------------------------------------- config map


@dataclass
class _Item:
    kind: str  # group | value | policy
    path: tuple[str, ...]  # parent path, starting with "Channel"
    name: str
    msg: configtx_pb2.ConfigGroup | configtx_pb2.ConfigValue | configtx_pb2.ConfigPolicy

    @property
    def version(self) -> int:
        return self.msg.version

    @property
    def mod_policy(self) -> str:
        return self.msg.mod_policy


def _key(kind: str, path: tuple[str, ...], name: str) -> str:
    prefix = {"group": GROUP_PREFIX, "value": VALUE_PREFIX, "policy": POLICY_PREFIX}[kind]
    return prefix + "/" + "/".join(path + (name,))


def _validate_id(name: str) -> None:
    if not name or name in (".", "..") or len(name) > 249 or not _CONFIG_ID.match(name):
        raise UpdateRejected(f"illegal config ID {name!r}: must be 1-249 characters of [a-zA-Z0-9.-_]")


def _map_group(group: configtx_pb2.ConfigGroup, path: tuple[str, ...], name: str, out: dict[str, _Item]) -> None:
    out[_key("group", path, name)] = _Item("group", path, name, group)
    here = path + (name,)
    for k, g in group.groups.items():
        _validate_id(k)
        _map_group(g, here, k, out)
    for k, v in group.values.items():
        _validate_id(k)
        out[_key("value", here, k)] = _Item("value", here, k, v)
    for k, p in group.policies.items():
        _validate_id(k)
        out[_key("policy", here, k)] = _Item("policy", here, k, p)


def map_config(group: configtx_pb2.ConfigGroup) -> dict[str, _Item]:
    """Fabric's flat view of a config tree: ``"[Value]  /Channel/Orderer/BatchSize"`` -> element."""
    out: dict[str, _Item] = {}
    _map_group(group, (), ROOT, out)
    return out


def _rebuild(cmap: dict[str, _Item], path: tuple[str, ...], name: str) -> configtx_pb2.ConfigGroup:
    key = _key("group", path, name)
    if key not in cmap:
        raise UpdateRejected(f"missing group at path {key}")
    src = cmap[key].msg
    assert isinstance(src, configtx_pb2.ConfigGroup)
    out = configtx_pb2.ConfigGroup(version=src.version, mod_policy=src.mod_policy)
    here = path + (name,)
    for k in src.groups:
        out.groups[k].CopyFrom(_rebuild(cmap, here, k))
    for k in src.values:
        vk = _key("value", here, k)
        if vk not in cmap:
            raise UpdateRejected(f"missing value at path {vk}")
        out.values[k].CopyFrom(cmap[vk].msg)
        if vk == VALUE_PREFIX + "/Channel/Orderer/Capabilities" and not out.values[k].mod_policy:
            out.values[k].mod_policy = "Admins"  # Fabric's own "hacky fix" for an old configtxgen bug
    for k in src.policies:
        pk = _key("policy", here, k)
        if pk not in cmap:
            raise UpdateRejected(f"missing policy at path {pk}")
        out.policies[k].CopyFrom(cmap[pk].msg)
    return out


# --------------------------------------------------------------------------------------------------- signatures, policies


@dataclass(frozen=True)
class Signer:
    """A signer as the rules see it: MSP id plus the serialized identity (for de-duplication)."""

    mspid: str
    identity: bytes = b""


def signers_of(cue: configtx_pb2.ConfigUpdateEnvelope) -> list[Signer]:
    """Distinct signers of a ConfigUpdateEnvelope (by serialized creator); signatures are NOT verified."""
    out: list[Signer] = []
    seen: set[bytes] = set()
    for sig in cue.signatures:
        try:
            hdr = common_pb2.SignatureHeader()
            hdr.ParseFromString(sig.signature_header)
            ident = identities_pb2.SerializedIdentity()
            ident.ParseFromString(hdr.creator)
        except DecodeError:
            continue
        if not ident.mspid or hdr.creator in seen:
            continue
        seen.add(hdr.creator)
        out.append(Signer(ident.mspid, bytes(hdr.creator)))
    return out


def config_signature(mspid: str, identity: bytes = b"", signature: bytes = b"") -> configtx_pb2.ConfigSignature:
    """A ConfigSignature naming ``mspid`` (for tests and lab tools; the signature bytes are not checked here)."""
    ident = identities_pb2.SerializedIdentity(mspid=mspid, id_bytes=identity or f"lab:{mspid}".encode())
    hdr = common_pb2.SignatureHeader(creator=ident.SerializeToString())
    return configtx_pb2.ConfigSignature(signature_header=hdr.SerializeToString(), signature=signature)


@dataclass
class PolicyResult:
    ok: bool
    reason: str = ""


@dataclass
class PolicyEvaluator:
    """Evaluate policies of one config against a set of signers (counting by MSP id)."""

    config: configtx_pb2.Config
    trace: list[str] = field(default_factory=list)
    _roles: dict[bytes, frozenset[str] | None] = field(default_factory=dict)

    def roles_of(self, signer: Signer) -> frozenset[str] | None:
        """The signer's MSP roles in this config (cached per identity); see :func:`signer_roles`."""
        if signer.identity not in self._roles:
            self._roles[signer.identity] = signer_roles(self.config, signer)
        return self._roles[signer.identity]

    def _group(self, path: tuple[str, ...]) -> configtx_pb2.ConfigGroup | None:
        g = self.config.channel_group
        for name in path:
            if name not in g.groups:
                return None
            g = g.groups[name]
        return g

    @staticmethod
    def resolve(base: tuple[str, ...], ref: str) -> tuple[tuple[str, ...], str]:
        """``("Orderer",)`` + ``Admins`` -> (("Orderer",), "Admins"); ``/Channel/Orderer/Admins`` likewise."""
        if ref.startswith("/"):
            parts = ref[1:].split("/")
            if parts[0] != ROOT or len(parts) < 2:
                return ((), "")
            parts = parts[1:]
            return tuple(parts[:-1]), parts[-1]
        parts = ref.split("/")
        return base + tuple(parts[:-1]), parts[-1]

    def exists(self, path: tuple[str, ...], name: str) -> bool:
        g = self._group(path)
        return g is not None and bool(name) and name in g.policies

    def evaluate(self, path: tuple[str, ...], name: str, signers: list[Signer]) -> PolicyResult:
        g = self._group(path)
        where = "/" + "/".join((ROOT,) + path + (name,))
        if g is None or name not in g.policies:
            return PolicyResult(False, f"policy {where} does not exist")
        pol = g.policies[name].policy
        if pol.type == policies_pb2.Policy.IMPLICIT_META:
            imp = policies_pb2.ImplicitMetaPolicy()
            imp.ParseFromString(pol.value)
            subs = sorted(g.groups)
            if imp.rule == policies_pb2.ImplicitMetaPolicy.ANY:
                threshold = 1
            elif imp.rule == policies_pb2.ImplicitMetaPolicy.ALL:
                threshold = len(subs)
            else:
                threshold = len(subs) // 2 + 1
            satisfied = [s for s in subs if self.evaluate(path + (s,), imp.sub_policy, signers).ok]
            if len(satisfied) >= threshold:
                return PolicyResult(True)
            rule = policies_pb2.ImplicitMetaPolicy.Rule.Name(imp.rule)
            return PolicyResult(False, (
                f"implicit policy evaluation failed - {len(satisfied)} sub-policies were satisfied, but this policy "
                f"requires {threshold} of the '{imp.sub_policy}' sub-policies to be satisfied "
                f"({rule} of {', '.join(subs) or 'no groups'}; satisfied: {', '.join(satisfied) or 'none'})"))
        if pol.type == policies_pb2.Policy.SIGNATURE:
            env = policies_pb2.SignaturePolicyEnvelope()
            env.ParseFromString(pol.value)
            used = [False] * len(signers)
            if _eval_rule(env.rule, list(env.identities), signers, used, self.roles_of):
                return PolicyResult(True)
            wanted = sorted({_principal_msp(p) or "?" for p in env.identities})
            return PolicyResult(False, f"signature set did not satisfy policy {where} (needs {', '.join(wanted)})")
        return PolicyResult(False, f"policy {where} has unsupported type {pol.type}")


def _principal_msp(p: msp_principal_pb2.MSPPrincipal) -> str | None:
    try:
        if p.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE:
            r = msp_principal_pb2.MSPRole()
            r.ParseFromString(p.principal)
            return r.msp_identifier
        if p.principal_classification == msp_principal_pb2.MSPPrincipal.ORGANIZATION_UNIT:
            ou = msp_principal_pb2.OrganizationUnit()
            ou.ParseFromString(p.principal)
            return ou.msp_identifier
        if p.principal_classification == msp_principal_pb2.MSPPrincipal.IDENTITY:
            si = identities_pb2.SerializedIdentity()
            si.ParseFromString(p.principal)
            return si.mspid
    except DecodeError:
        return None
    return None


_ROLE_NAMES = {msp_principal_pb2.MSPRole.ADMIN: "admin", msp_principal_pb2.MSPRole.CLIENT: "client",
               msp_principal_pb2.MSPRole.PEER: "peer", msp_principal_pb2.MSPRole.ORDERER: "orderer"}


def _matches(p: msp_principal_pb2.MSPPrincipal, s: Signer,
             roles_of: "Callable[[Signer], frozenset[str] | None] | None" = None) -> bool:
    if p.principal_classification == msp_principal_pb2.MSPPrincipal.IDENTITY:
        return bytes(p.principal) == s.identity
    msp = _principal_msp(p)
    if msp is None or msp != s.mspid:
        return False
    if p.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE and roles_of is not None:
        r = msp_principal_pb2.MSPRole()
        r.ParseFromString(p.principal)
        wanted = _ROLE_NAMES.get(r.role)
        roles = roles_of(s)
        if wanted is not None and roles is not None:   # None: no certificate to read (rule tests' identities)
            return wanted in roles
    return True


def signer_roles(config: configtx_pb2.Config, signer: Signer) -> frozenset[str] | None:
    """The MSP roles (admin, client, peer, orderer) of ``signer``'s certificate as its org's MSP in ``config``
    defines them: the NodeOU identifiers when NodeOUs are enabled, plus the MSP's admin certificates.

    None when the identity holds no X.509 certificate (identities made by :func:`config_signature`).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from fabric_protos.msp import msp_config_pb2

    try:
        ident = identities_pb2.SerializedIdentity()
        ident.ParseFromString(signer.identity)
        cert = x509.load_pem_x509_certificate(bytes(ident.id_bytes))
    except (DecodeError, ValueError):
        return None
    ous = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}
    fmsp = None
    for section in ("Orderer", "Application"):
        grp = config.channel_group.groups.get(section)
        if grp is None:
            continue
        for org in grp.groups.values():
            if "MSP" not in org.values:
                continue
            mc = msp_config_pb2.MSPConfig()
            mc.ParseFromString(org.values["MSP"].value)
            f = msp_config_pb2.FabricMSPConfig()
            f.ParseFromString(mc.config)
            if f.name == signer.mspid:
                fmsp = f
    roles: set[str] = set()
    if fmsp is None:
        return frozenset()
    pem = cert.public_bytes(Encoding.PEM)
    if any(pem.strip() == bytes(a).strip() for a in fmsp.admins):
        roles.add("admin")
    nous = fmsp.fabric_node_ous
    if nous.enable:
        for role, ident_ou in (("admin", nous.admin_ou_identifier), ("client", nous.client_ou_identifier),
                               ("peer", nous.peer_ou_identifier), ("orderer", nous.orderer_ou_identifier)):
            if ident_ou.organizational_unit_identifier and ident_ou.organizational_unit_identifier in ous:
                roles.add(role)
    return frozenset(roles)


def _eval_rule(rule: policies_pb2.SignaturePolicy, ids: list[msp_principal_pb2.MSPPrincipal],
               signers: list[Signer], used: list[bool],
               roles_of: "Callable[[Signer], frozenset[str] | None] | None" = None) -> bool:
    kind = rule.WhichOneof("Type")
    if kind == "signed_by":
        if rule.signed_by >= len(ids):
            return False
        for i, s in enumerate(signers):
            if not used[i] and _matches(ids[rule.signed_by], s, roles_of):
                used[i] = True
                return True
        return False
    if kind == "n_out_of":
        trial = list(used)
        verified = 0
        for sub in rule.n_out_of.rules:
            if _eval_rule(sub, ids, signers, trial, roles_of):
                verified += 1
        if verified >= rule.n_out_of.n:
            used[:] = trial
            return True
        return False
    return False


# --------------------------------------------------------------------------------------------------- apply


@dataclass
class AppliedUpdate:
    """The result of an accepted update."""

    config: configtx_pb2.Config
    changed: list[str]
    before: ConsensusInfo | None
    after: ConsensusInfo | None
    signers: list[Signer]


def _as_config_update_envelope(update: common_pb2.Envelope | configtx_pb2.ConfigUpdateEnvelope,
                               channel_id: str) -> configtx_pb2.ConfigUpdateEnvelope:
    if isinstance(update, configtx_pb2.ConfigUpdateEnvelope):
        return update
    try:
        payload = common_pb2.Payload()
        payload.ParseFromString(update.payload)
        chdr = common_pb2.ChannelHeader()
        chdr.ParseFromString(payload.header.channel_header)
    except DecodeError as exc:
        raise UpdateRejected(f"bad envelope: {exc}") from None
    if chdr.type != common_pb2.CONFIG_UPDATE:
        raise UpdateRejected(f"envelope has header type {chdr.type}, expected CONFIG_UPDATE (2)")
    if chdr.channel_id != channel_id:
        raise UpdateRejected(f"envelope is for channel '{chdr.channel_id}', this is channel '{channel_id}'",
                             status="NOT_FOUND")
    cue = configtx_pb2.ConfigUpdateEnvelope()
    try:
        cue.ParseFromString(payload.data)
    except DecodeError as exc:
        raise UpdateRejected(f"bad ConfigUpdateEnvelope: {exc}") from None
    return cue


def authorize(current: configtx_pb2.Config, channel_id: str, cue: configtx_pb2.ConfigUpdateEnvelope, *,
              check_policies: bool = True) -> tuple[configtx_pb2.Config, list[str], list[Signer]]:
    """Steps 1-5 (Fabric's ``configtx`` validator): the next config, the changed keys and the counted signers.

    ``check_policies=False`` skips step 4 only (used to predict the next config of a planned update).
    """
    update = configtx_pb2.ConfigUpdate()
    try:
        update.ParseFromString(cue.config_update)
    except DecodeError as exc:
        raise UpdateRejected(f"config update unmarshaling error: {exc}") from None
    if update.channel_id != channel_id:
        raise UpdateRejected(f"ConfigUpdate for channel '{update.channel_id}' but envelope for channel '{channel_id}'")
    if not update.HasField("write_set"):
        raise UpdateRejected("error authorizing update: config update has no write set")

    existing = map_config(current.channel_group)
    read = map_config(update.read_set) if update.HasField("read_set") else {}
    write = map_config(update.write_set)

    for key, item in sorted(read.items()):
        if key not in existing:
            raise UpdateRejected(f"error authorizing update: error validating ReadSet: existing config does not "
                                 f"contain element for {key} but was in the read set")
        if existing[key].version != item.version:
            raise UpdateRejected(
                f"error authorizing update: error validating ReadSet: proposed update requires that key {key} be at "
                f"version {item.version}, but it is currently at version {existing[key].version}")

    delta = {k: v for k, v in write.items() if not (k in read and read[k].version == v.version)}
    if not delta:
        raise UpdateRejected("error authorizing update: error validating DeltaSet: delta set was empty -- "
                             "update would have no effect")

    signers = signers_of(cue)
    evaluator = PolicyEvaluator(current)
    for key in sorted(delta):
        item = delta[key]
        _check_mod_policy(key, item.mod_policy)
        old = existing.get(key)
        if old is None:
            if item.version != 0:
                raise UpdateRejected(f"error authorizing update: error validating DeltaSet: attempted to set key {key} "
                                     f"to version {item.version}, but key does not exist")
            continue
        if item.version != old.version + 1:
            raise UpdateRejected(f"error authorizing update: error validating DeltaSet: attempt to set key {key} to "
                                 f"version {item.version}, but key is at version {old.version}")
        if not check_policies:
            continue
        base = old.path[1:] + ((old.name,) if old.kind == "group" else ())
        if old.kind == "group" and not old.path:
            base = ()
        gpath, pname = evaluator.resolve(base, old.mod_policy)
        if not evaluator.exists(gpath, pname):
            raise UpdateRejected(f"error authorizing update: error validating DeltaSet: unexpected missing policy "
                                 f"{old.mod_policy} for item {key}")
        res = evaluator.evaluate(gpath, pname, signers)
        if not res.ok:
            raise UpdateRejected(f"error authorizing update: error validating DeltaSet: policy for {key} not "
                                 f"satisfied: {res.reason}")

    proposed = dict(existing)
    proposed.update(delta)
    for key in write:
        if key not in proposed:
            raise UpdateRejected(f"full config did not verify: writeset contained key {key} which did not appear "
                                 "in proposed config")
    nxt = configtx_pb2.Config(sequence=current.sequence + 1)
    nxt.channel_group.CopyFrom(_rebuild(proposed, (), ROOT))
    return nxt, sorted(delta), signers


def _check_mod_policy(key: str, mod_policy: str) -> None:
    if not mod_policy:
        raise UpdateRejected(f"error authorizing update: error validating DeltaSet: invalid mod_policy for element "
                             f"{key}: mod_policy not set")
    trimmed = mod_policy[1:] if mod_policy.startswith("/") else mod_policy
    for i, part in enumerate(trimmed.split("/")):
        if not part or not _CONFIG_ID.match(part):
            raise UpdateRejected(f"error authorizing update: error validating DeltaSet: invalid mod_policy for element "
                                 f"{key}: path element at {i} is invalid")


def _consensus(config: configtx_pb2.Config) -> ConsensusInfo | None:
    if ORDERER not in config.channel_group.groups:
        return None
    try:
        return get_consensus(config)
    except ChannelConfigError as exc:
        raise UpdateRejected(f"failed to parse config: {exc}") from None


def migration_capability(config: configtx_pb2.Config) -> bool:
    """Whether the orderer capability enables consensus-type migration (V1_4_2 or later, e.g. V2_0)."""
    try:
        caps = get_capabilities(config, "orderer")
    except ChannelConfigError:
        return False
    ok = [c for c in caps if re.fullmatch(r"V\d+_\d+(?:_\d+)?", c)]
    return any(capability_version(c) >= (1, 4, 2) for c in ok)


def maintenance_filter(current: configtx_pb2.Config, nxt: configtx_pb2.Config,
                       update: configtx_pb2.ConfigUpdate) -> None:
    """Step 6: the orderer's consensus-type migration rules on (current config, next config, update)."""
    before, after = _consensus(current), _consensus(nxt)
    if before is None:
        return
    if after is None:
        raise UpdateRejected("config transaction inspection failed: next config is missing orderer group")
    prefix = "config transaction inspection failed: "
    if not migration_capability(current):
        if after.state != STATE_NORMAL:
            raise UpdateRejected(prefix + f"next config attempted to change ConsensusType.State to {after.state}, "
                                 "but capability is disabled")
        if before.type != after.type:
            raise UpdateRejected(prefix + f"next config attempted to change ConsensusType.Type from {before.type} to "
                                 f"{after.type}, but capability is disabled")
        return
    if before.state != after.state:
        _ensure_consensus_type_change_only(update, prefix)
        if before.type != after.type:
            raise UpdateRejected(prefix + f"attempted to change ConsensusType.Type from {before.type} to {after.type}, "
                                 f"but ConsensusType.State is changing from {before.state} to {after.state}")
        if before.metadata != after.metadata:
            raise UpdateRejected(prefix + "attempted to change ConsensusType.Metadata, but ConsensusType.State is "
                                 f"changing from {before.state} to {after.state}")
    if before.type != after.type:
        if before.state == STATE_NORMAL:
            raise UpdateRejected(prefix + f"attempted to change consensus type from {before.type} to {after.type}, "
                                 "but current config ConsensusType.State is not in maintenance mode")
        if after.state == STATE_NORMAL:
            raise UpdateRejected(prefix + f"attempted to change consensus type from {before.type} to {after.type}, "
                                 "but next config ConsensusType.State is not in maintenance mode")
        if after.type not in PERMITTED_TARGET_TYPES:
            raise UpdateRejected(prefix + f"attempted to change consensus type from {before.type} to {after.type}, "
                                 "transition not supported")
        if after.type == "etcdraft":
            try:
                etcdraft_conf.ConfigMetadata().ParseFromString(after.metadata)
            except DecodeError as exc:
                raise UpdateRejected(prefix + f"failed to unmarshal etcdraft metadata configuration: {exc}") from None


def _ensure_consensus_type_change_only(update: configtx_pb2.ConfigUpdate, prefix: str) -> None:
    ws = update.write_set
    if not ws.groups:
        raise UpdateRejected(prefix + "config update contains no changes")
    if ws.values:
        raise UpdateRejected(prefix + "config update contains changes to values in group Channel")
    if len(ws.groups) > 1:
        raise UpdateRejected(prefix + "config update contains changes to more than one group")
    if ORDERER not in ws.groups:
        raise UpdateRejected(prefix + "update does not contain the Orderer group")
    og = ws.groups[ORDERER]
    if og.groups:
        raise UpdateRejected(prefix + "config update contains changes to groups within the Orderer group")
    if "ConsensusType" not in og.values:
        raise UpdateRejected(prefix + "config update does not contain the ConsensusType value")
    if len(og.values) > 1:
        raise UpdateRejected(prefix + "config update contain more then just the ConsensusType value in the Orderer group")


def apply_update(current: configtx_pb2.Config, channel_id: str,
                 update: common_pb2.Envelope | configtx_pb2.ConfigUpdateEnvelope) -> AppliedUpdate:
    """Validate ``update`` against ``current`` like an orderer; return the next config or raise UpdateRejected."""
    cue = _as_config_update_envelope(update, channel_id)
    nxt, changed, signers = authorize(current, channel_id, cue)
    cu = configtx_pb2.ConfigUpdate()
    cu.ParseFromString(cue.config_update)
    maintenance_filter(current, nxt, cu)
    return AppliedUpdate(nxt, changed, _consensus(current), _consensus(nxt), signers)


def next_config(current: configtx_pb2.Config, update: configtx_pb2.ConfigUpdate) -> configtx_pb2.Config:
    """The config an orderer would commit for ``update`` (versions bumped, sequence + 1), every rule checked
    except the signatures. Used to chain planned updates and to prove each one passes the maintenance filter."""
    cue = configtx_pb2.ConfigUpdateEnvelope(config_update=update.SerializeToString(deterministic=True))
    nxt, _, _ = authorize(current, update.channel_id, cue, check_policies=False)
    maintenance_filter(current, nxt, update)
    return nxt


# --------------------------------------------------------------------------------------------------- other rules


def check_normal_transaction(config: configtx_pb2.Config) -> None:
    """A normal (non-config) transaction is refused while the channel is in maintenance mode."""
    ct = _consensus(config)
    if ct is not None and ct.state == STATE_MAINTENANCE:
        raise UpdateRejected("normal transactions are rejected: maintenance mode", status="SERVICE_UNAVAILABLE")


def check_deliver(config: configtx_pb2.Config, signers: list[Signer]) -> None:
    """Deliver (``peer channel fetch``) needs ``/Channel/Readers``, in maintenance ``/Channel/Orderer/Readers``."""
    ct = _consensus(config)
    path: tuple[str, ...] = (ORDERER,) if ct is not None and ct.state == STATE_MAINTENANCE else ()
    res = PolicyEvaluator(config).evaluate(path, "Readers", signers)
    if not res.ok:
        raise UpdateRejected(f"deliver refused: {res.reason}", status="FORBIDDEN")


__all__ = [
    "AppliedUpdate",
    "PolicyEvaluator",
    "Signer",
    "UpdateRejected",
    "apply_update",
    "authorize",
    "check_deliver",
    "check_normal_transaction",
    "config_signature",
    "maintenance_filter",
    "map_config",
    "migration_capability",
    "next_config",
    "signers_of",
]
