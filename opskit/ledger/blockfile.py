"""Read, verify, compare and append Hyperledger Fabric block files (``blockfile_NNNNNN``).

STDLIB ONLY, no imports from opskit: this file is shipped as-is to remote hosts and run there with
their own ``python3`` (3.7 or later), and test equipment uses it to append blocks to a chain.

Record format (Fabric ``common/ledger/blkstorage/block_serialization.go``): each record is
``uvarint(len) + body``; body = ``uvarint(number)``, ``uvarint(len)+data_hash``, ``uvarint(len)+previous_hash``,
``uvarint(n_tx)`` + n x ``uvarint(len)+envelope``, ``uvarint(n_meta)`` + n x ``uvarint(len)+metadata``.
Header hash = SHA-256 of DER ``SEQUENCE{INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash}``;
data hash = SHA-256 of the concatenated envelopes. A block never spans two files; files are at most 64 MiB.

Command line (JSON on stdout; this is what opskit runs remotely)::

    python3 blockfile.py height DIR [DIR...] [--json]     # first existing DIR is used
    python3 blockfile.py verify DIR [DIR...] [--json]
    python3 blockfile.py scan DIR [--from N] [--to M]     # one JSON object per block (JSON lines)
    python3 blockfile.py headers DIR N [N...]             # header hashes of the given block numbers
    python3 blockfile.py compare DIR_A DIR_B [--json]

Exit codes: 0 fine, 1 verify found a broken chain, 2 no ledger / bad usage, 3 unreadable format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

MAX_FILE_SIZE = 64 * 1024 * 1024
FILE_PREFIX = "blockfile_"
_FILE_RE = re.compile(r"^blockfile_(\d{6,})\Z")

HEADER_TYPE_CONFIG = 1
HEADER_TYPE_ENDORSER_TRANSACTION = 3
HEADER_TYPE_ORDERER_TRANSACTION = 7
META_SIGNATURES, META_LAST_CONFIG, META_TRANSACTIONS_FILTER, META_ORDERER, META_COMMIT_HASH = range(5)

#: bytes read per record by the header-only scan (length prefix + number + two 32-byte hashes + n_tx)
_HEAD_READ = 160
_READ_CHUNK = 16 * 1024 * 1024

Buf = Union[bytes, bytearray, memoryview]


class LedgerError(Exception):
    """Base class for everything this module raises on purpose."""


class NoLedger(LedgerError):
    """The directory does not exist or holds no block file."""


class CorruptRecord(LedgerError):
    """A record cannot be parsed (wrong length, bad varint, impossible hash length)."""

    def __init__(self, message: str, file: str = "", offset: int = -1) -> None:
        super().__init__(message if not file else "%s at %s offset %d" % (message, file, offset))
        self.reason, self.file, self.offset = message, file, offset


class PartialTail(LedgerError):
    """The chain ends with a partial record (crash mid-write); the writer refuses to append after it."""


class _Short(Exception):
    """Not enough bytes in the buffer (internal)."""


# -- primitive codecs ---------------------------------------------------------------------------
def uvarint(buf: Buf, pos: int, end: int) -> Tuple[int, int]:
    """Decode a protobuf/Go uvarint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Short()
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise CorruptRecord("varint longer than 10 bytes")


def put_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """DER of the block header exactly as Fabric's ``protoutil.BlockHeaderBytes`` (Go encoding/asn1)."""
    num = number.to_bytes(number.bit_length() // 8 + 1, "big")
    inner = (b"\x02" + _der_len(len(num)) + num
             + b"\x04" + _der_len(len(previous_hash)) + bytes(previous_hash)
             + b"\x04" + _der_len(len(data_hash)) + bytes(data_hash))
    return b"\x30" + _der_len(len(inner)) + inner


def header_hash(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    return hashlib.sha256(header_bytes(number, previous_hash, data_hash)).digest()


def b64(b: Optional[bytes]) -> str:
    return base64.b64encode(bytes(b or b"")).decode()


# -- minimal protobuf reading (config-block detection, last-config index) ------------------------
def _pb_fields(buf: Buf) -> Iterator[Tuple[int, int, Any]]:
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = uvarint(buf, pos, end)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = uvarint(buf, pos, end)
        elif wt == 2:
            n, pos = uvarint(buf, pos, end)
            if pos + n > end:
                raise _Short()
            val = buf[pos:pos + n]
            pos += n
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise CorruptRecord("unsupported protobuf wire type %d" % wt)
        yield fno, wt, val


def _pb_get(buf: Buf, fno: int, wt: int) -> Any:
    for f, w, v in _pb_fields(buf):
        if f == fno and w == wt:
            return v
    return None


def envelope_channel_header(envelope: Buf) -> Tuple[Optional[int], Optional[str], Optional[str]]:
    """(header type, channel id, tx id) of an Envelope, or Nones when it does not parse."""
    try:
        payload = _pb_get(envelope, 1, 2)
        header = _pb_get(payload, 1, 2) if payload is not None else None
        chdr = _pb_get(header, 1, 2) if header is not None else None
        if chdr is None:
            return None, None, None
        htype = _pb_get(chdr, 1, 0)
        chan = _pb_get(chdr, 4, 2)
        txid = _pb_get(chdr, 5, 2)
        return (int(htype or 0), bytes(chan).decode("utf-8", "replace") if chan is not None else None,
                bytes(txid).decode("utf-8", "replace") if txid is not None else None)
    except (LedgerError, _Short, IndexError):
        return None, None, None


def last_config_index(metadata: Sequence[Buf]) -> Optional[int]:
    """LAST_CONFIG index from block metadata (Metadata{value: LastConfig{index}}), else from SIGNATURES."""
    try:
        if len(metadata) > META_LAST_CONFIG and len(metadata[META_LAST_CONFIG]):
            value = _pb_get(metadata[META_LAST_CONFIG], 1, 2)
            if value is not None:
                return int(_pb_get(value, 1, 0) or 0)
        if metadata and len(metadata[META_SIGNATURES]):
            value = _pb_get(metadata[META_SIGNATURES], 1, 2)  # OrdererBlockMetadata
            lc = _pb_get(value, 1, 2) if value is not None else None
            if lc is not None:
                return int(_pb_get(lc, 1, 0) or 0)
    except (LedgerError, _Short, IndexError):
        return None
    return None


# -- data classes -----------------------------------------------------------------------------------
@dataclass
class BlockHeader:
    """What the header-only scan learns about one record."""

    number: int
    data_hash: bytes
    previous_hash: bytes
    tx_count: int
    file: str
    offset: int
    size: int  # whole record: length prefix + body

    @property
    def header_hash(self) -> bytes:
        return header_hash(self.number, self.previous_hash, self.data_hash)


@dataclass
class BlockInfo:
    """One block as read from its record."""

    number: int
    header_hash: bytes
    previous_hash: bytes
    data_hash: bytes
    tx_count: int
    size: int
    file: str
    offset: int
    header_type: Optional[int] = None
    channel_id: Optional[str] = None
    last_config: Optional[int] = None
    metadata_lens: List[int] = field(default_factory=list)
    data_hash_ok: Optional[bool] = None

    @property
    def is_config(self) -> bool:
        return self.tx_count == 1 and self.header_type == HEADER_TYPE_CONFIG

    def to_dict(self) -> Dict[str, Any]:
        return {
            "number": self.number, "headerHash": b64(self.header_hash), "previousHash": b64(self.previous_hash),
            "dataHash": b64(self.data_hash), "txCount": self.tx_count, "size": self.size, "file": self.file,
            "offset": self.offset, "isConfig": self.is_config, "headerType": self.header_type,
            "channelId": self.channel_id, "lastConfig": self.last_config, "metadataLens": self.metadata_lens,
        }


@dataclass
class Partial:
    """A trailing partial record: ``have`` bytes at ``offset`` of ``file`` (``want`` if the length was readable)."""

    file: str
    offset: int
    have: int
    want: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "bytes": self.have, "expected_bytes": self.want}


# -- files -------------------------------------------------------------------------------------------
def list_blockfiles(channel_dir: str) -> List[Tuple[int, str]]:
    """(index, path) of every ``blockfile_N`` in ``channel_dir``, in chain order."""
    if not os.path.isdir(channel_dir):
        raise NoLedger("%s: no such directory" % channel_dir)
    out = []
    for name in os.listdir(channel_dir):
        m = _FILE_RE.match(name)
        if m and os.path.isfile(os.path.join(channel_dir, name)):
            out.append((int(m.group(1)), os.path.join(channel_dir, name)))
    out.sort()
    return out


def _require_files(channel_dir: str) -> List[Tuple[int, str]]:
    files = list_blockfiles(channel_dir)
    if not files:
        raise NoLedger("%s: no blockfile_* here" % channel_dir)
    return files


def _parse_head(buf: Buf, pos: int, end: int) -> Tuple[int, bytes, bytes, int, int]:
    """number, data_hash, previous_hash, n_tx and the position after n_tx (raises _Short)."""
    number, pos = uvarint(buf, pos, end)
    n, pos = uvarint(buf, pos, end)
    if n > 64:
        raise CorruptRecord("data hash length %d" % n)
    if pos + n > end:
        raise _Short()
    data_hash = bytes(buf[pos:pos + n])
    pos += n
    n, pos = uvarint(buf, pos, end)
    if n > 64:
        raise CorruptRecord("previous hash length %d" % n)
    if pos + n > end:
        raise _Short()
    prev = bytes(buf[pos:pos + n])
    pos += n
    n_tx, pos = uvarint(buf, pos, end)
    return number, data_hash, prev, n_tx, pos


def iter_headers(path: str, start: int = 0, size: Optional[int] = None) -> Iterator[Union[BlockHeader, Partial]]:
    """Header-only scan of one file: one small ``pread`` per record, bodies are skipped.

    Yields a :class:`BlockHeader` per complete record and, last, a :class:`Partial` if the file ends
    inside a record. Cost is proportional to the number of records in this file only.
    """
    name = os.path.basename(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        off = start
        while off < size:
            head = os.pread(fd, min(_HEAD_READ, size - off), off)
            try:
                length, p = uvarint(head, 0, len(head))
            except _Short:
                yield Partial(name, off, size - off)
                return
            except CorruptRecord as exc:
                raise CorruptRecord(exc.reason, name, off) from None
            if off + p + length > size:
                yield Partial(name, off, size - off, p + length)
                return
            end = p + length
            if end > len(head):
                end = len(head)
            try:
                number, dh, ph, n_tx, _ = _parse_head(head, p, end)
            except _Short:
                if end >= p + length:
                    raise CorruptRecord("record too short for a block header", name, off) from None
                head = os.pread(fd, p + min(length, 4096), off)  # unusual hash lengths: read a bit more
                try:
                    number, dh, ph, n_tx, _ = _parse_head(head, p, min(len(head), p + length))
                except _Short:
                    raise CorruptRecord("record too short for a block header", name, off) from None
            except CorruptRecord as exc:
                raise CorruptRecord(exc.reason, name, off) from None
            yield BlockHeader(number, dh, ph, n_tx, name, off, p + length)
            off += p + length
    finally:
        os.close(fd)


def iter_records(path: str, chunk: int = _READ_CHUNK) -> Iterator[Union[Tuple[int, int, memoryview], Partial]]:
    """Stream the complete records of one file as (offset, record size, body view).

    The body view points into a reused buffer: it is valid only until the next item. Memory is bounded by
    ``chunk`` (or the largest record). A trailing partial record is yielded last as a :class:`Partial`.
    """
    name = os.path.basename(path)
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(chunk)
        mv = memoryview(buf)
        base = start = end = 0
        eof = False
        while True:
            need = 1
            if start < end:
                try:
                    length, p = uvarint(mv, start, end)
                    if p + length <= end:
                        yield base + start, p - start + length, mv[p:p + length]
                        start = p + length
                        continue
                    need = p + length - start
                except _Short:
                    need = end - start + 1
                except CorruptRecord as exc:
                    raise CorruptRecord(exc.reason, name, base + start) from None
            if eof:
                if start < end:
                    want = None
                    try:
                        length, p = uvarint(mv, start, end)
                        want = p - start + length
                    except (_Short, CorruptRecord):
                        pass
                    yield Partial(name, base + start, end - start, want)
                return
            remaining = end - start
            if need > len(buf):
                newbuf = bytearray(max(need, 2 * len(buf)))
                newbuf[:remaining] = mv[start:end]
                buf, mv = newbuf, memoryview(newbuf)
            elif start:
                mv[:remaining] = mv[start:end]
            base += start
            start, end = 0, remaining
            n = f.readinto(mv[end:])
            if not n:
                eof = True
            else:
                end += n


def parse_body(body: Buf, name: str, offset: int, size: int, check_data_hash: bool = True) -> BlockInfo:
    """Parse one record body into a :class:`BlockInfo` (computing the header hash and, optionally, the data hash)."""
    end = len(body)
    where = "header"
    try:
        number, dh, ph, n_tx, pos = _parse_head(body, 0, end)
        where = "data"
        hasher = hashlib.sha256() if check_data_hash else None
        first = None
        for _ in range(n_tx):
            n, pos = uvarint(body, pos, end)
            if pos + n > end:
                raise _Short()
            if hasher is not None:
                hasher.update(body[pos:pos + n])
            if first is None:
                first = (pos, pos + n)
            pos += n
        n_meta, pos = uvarint(body, pos, end)
        metas = []
        for _ in range(n_meta):
            n, pos = uvarint(body, pos, end)
            if pos + n > end:
                raise _Short()
            metas.append(body[pos:pos + n])
            pos += n
    except _Short:
        raise CorruptRecord("record ends inside the block %s" % where, name, offset) from None
    except CorruptRecord as exc:
        raise CorruptRecord(exc.reason, name, offset) from None
    if pos != end:
        raise CorruptRecord("%d stray bytes after the block metadata" % (end - pos), name, offset)
    htype = chan = None
    if n_tx == 1 and first is not None:
        htype, chan, _ = envelope_channel_header(body[first[0]:first[1]])
    info = BlockInfo(number, header_hash(number, ph, dh), ph, dh, n_tx, size, name, offset, htype, chan,
                     last_config_index(metas), [len(m) for m in metas])
    if hasher is not None:
        info.data_hash_ok = hasher.digest() == dh
    return info


def read_block(path: str, offset: int, size: int, check_data_hash: bool = True) -> BlockInfo:
    """Read and parse the one record at ``offset`` (``size`` = whole record) of ``path``."""
    with open(path, "rb") as f:
        f.seek(offset)
        rec = f.read(size)
    length, p = uvarint(rec, 0, len(rec))
    return parse_body(memoryview(rec)[p:p + length], os.path.basename(path), offset, size, check_data_hash)


# -- height --------------------------------------------------------------------------------------------
def height(channel_dir: str) -> Dict[str, Any]:
    """Height and tip hashes as ``peer channel getinfo`` prints them, reading only the last file(s).

    The last file is scanned header by header (one small read per record, bodies skipped); only the last
    block is read whole. When the last file holds no complete record (just rolled over, or only a partial
    record), the file before it is scanned instead.
    """
    t0 = time.monotonic()
    files = _require_files(channel_dir)
    partial = None
    scanned = 0
    last_hdr = None
    last_path = None
    for _, path in reversed(files):
        scanned += 1
        for item in iter_headers(path):
            if isinstance(item, Partial):
                if partial is None and scanned == 1:
                    partial = item
            else:
                last_hdr = item
        if last_hdr is not None:
            last_path = path
            break
    if last_hdr is None or last_path is None:
        raise NoLedger("%s: block files hold no complete block" % channel_dir)
    tip = read_block(last_path, last_hdr.offset, last_hdr.size, check_data_hash=False)
    return {
        "channel": os.path.basename(os.path.normpath(channel_dir)),
        "height": tip.number + 1,
        "currentBlockHash": b64(tip.header_hash),
        "previousBlockHash": b64(tip.previous_hash),
        "dir": os.path.abspath(channel_dir),
        "files": len(files),
        "last_file": os.path.basename(files[-1][1]),
        "files_scanned": scanned,
        "last_block": tip.to_dict(),
        "partial_tail": partial.to_dict() if partial else None,
        "duration_s": round(time.monotonic() - t0, 6),
    }


# -- full streaming -------------------------------------------------------------------------------------
def iter_blocks(channel_dir: str, check_data_hash: bool = True) -> Iterator[Union[BlockInfo, Partial]]:
    """Every block of the chain, in order, parsed from a stream (memory bounded by one read chunk)."""
    for _, path in _require_files(channel_dir):
        for item in iter_records(path):
            if isinstance(item, Partial):
                yield item
            else:
                off, size, body = item
                yield parse_body(body, os.path.basename(path), off, size, check_data_hash)


def verify(channel_dir: str, progress: Optional[Callable[[int, int], None]] = None) -> Dict[str, Any]:
    """Check the whole hash chain: data hash of every block, previous hash, consecutive numbers.

    Reports the first broken block (and how many problems were found); a partial record at the very end
    of the last file is tolerated and reported as ``partial_tail`` (a crash mid-write, Fabric truncates
    it on restart). A partial record anywhere else breaks the chain.
    """
    t0 = time.monotonic()
    files = _require_files(channel_dir)
    first_broken: Optional[Dict[str, Any]] = None
    problems = 0
    blocks = 0
    nbytes = 0
    first_number = None
    prev: Optional[BlockInfo] = None
    partial: Optional[Partial] = None
    config_blocks: List[int] = []
    txs = 0
    stopped = False

    def broken(number: Optional[int], file: str, offset: int, reason: str) -> None:
        nonlocal first_broken, problems
        problems += 1
        if first_broken is None:
            first_broken = {"number": number, "file": file, "offset": offset, "reason": reason}

    for idx, (_, path) in enumerate(files):
        is_last_file = idx == len(files) - 1
        try:
            for item in iter_records(path):
                if partial is not None:  # something after a partial record: cannot happen in one file
                    break
                if isinstance(item, Partial):
                    if is_last_file:
                        partial = item
                    else:
                        broken(prev.number + 1 if prev else None, item.file, item.offset,
                               "partial record (%d bytes) at the end of a file that is not the last" % item.have)
                        partial = None
                    continue
                off, size, body = item
                info = parse_body(body, os.path.basename(path), off, size, True)
                blocks += 1
                nbytes += size
                txs += info.tx_count
                if info.is_config:
                    config_blocks.append(info.number)
                if first_number is None:  # not 0 for a ledger bootstrapped from a snapshot
                    first_number = info.number
                if prev is not None and info.number != prev.number + 1:
                    broken(info.number, info.file, off, "block number %d follows block %d" % (info.number, prev.number))
                if not info.data_hash_ok:
                    broken(info.number, info.file, off, "data hash mismatch (block data does not match its header)")
                if prev is not None and info.previous_hash != prev.header_hash:
                    broken(info.number, info.file, off,
                           "previous hash mismatch (header says %s, block %d hashes to %s)"
                           % (b64(info.previous_hash), prev.number, b64(prev.header_hash)))
                prev = info
                if progress is not None:
                    progress(blocks, nbytes)
        except CorruptRecord as exc:
            broken(prev.number + 1 if prev else first_number, exc.file or os.path.basename(path), exc.offset,
                   "unreadable record: " + exc.reason)
            stopped = True
            break
    dt = time.monotonic() - t0
    return {
        "channel": os.path.basename(os.path.normpath(channel_dir)),
        "ok": first_broken is None,
        "dir": os.path.abspath(channel_dir),
        "files": len(files),
        "blocks": blocks,
        "first_block": first_number,
        "height": prev.number + 1 if prev else 0,
        "currentBlockHash": b64(prev.header_hash) if prev else "",
        "previousBlockHash": b64(prev.previous_hash) if prev else "",
        "transactions": txs,
        "config_blocks": config_blocks,
        "bytes": nbytes,
        "first_broken": first_broken,
        "problems": problems,
        "stopped_early": stopped,
        "partial_tail": partial.to_dict() if partial else None,
        "duration_s": round(dt, 6),
        "mb_per_s": round(nbytes / 1e6 / dt, 1) if dt > 0 else None,
    }


def iter_header_chain(channel_dir: str) -> Iterator[BlockHeader]:
    """Header-only scan of the whole chain (bodies skipped); stops at a partial record."""
    for _, path in _require_files(channel_dir):
        for item in iter_headers(path):
            if isinstance(item, Partial):
                return
            yield item


def headers_at(channel_dir: str, numbers: Sequence[int]) -> Dict[int, str]:
    """Base64 header hash of each requested block number that exists (cost: a few files' headers)."""
    files = _require_files(channel_dir)
    firsts: List[Tuple[int, str]] = []
    for _, path in files:
        for item in iter_headers(path):
            if isinstance(item, BlockHeader):
                firsts.append((item.number, path))
            break
    wanted = sorted(set(int(n) for n in numbers))
    out: Dict[int, str] = {}
    by_file: Dict[str, List[int]] = {}
    for n in wanted:
        chosen = None
        for first, path in firsts:  # the last file whose first block is <= n
            if first <= n:
                chosen = path
            else:
                break
        if chosen is not None:
            by_file.setdefault(chosen, []).append(n)
    for path, ns in by_file.items():
        todo = set(ns)
        for item in iter_headers(path):
            if isinstance(item, Partial):
                break
            if item.number in todo:
                out[item.number] = b64(item.header_hash)
                todo.discard(item.number)
                if not todo:
                    break
    return out


# -- comparing two chains ---------------------------------------------------------------------------------
def _relation(ha: int, hb: int, common: int) -> str:
    if common == ha == hb:
        return "identical"
    if common == ha:
        return "a_prefix_of_b"
    if common == hb:
        return "b_prefix_of_a"
    return "diverged"


def compare_result(ha: int, hb: int, common: int, how: str) -> Dict[str, Any]:
    return {
        "height_a": ha, "height_b": hb, "common_prefix": common,
        "first_difference": None if common >= min(ha, hb) else common,
        "relation": _relation(ha, hb, common), "lag": abs(ha - hb), "method": how,
    }


def compare(dir_a: str, dir_b: str) -> Dict[str, Any]:
    """Compare two chains by header hashes (orderers sign differently, so bytes differ but headers agree).

    Streams both header chains side by side: exact, memory O(1), cost one small read per block.
    """
    ia, ib = iter_header_chain(dir_a), iter_header_chain(dir_b)
    common = 0
    diverged = False
    ha = hb = 0
    while True:
        a = next(ia, None)
        b = next(ib, None)
        if a is not None:
            ha = a.number + 1
        if b is not None:
            hb = b.number + 1
        if a is None or b is None:
            for a in ia:
                ha = a.number + 1
            for b in ib:
                hb = b.number + 1
            break
        if not diverged and a.number == b.number and a.header_hash == b.header_hash:
            common = a.number + 1
        else:
            diverged = True
    return compare_result(ha, hb, common, "stream")


def bisect_compare(height_a: int, height_b: int, fetch_a: Callable[[List[int]], Dict[int, str]],
                   fetch_b: Callable[[List[int]], Dict[int, str]], fanout: int = 16) -> Dict[str, Any]:
    """Compare two chains through header-hash lookups only (for chains on remote hosts).

    Relies on the hash chain: if block n has the same header hash on both sides, so do all blocks before
    it (each header commits to its predecessor). Checks the last common block first (one lookup when one
    chain is a prefix of the other), then narrows the first difference with ``fanout`` lookups per round.
    """
    m = min(height_a, height_b)
    if m == 0:
        return compare_result(height_a, height_b, 0, "bisect")
    lo, hi = -1, m - 1  # lo: highest block known equal; hi: lowest known different
    pa, pb = fetch_a([hi]), fetch_b([hi])
    if pa.get(hi) is not None and pa.get(hi) == pb.get(hi):
        return compare_result(height_a, height_b, m, "bisect")
    rounds = 1
    while hi - lo > 1:
        span = hi - lo - 1
        k = min(fanout, span)
        points = sorted(set(lo + 1 + (span * i) // k for i in range(k)))
        pa, pb = fetch_a(points), fetch_b(points)
        rounds += 1
        new_hi = hi
        for p in points:
            if pa.get(p) is None or pa.get(p) != pb.get(p):
                new_hi = p
                break
            lo = p
        hi = new_hi
    res = compare_result(height_a, height_b, hi, "bisect")
    res["rounds"] = rounds
    return res


# -- writing ------------------------------------------------------------------------------------------------
def _pb_bytes(fno: int, value: bytes) -> bytes:
    return put_uvarint((fno << 3) | 2) + put_uvarint(len(value)) + value


def _pb_varint(fno: int, value: int) -> bytes:
    return put_uvarint(fno << 3) + put_uvarint(value)


def make_envelope(channel_id: str, payload_data: bytes = b"", header_type: int = HEADER_TYPE_ENDORSER_TRANSACTION,
                  tx_id: str = "", timestamp: Optional[float] = None, signature: bytes = b"") -> bytes:
    """A minimal, well-formed ``common.Envelope`` (Payload{Header{ChannelHeader}, data}) for synthetic blocks."""
    ts = time.time() if timestamp is None else timestamp
    tsmsg = _pb_varint(1, int(ts)) + _pb_varint(2, int((ts % 1) * 1e9))
    chdr = (_pb_varint(1, header_type) + _pb_bytes(3, tsmsg) + _pb_bytes(4, channel_id.encode())
            + (_pb_bytes(5, tx_id.encode()) if tx_id else b""))
    header = _pb_bytes(1, chdr)
    payload = _pb_bytes(1, header) + (_pb_bytes(2, payload_data) if payload_data else b"")
    return _pb_bytes(1, payload) + (_pb_bytes(2, signature) if signature else b"")


def default_metadata(number: int, n_tx: int, last_config: int, style: str = "orderer",
                     commit_hash: bytes = b"") -> List[bytes]:
    """Five metadata entries laid out like Fabric 2.5's (SIGNATURES, LAST_CONFIG, TRANSACTIONS_FILTER, ORDERER, COMMIT_HASH).

    SIGNATURES carries OrdererBlockMetadata{last_config} without signatures (there is no orderer key here);
    block 0 has empty entries like a real genesis block. ``style="peer"`` adds the peer's validation
    flags (one ``00`` = VALID per tx) and a 34-byte COMMIT_HASH.
    """
    if number == 0:
        sig = lc = b""
    else:
        lc_msg = _pb_varint(1, last_config) if last_config else b""
        sig = _pb_bytes(1, _pb_bytes(1, lc_msg))
        lc = _pb_bytes(1, lc_msg)
    if style == "peer":
        flags = b"\x00" * n_tx
        ch = _pb_bytes(1, commit_hash or hashlib.sha256(b"%d" % number).digest()) if number else b""
        return [sig, lc, flags, b"", ch]
    return [sig, lc, b"", b"", b""]


def encode_block(number: int, previous_hash: bytes, data_entries: Sequence[bytes], metadata: Sequence[bytes]) -> Tuple[bytes, bytes]:
    """(record bytes, data hash) of one block in the block-file record format."""
    h = hashlib.sha256()
    for d in data_entries:
        h.update(d)
    dh = h.digest()
    parts = [put_uvarint(number), put_uvarint(len(dh)), dh, put_uvarint(len(previous_hash)), bytes(previous_hash),
             put_uvarint(len(data_entries))]
    for d in data_entries:
        parts.append(put_uvarint(len(d)))
        parts.append(bytes(d))
    parts.append(put_uvarint(len(metadata)))
    for m in metadata:
        parts.append(put_uvarint(len(m)))
        parts.append(bytes(m))
    body = b"".join(parts)
    return put_uvarint(len(body)) + body, dh


@dataclass
class RawBlock:
    """One whole block: header fields, data entries (envelopes) and metadata entries."""

    number: int
    previous_hash: bytes
    data_hash: bytes
    data: List[bytes]
    metadata: List[bytes]

    @property
    def header_hash(self) -> bytes:
        return header_hash(self.number, self.previous_hash, self.data_hash)

    def to_proto(self) -> bytes:
        """The ``common.Block`` protobuf, encoded as Go's protobuf does (what ``peer channel fetch`` writes).

        Header fields equal to their zero value are omitted; every data and metadata entry is written, empty
        ones too (repeated bytes). The MANIFEST of the fixtures notes that re-encoding a record this way gives
        the bytes an orderer delivers.
        """
        hdr = ((_pb_varint(1, self.number) if self.number else b"")
               + (_pb_bytes(2, self.previous_hash) if self.previous_hash else b"")
               + (_pb_bytes(3, self.data_hash) if self.data_hash else b""))
        data = b"".join(_pb_bytes(1, bytes(d)) for d in self.data)
        meta = b"".join(_pb_bytes(1, bytes(m)) for m in self.metadata)
        return _pb_bytes(1, hdr) + _pb_bytes(2, data) + _pb_bytes(3, meta)

    @classmethod
    def from_proto(cls, block: Buf) -> "RawBlock":
        """Decode a ``common.Block`` protobuf (e.g. a genesis block written by configtxgen)."""
        number, prev, dh = 0, b"", b""
        data: List[bytes] = []
        meta: List[bytes] = []
        try:
            for f, w, v in _pb_fields(block):
                if f == 1 and w == 2:
                    for hf, hw, hv in _pb_fields(v):
                        if hf == 1 and hw == 0:
                            number = int(hv)
                        elif hf == 2 and hw == 2:
                            prev = bytes(hv)
                        elif hf == 3 and hw == 2:
                            dh = bytes(hv)
                elif f == 2 and w == 2:
                    data += [bytes(x) for df, dw, x in _pb_fields(v) if df == 1 and dw == 2]
                elif f == 3 and w == 2:
                    meta += [bytes(x) for mf, mw, x in _pb_fields(v) if mf == 1 and mw == 2]
        except _Short:
            raise CorruptRecord("truncated common.Block protobuf") from None
        return cls(number, prev, dh, data, meta)


def _split_body(body: Buf) -> RawBlock:
    end = len(body)
    try:
        number, dh, ph, n_tx, pos = _parse_head(body, 0, end)
        data = []
        for _ in range(n_tx):
            n, pos = uvarint(body, pos, end)
            data.append(bytes(body[pos:pos + n]))
            pos += n
        n_meta, pos = uvarint(body, pos, end)
        meta = []
        for _ in range(n_meta):
            n, pos = uvarint(body, pos, end)
            meta.append(bytes(body[pos:pos + n]))
            pos += n
    except _Short:
        raise CorruptRecord("record ends inside the block") from None
    return RawBlock(number, bytes(ph), bytes(dh), data, meta)


def read_raw(path: str, offset: int, size: int) -> RawBlock:
    """The whole block held by the record at ``offset`` (``size`` = whole record) of ``path``."""
    with open(path, "rb") as f:
        f.seek(offset)
        rec = f.read(size)
    length, p = uvarint(rec, 0, len(rec))
    return _split_body(memoryview(rec)[p:p + length])


def find_block(channel_dir: str, number: int) -> RawBlock:
    """Block ``number`` of the chain (header scan to find it, then one read). Raises KeyError when absent."""
    for _, path in _require_files(channel_dir):
        for item in iter_headers(path):
            if isinstance(item, BlockHeader) and item.number == number:
                return read_raw(path, item.offset, item.size)
    raise KeyError(number)


def last_config_block(channel_dir: str) -> Optional[RawBlock]:
    """The last block whose single envelope is a CONFIG (header type 1) envelope, or None.

    Starts from the LAST_CONFIG index of the tip (what Fabric itself uses) and falls back to a full scan
    when that block is not a config block.
    """
    tip = height(channel_dir)["last_block"]
    candidates = [tip["number"]] if tip["isConfig"] else []
    if tip.get("lastConfig") is not None:
        candidates.append(int(tip["lastConfig"]))
    for number in candidates:
        try:
            blk = find_block(channel_dir, number)
        except KeyError:
            continue
        if len(blk.data) == 1 and envelope_channel_header(blk.data[0])[0] == HEADER_TYPE_CONFIG:
            return blk
    found = None
    for item in iter_blocks(channel_dir, check_data_hash=False):
        if isinstance(item, BlockInfo) and item.is_config:
            found = item
    if found is None:
        return None
    return read_raw(os.path.join(channel_dir, found.file), found.offset, found.size)


class ChainWriter:
    """Appends correctly hash-chained blocks to a channel directory, keeping the tip in memory.

    Rolls over to the next ``blockfile_NNNNNN`` when a block would not fit in ``max_file_size``
    (a block never spans two files). Refuses to write after a partial trailing record.
    """

    def __init__(self, channel_dir: str, max_file_size: int = MAX_FILE_SIZE, style: str = "orderer",
                 fsync: bool = False) -> None:
        self.dir = channel_dir
        self.max_file_size = max_file_size
        self.style = style
        self.fsync = fsync
        os.makedirs(channel_dir, exist_ok=True)
        files = list_blockfiles(channel_dir)
        self.next_number = 0
        self.prev_hash = b""
        self.last_config = 0
        if files:
            info = height(channel_dir)
            if info["partial_tail"]:
                raise PartialTail("%s ends with a partial record (%s): truncate it first"
                                  % (channel_dir, info["partial_tail"]))
            tip = info["last_block"]
            self.next_number = info["height"]
            self.prev_hash = base64.b64decode(info["currentBlockHash"])
            self.last_config = tip["number"] if tip["isConfig"] else (tip["lastConfig"] or 0)
            self.file_index = files[-1][0]
        else:
            self.file_index = 0
        self.path = os.path.join(channel_dir, "%s%06d" % (FILE_PREFIX, self.file_index))
        self.file_size = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def append(self, data_entries: Sequence[bytes], metadata: Optional[Sequence[bytes]] = None) -> BlockInfo:
        number = self.next_number
        is_config = len(data_entries) == 1 and envelope_channel_header(data_entries[0])[0] == HEADER_TYPE_CONFIG
        last_config = number if is_config else self.last_config
        if metadata is None:
            metadata = default_metadata(number, len(data_entries), last_config, self.style)
        record, dh = encode_block(number, self.prev_hash, data_entries, metadata)
        if self.file_size and self.file_size + len(record) > self.max_file_size:
            self.file_index += 1
            self.path = os.path.join(self.dir, "%s%06d" % (FILE_PREFIX, self.file_index))
            self.file_size = 0
        offset = self.file_size
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(record)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.file_size += len(record)
        hh = header_hash(number, self.prev_hash, dh)
        info = BlockInfo(number, hh, self.prev_hash, dh, len(data_entries), len(record), os.path.basename(self.path),
                         offset, HEADER_TYPE_CONFIG if is_config else None, None, last_config,
                         [len(m) for m in metadata], True)
        self.prev_hash = hh
        self.next_number = number + 1
        self.last_config = last_config
        return info

    def append_raw(self, block: RawBlock) -> BlockInfo:
        """Append a real block as it is (e.g. a configtxgen genesis block), keeping its header hash.

        The block must be the next one of this chain: its number, previous hash and data hash (SHA-256 of
        its data entries, Fabric's block data hashing) must fit, otherwise :class:`LedgerError` is raised.
        """
        if block.number != self.next_number:
            raise LedgerError("block %d cannot be appended to %s at height %d" % (block.number, self.dir, self.next_number))
        if bytes(block.previous_hash) != self.prev_hash:
            raise LedgerError("block %d does not chain onto the tip of %s" % (block.number, self.dir))
        if hashlib.sha256(b"".join(block.data)).digest() != bytes(block.data_hash):
            raise LedgerError("block %d: data hash differs from SHA-256 of its data" % block.number)
        return self.append(block.data, block.metadata)


def append_block(channel_dir: str, data_entries: Sequence[bytes], metadata: Optional[Sequence[bytes]] = None,
                 max_file_size: int = MAX_FILE_SIZE, style: str = "orderer") -> BlockInfo:
    """Append one correctly hash-chained block to the chain in ``channel_dir`` (created if missing).

    Reads the tip from the last file (cost independent of chain length). For many blocks in a row use
    :class:`ChainWriter`, which keeps the tip in memory.
    """
    return ChainWriter(channel_dir, max_file_size=max_file_size, style=style).append(data_entries, metadata)


def truncate_partial_tail(channel_dir: str) -> Optional[Dict[str, Any]]:
    """Cut a trailing partial record off the last file, as Fabric does on restart. Returns what was cut."""
    info = height(channel_dir)
    part = info["partial_tail"]
    if not part:
        return None
    path = os.path.join(channel_dir, part["file"])
    with open(path, "r+b") as f:
        f.truncate(part["offset"])
    return part


# -- command line -------------------------------------------------------------------------------------------
def _first_dir(dirs: Sequence[str]) -> str:
    for d in dirs:
        if os.path.isdir(d):
            return d
    raise NoLedger("none of these directories exists: %s" % ", ".join(dirs))


def _human(cmd: str, doc: Dict[str, Any]) -> str:
    if cmd == "height":
        s = "%s: height %d, current %s, previous %s (%d file(s))" % (
            doc["channel"], doc["height"], doc["currentBlockHash"], doc["previousBlockHash"], doc["files"])
    elif cmd == "verify":
        s = "%s: %s, %d blocks, %d bytes, %.1f MB/s" % (
            doc["channel"], "OK" if doc["ok"] else "BROKEN at %s" % doc["first_broken"], doc["blocks"], doc["bytes"],
            doc["mb_per_s"] or 0)
    else:
        s = json.dumps(doc)
    if doc.get("partial_tail"):
        s += "\npartial record at the end: %s" % doc["partial_tail"]
    return s


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    opts: Dict[str, str] = {}
    pos: List[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("--from", "--to") and i + 1 < len(args):
            opts[args[i][2:]] = args[i + 1]
            i += 2
            continue
        pos.append(args[i])
        i += 1
    usage = "usage: blockfile.py height|verify|scan|headers|compare DIR... [--json]"
    if len(pos) < 2:
        sys.stderr.write(usage + "\n")
        return 2
    cmd, rest = pos[0], pos[1:]
    try:
        if cmd == "height":
            doc = height(_first_dir(rest))
        elif cmd == "verify":
            doc = verify(_first_dir(rest))
        elif cmd == "compare" and len(rest) == 2:
            doc = compare(rest[0], rest[1])
        elif cmd == "headers":
            d = _first_dir(rest[:1])
            doc = {"dir": os.path.abspath(d), "headers": {str(k): v for k, v in headers_at(d, [int(x) for x in rest[1:]]).items()}}
        elif cmd == "scan":
            d = _first_dir(rest)
            lo = int(opts.get("from", 0))
            hi = int(opts["to"]) if "to" in opts else None
            out = sys.stdout
            for item in iter_blocks(d):
                if isinstance(item, Partial):
                    out.write(json.dumps({"partial_tail": item.to_dict()}) + "\n")
                    continue
                if item.number < lo:
                    continue
                if hi is not None and item.number > hi:
                    break
                row = item.to_dict()
                row["dataHashOk"] = item.data_hash_ok
                out.write(json.dumps(row) + "\n")
            return 0
        else:
            sys.stderr.write(usage + "\n")
            return 2
    except NoLedger as exc:
        print(json.dumps({"error": str(exc), "kind": "no_ledger"}))
        return 2
    except LedgerError as exc:
        print(json.dumps({"error": str(exc), "kind": "format"}))
        return 3
    print(json.dumps(doc) if as_json or cmd == "headers" else _human(cmd, doc))
    if cmd == "verify" and not doc["ok"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
