"""``compute_update`` (the result ``configtxlator compute_update`` gives) and the CONFIG_UPDATE envelope.

The algorithm follows Fabric's ``internal/configtxlator/update/update.go``:

- values / policies: same mod_policy and same bytes (policies: equal ``Policy`` messages) -> "same" (kept as
  ``{version}`` only if the parent's membership changes); changed -> write set with version + 1 and the new
  mod_policy/value; new -> write set with version 0; removed -> the parent's membership changed.
- groups: recurse into common subgroups. If no member was added or removed and the mod_policy is equal, the
  group is in read and write set with its own version and only the changed children. Otherwise the read set
  has the old version, the write set version + 1 and the new mod_policy, and every unchanged child is copied
  as ``{version}`` into both. New subgroups are written whole with version 0 everywhere.
- no difference at all -> :class:`NoDifferences`.

Value bytes are compared as bytes, exactly as configtxlator does: that is why the config edited here must be
the parsed config with only the changed values re-serialized (see :mod:`opskit.orderer.config`). Results are
compared with :func:`updates_equal` (decoded JSON), never by bytes: Go serializes protobuf maps in random order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from fabric_protos.common import common_pb2, configtx_pb2

from opskit.orderer.config import ChannelConfigError, render_envelope, render_update


class NoDifferences(ChannelConfigError):
    """Original and updated config are the same: there is nothing to submit."""

    def __init__(self) -> None:
        super().__init__("no differences detected between original and updated config", exit_code=1)


# --------------------------------------------------------------------------------------------------- compute


def _diff_members(original: Any, updated: Any, equal: Any, build: Any) -> tuple[dict, dict, dict, bool]:
    """configtxlator's rule for the values or policies of one group.

    Unchanged (same mod_policy and ``equal``) -> ``{version}`` in "same"; changed -> written with
    version + 1; new -> written with version 0; any added or removed name changes the membership.
    Read sets of values and policies are always empty.
    """
    read: dict = {}
    write: dict = {}
    same: dict = {}
    members = False
    for name, o in original.items():
        if name not in updated:
            members = True
            continue
        u = updated[name]
        if o.mod_policy == u.mod_policy and equal(o, u):
            same[name] = build(o.version, None)
        else:
            write[name] = build(o.version + 1, u)
    for name, u in updated.items():
        if name not in original:
            members = True
            write[name] = build(0, u)
    return read, write, same, members


def _policy(version: int, src: Any) -> Any:
    p = configtx_pb2.ConfigPolicy(version=version)
    if src is not None:
        p.mod_policy = src.mod_policy
        if src.HasField("policy"):
            p.policy.CopyFrom(src.policy)
    return p


def _value(version: int, src: Any) -> Any:
    if src is None:
        return configtx_pb2.ConfigValue(version=version)
    return configtx_pb2.ConfigValue(version=version, mod_policy=src.mod_policy, value=src.value)


def _policies(original: Any, updated: Any) -> tuple[dict, dict, dict, bool]:
    return _diff_members(original, updated, lambda o, u: o.policy == u.policy, _policy)


def _values(original: Any, updated: Any) -> tuple[dict, dict, dict, bool]:
    return _diff_members(original, updated, lambda o, u: o.value == u.value, _value)


def _groups(original: Any, updated: Any) -> tuple[dict, dict, dict, bool]:
    read: dict = {}
    write: dict = {}
    same: dict = {}
    members = False
    for name, o in original.items():
        if name not in updated:
            members = True
            continue
        r, w, changed = _group(o, updated[name])
        if not changed:
            same[name] = r
            continue
        read[name] = r
        write[name] = w
    for name, u in updated.items():
        if name in original:
            continue
        members = True
        _, w, _ = _group(configtx_pb2.ConfigGroup(), u)
        g = configtx_pb2.ConfigGroup(version=0, mod_policy=u.mod_policy)
        _fill(g, w.policies, w.values, w.groups)
        write[name] = g
    return read, write, same, members


def _fill(group: configtx_pb2.ConfigGroup, policies: Any, values: Any, groups: Any) -> None:
    for k, v in policies.items():
        group.policies[k].CopyFrom(v)
    for k, v in values.items():
        group.values[k].CopyFrom(v)
    for k, v in groups.items():
        group.groups[k].CopyFrom(v)


def _group(original: configtx_pb2.ConfigGroup,
           updated: configtx_pb2.ConfigGroup) -> tuple[configtx_pb2.ConfigGroup, configtx_pb2.ConfigGroup, bool]:
    rp, wp, sp, mp = _policies(original.policies, updated.policies)
    rv, wv, sv, mv = _values(original.values, updated.values)
    rg, wg, sg, mg = _groups(original.groups, updated.groups)

    if not (mp or mv or mg) and original.mod_policy == updated.mod_policy:
        if not (rp or wp or rv or wv or rg or wg):
            return (configtx_pb2.ConfigGroup(version=original.version),
                    configtx_pb2.ConfigGroup(version=original.version), False)
        read = configtx_pb2.ConfigGroup(version=original.version)
        _fill(read, rp, rv, rg)
        write = configtx_pb2.ConfigGroup(version=original.version)
        _fill(write, wp, wv, wg)
        return read, write, True

    for k, v in sp.items():
        rp[k] = v
        wp[k] = v
    for k, v in sv.items():
        rv[k] = v
        wv[k] = v
    for k, v in sg.items():
        rg[k] = v
        wg[k] = v
    read = configtx_pb2.ConfigGroup(version=original.version)
    _fill(read, rp, rv, rg)
    write = configtx_pb2.ConfigGroup(version=original.version + 1, mod_policy=updated.mod_policy)
    _fill(write, wp, wv, wg)
    return read, write, True


def compute_update(original: configtx_pb2.Config, updated: configtx_pb2.Config,
                   channel_id: str) -> configtx_pb2.ConfigUpdate:
    """The ``ConfigUpdate`` that turns ``original`` into ``updated`` (``configtxlator compute_update``)."""
    if not original.HasField("channel_group"):
        raise ChannelConfigError("no channel group included for original config")
    if not updated.HasField("channel_group"):
        raise ChannelConfigError("no channel group included for updated config")
    if not channel_id:
        raise ChannelConfigError("a channel ID is required for a config update")
    read, write, changed = _group(original.channel_group, updated.channel_group)
    if not changed:
        raise NoDifferences()
    out = configtx_pb2.ConfigUpdate(channel_id=channel_id)
    out.read_set.CopyFrom(read)
    out.write_set.CopyFrom(write)
    return out


# --------------------------------------------------------------------------------------------------- envelopes


def wrap_update(update: configtx_pb2.ConfigUpdate, channel_id: str | None = None,
                signatures: list[configtx_pb2.ConfigSignature] | None = None) -> common_pb2.Envelope:
    """An unsigned CONFIG_UPDATE envelope (channel header type 2), input to ``peer channel signconfigtx``/``update``.

    ``signatures`` (``ConfigSignature``s collected elsewhere) are put into the ``ConfigUpdateEnvelope``.
    """
    channel_id = channel_id or update.channel_id
    if update.channel_id and channel_id != update.channel_id:
        raise ChannelConfigError(f"update is for channel {update.channel_id!r}, envelope for {channel_id!r}")
    chdr = common_pb2.ChannelHeader(type=common_pb2.CONFIG_UPDATE, channel_id=channel_id)
    cue = configtx_pb2.ConfigUpdateEnvelope(config_update=update.SerializeToString(deterministic=True))
    for s in signatures or []:
        cue.signatures.add().CopyFrom(s)
    payload = common_pb2.Payload(data=cue.SerializeToString())
    payload.header.channel_header = chdr.SerializeToString()
    return common_pb2.Envelope(payload=payload.SerializeToString())


@dataclass
class UnwrappedUpdate:
    channel_id: str
    update: configtx_pb2.ConfigUpdate
    envelope: configtx_pb2.ConfigUpdateEnvelope


def unwrap_update(env: common_pb2.Envelope) -> UnwrappedUpdate:
    """The ConfigUpdate (and its signatures) inside a CONFIG_UPDATE envelope."""
    try:
        payload = common_pb2.Payload()
        payload.ParseFromString(env.payload)
        chdr = common_pb2.ChannelHeader()
        chdr.ParseFromString(payload.header.channel_header)
        if chdr.type != common_pb2.CONFIG_UPDATE:
            raise ChannelConfigError(f"envelope has header type {chdr.type}, not CONFIG_UPDATE (2)")
        cue = configtx_pb2.ConfigUpdateEnvelope()
        cue.ParseFromString(payload.data)
        cu = configtx_pb2.ConfigUpdate()
        cu.ParseFromString(cue.config_update)
    except DecodeError as exc:
        raise ChannelConfigError(f"not a CONFIG_UPDATE envelope: {exc}") from None
    return UnwrappedUpdate(chdr.channel_id, cu, cue)


def parse_update_bytes(data: bytes, source: str = "input") -> UnwrappedUpdate:
    """Decode a CONFIG_UPDATE envelope or a bare ``common.ConfigUpdate``."""
    try:
        env = common_pb2.Envelope()
        env.ParseFromString(data)
        if env.payload:
            return unwrap_update(env)
    except (DecodeError, ChannelConfigError):
        pass
    try:
        cu = configtx_pb2.ConfigUpdate()
        cu.ParseFromString(data)
    except DecodeError:
        cu = None
    if cu is None or not (cu.HasField("write_set") or cu.HasField("read_set")):
        raise ChannelConfigError(f"{source}: not a CONFIG_UPDATE envelope or common.ConfigUpdate protobuf")
    cue = configtx_pb2.ConfigUpdateEnvelope(config_update=data)
    return UnwrappedUpdate(cu.channel_id, cu, cue)


def load_update_file(path: str | Path) -> UnwrappedUpdate:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ChannelConfigError(f"cannot read update file {p}: {exc.strerror}") from None
    return parse_update_bytes(data, str(p))


def updates_equal(a: configtx_pb2.ConfigUpdate, b: configtx_pb2.ConfigUpdate) -> bool:
    """Decoded comparison: equal JSON renderings (map order and value encoding do not matter)."""
    return render_update(a) == render_update(b)


def write_update(path: str | Path, update: configtx_pb2.ConfigUpdate, channel_id: str | None = None, *,
                 json_sidecar: bool = True) -> list[Path]:
    """Write the unsigned CONFIG_UPDATE envelope to ``path`` (and ``path`` + ``.json`` for review)."""
    import json

    p = Path(path)
    env = wrap_update(update, channel_id)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(env.SerializeToString())
    out = [p]
    if json_sidecar:
        j = p.with_name(p.name + ".json")
        j.write_text(json.dumps(render_envelope(env), indent=2, sort_keys=True) + "\n")
        out.append(j)
    return out
