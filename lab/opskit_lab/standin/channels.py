"""Channel configs of a stand-in orderer: the protobuf half of node.py (lab only).

node.py imports this module lazily. It needs ``fabric_protos``, ``google.protobuf`` and ``opskit.orderer`` on
``sys.path``: in a lab container they are the project's own, bind-mounted read-only under ``/opt/pylib``
(``StandinSpec(pylib=True)``); a local stand-in process uses the running interpreter's. When the import fails,
node.py runs without channel-config features and says so in its log.

What lives here: reading a channel's config from its ledger (the last CONFIG block), the orderer's rules for
a CONFIG_UPDATE (:func:`opskit.orderer.rules.apply_update`), for normal transactions and for deliver
(``check_normal_transaction`` / ``check_deliver``), and building the CONFIG envelope a real orderer writes
(``ConfigEnvelope{config, last_update}``). Appending blocks, replication and HTTP stay in node.py.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass

import blockfile  # opskit/ledger/blockfile.py, on sys.path through node.py
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.msp import identities_pb2
from google.protobuf.message import DecodeError
from opskit.orderer import rules
from opskit.orderer.config import STATE_MAINTENANCE, ChannelConfigError, config_from_envelope, get_consensus

#: HTTP code of each broadcast/deliver status the stand-in answers with (Fabric's common.Status values)
HTTP_CODE = {"SUCCESS": 200, "BAD_REQUEST": 400, "FORBIDDEN": 403, "NOT_FOUND": 404,
             "REQUEST_ENTITY_TOO_LARGE": 413, "INTERNAL_SERVER_ERROR": 500, "SERVICE_UNAVAILABLE": 503}
HALTED_INFO = "channel halted after consensus-type change: restart required"


class Refused(Exception):
    """The orderer refuses a broadcast or deliver request with a Fabric status."""

    def __init__(self, status: str, info: str) -> None:
        super().__init__(info)
        self.status = status
        self.info = info

    @property
    def http(self) -> int:
        return HTTP_CODE.get(self.status, 400)


@dataclass
class ChannelConfig:
    """The current config of one channel as an orderer holds it."""

    channel: str
    config: configtx_pb2.Config
    block: int  #: number of the last config block

    @property
    def consensus(self):
        return get_consensus(self.config)

    @property
    def type(self) -> str:
        return self.consensus.type

    @property
    def state(self) -> str:
        return self.consensus.state

    @property
    def sequence(self) -> int:
        return int(self.config.sequence)

    @property
    def in_maintenance(self) -> bool:
        return self.state == STATE_MAINTENANCE

    @property
    def consenters(self) -> int | None:
        """Number of etcdraft consenters in the ConsensusType metadata (None for other types)."""
        try:
            raft = self.consensus.raft
        except ChannelConfigError:
            return None
        return len(raft.consenters) if raft is not None else None


def config_of_envelope(envelope: bytes) -> tuple[configtx_pb2.Config, str]:
    """(config, channel id) of a CONFIG envelope; raises ValueError for anything else."""
    try:
        env = common_pb2.Envelope()
        env.ParseFromString(envelope)
        found = config_from_envelope(env)
    except DecodeError as exc:
        raise ValueError(f"not a CONFIG envelope: {exc}") from None
    if found is None:
        raise ValueError("not a CONFIG envelope with a channel config")
    return found


def load(chain_dir: str, channel: str) -> ChannelConfig | None:
    """The channel's config from its ledger: the last block whose envelope is a CONFIG envelope (None: no such block)."""
    try:
        blk = blockfile.last_config_block(chain_dir)
    except blockfile.LedgerError:
        return None
    if blk is None:
        return None
    config, _ = config_of_envelope(blk.data[0])
    return ChannelConfig(channel, config, blk.number)


def header_type(envelope: bytes) -> int | None:
    return blockfile.envelope_channel_header(envelope)[0]


def serialized_identity(mspid: str, id_bytes: bytes) -> bytes:
    return identities_pb2.SerializedIdentity(mspid=mspid, id_bytes=id_bytes).SerializeToString()


def signers_from_header(value: str | None) -> list[rules.Signer]:
    """The requester of a deliver request: ``X-Opskit-Creator`` = base64 of a serialized msp.SerializedIdentity."""
    if not value:
        return []
    try:
        raw = base64.b64decode(value, validate=True)
        ident = identities_pb2.SerializedIdentity()
        ident.ParseFromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        return []
    return [rules.Signer(ident.mspid, raw)] if ident.mspid else []


def config_envelope(channel: str, config: configtx_pb2.Config, last_update: bytes, creator: bytes) -> bytes:
    """The CONFIG envelope an orderer writes into the config block: ``ConfigEnvelope{config, last_update}``.

    The payload header names the orderer (creator, nonce); the envelope signature is left empty (the stand-in
    holds no orderer key).
    """
    now = time.time()
    chdr = common_pb2.ChannelHeader(type=common_pb2.CONFIG, channel_id=channel)
    chdr.timestamp.seconds = int(now)
    chdr.timestamp.nanos = int((now % 1) * 1e9)
    shdr = common_pb2.SignatureHeader(creator=creator, nonce=os.urandom(24))
    upd = common_pb2.Envelope()
    upd.ParseFromString(last_update)
    cenv = configtx_pb2.ConfigEnvelope(config=config, last_update=upd)
    payload = common_pb2.Payload(data=cenv.SerializeToString())
    payload.header.channel_header = chdr.SerializeToString()
    payload.header.signature_header = shdr.SerializeToString()
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def apply_config_update(current: ChannelConfig, envelope: bytes) -> configtx_pb2.Config:
    """The next config for a CONFIG_UPDATE envelope (the orderer's rules) or :class:`Refused`."""
    env = common_pb2.Envelope()
    try:
        env.ParseFromString(envelope)
    except DecodeError as exc:
        raise Refused("BAD_REQUEST", f"bad envelope: {exc}") from None
    try:
        applied = rules.apply_update(current.config, current.channel, env)
    except rules.UpdateRejected as exc:
        raise Refused(exc.status, f"error applying config update to existing channel '{current.channel}': {exc}") \
            from None
    return applied.config


def check_normal_transaction(current: ChannelConfig) -> None:
    try:
        rules.check_normal_transaction(current.config)
    except rules.UpdateRejected as exc:
        raise Refused(exc.status, str(exc)) from None


def check_deliver(current: ChannelConfig, creator_header: str | None) -> None:
    try:
        rules.check_deliver(current.config, signers_from_header(creator_header))
    except rules.UpdateRejected as exc:
        raise Refused(exc.status, str(exc)) from None


def summary(current: ChannelConfig) -> dict:
    return {"type": current.type, "state": current.state, "sequence": current.sequence,
            "height_of_last_config": current.block, "consenters": current.consenters}
