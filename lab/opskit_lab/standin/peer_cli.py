#!/usr/bin/python3
"""A stand-in for the ``peer`` command of a Fabric tools (cli) container, for the opskit lab only (stdlib only).

Installed in the stand-in image as ``/bin/peer`` (a two-line sh wrapper that runs this file), so
``docker exec cli peer chaincode invoke ...`` in the lab behaves like the real CLI as far as opskit can tell:
the same commands and flags, the same output lines, the same exit codes. See docs/lab-standins.md.

Implemented:

* ``peer chaincode invoke -o HOST:PORT -C CH -n CC -c '{"Args":[...]}' [--waitForEvent]``
* ``peer chaincode query -C CH -n CC -c '{"Args":[...]}'``
* ``peer channel getinfo -c CH`` (the peer at ``$CORE_PEER_ADDRESS``)
* ``peer channel fetch <config|newest|oldest|N> [OUTFILE] -o HOST:PORT -c CH [--tls --cafile F]``
* ``peer channel signconfigtx -f FILE``
* ``peer channel update -f FILE -c CH -o HOST:PORT [--tls --cafile F]``
* ``peer version``

Channel commands use the local MSP like the real CLI: ``$CORE_PEER_LOCALMSPID`` and the first certificate in
``$CORE_PEER_MSPCONFIGPATH/signcerts/`` make the identity (``msp.SerializedIdentity{mspid, id_bytes=PEM}``).
``fetch`` sends it to the orderer stand-in (``GET /lab/block``, header ``X-Opskit-Creator``), which applies the
channel's Readers policy. ``signconfigtx`` and ``update`` add a ``ConfigSignature`` exactly where the real CLI
does (Fabric's ``sanityCheckAndSignConfigTx``) but the signature bytes are a SHA-256 digest, not ECDSA: the stand-in
orderers count signatures by MSP id and never verify them (see opskit/orderer/rules.py). ``update`` POSTs the
envelope to the orderer's ``/lab/broadcast``. signconfigtx/update need ``fabric_protos`` (mounted by the lab at
``/opt/pylib``); TLS flags are accepted and ignored (the stand-ins speak plain HTTP).

How a transaction travels (the honest, simple model):

1. *Endorsement*: this program plays the chaincode on the channel's world state, which it keeps in a JSON
   file (``$OPSKIT_STANDIN_CLI_STATE``, default ``/var/hyperledger/cli-state``): the state the peers would
   hold. The result is a write set.
2. *Ordering*: the transaction (id, chaincode, args, write set) is POSTed to the orderer named by ``-o``
   (``/lab/tx`` of the orderer stand-in, on its listen port). The orderer answers with a Fabric broadcast
   status (SUCCESS, SERVICE_UNAVAILABLE, ...) and, when it orders it, writes one real-format block holding it.
3. *Commit*: like a peer that receives blocks from the orderer, the write set is applied to the world state
   only if the orderer really put the transaction into a block (``GET /lab/tx?txid=``). An orderer that
   acknowledges but drops the transaction (fault ``/lab/txmode?mode=drop``) therefore gives exactly what a
   broken fleet gives: "Chaincode invoke successful" and a query that shows the old value.

Chaincode semantics (any chaincode name): ``invoke|move|transfer A B X`` moves X from A to B (integers,
missing keys count as 0), ``put|set|write K V`` sets K, ``add|incr|increment K [N]`` adds N (default 1),
``query|get|read K`` returns K (read-only). Anything else fails endorsement with status 500.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

STATE_DIR = os.environ.get("OPSKIT_STANDIN_CLI_STATE", "/var/hyperledger/cli-state")
HTTP_TIMEOUT = float(os.environ.get("OPSKIT_STANDIN_CLI_TIMEOUT", "10"))
VERSION = "2.5.12"
_seq = 0


class CliError(Exception):
    """Ends the command with ``Error: <message>`` on stderr and exit code 1 (cobra's behaviour)."""


# ------------------------------------------------------------------ output like the real CLI

def log(module: str, func: str, msg: str, level: str = "INFO") -> None:
    """A CLI log line on stderr, in the format (and colours) of the real peer CLI's default logging."""
    global _seq
    _seq += 1
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + ".%03d UTC" % int((now % 1) * 1000)
    colour = {"INFO": "34", "WARN": "33", "ERRO": "31"}.get(level, "34")
    sys.stderr.write(f"\x1b[{colour}m{stamp} {_seq:04x} {level}\x1b[0m [{module}] \x1b[{colour};1m{func}\x1b[0m -> {msg}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ arguments

def _parse(argv: list[str], aliases: dict[str, str], booleans: set[str],
           positional: list[str] | None) -> dict[str, list[str] | bool]:
    """Cobra-style flags: ``-o x``, ``--orderer x``, ``--orderer=x``; boolean flags without a value.
    Positional arguments go to ``positional``; where it is None they are an error (as for ``peer chaincode``)."""
    out: dict[str, list[str] | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            out.setdefault(key, []).append(value)  # type: ignore[union-attr]
            i += 1
            continue
        if positional is not None and not arg.startswith("-"):
            positional.append(arg)
            i += 1
            continue
        key = aliases.get(arg) or (arg[2:] if arg.startswith("--") else None)
        if key is None:
            raise CliError(f"unknown shorthand flag or argument {arg!r}")
        if key in booleans:
            out[key] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise CliError(f"flag needs an argument: {arg}")
        out.setdefault(key, []).append(argv[i + 1])  # type: ignore[union-attr]
        i += 2
    return out


def parse_flags(argv: list[str]) -> dict[str, list[str] | bool]:
    """Flags of ``peer chaincode ...`` (no positional arguments)."""
    return _parse(argv, {"-o": "orderer", "-C": "channelID", "-c": "ctor", "-n": "name", "-x": "hex", "-r": "raw"},
                  {"tls", "waitForEvent", "hex", "raw", "isInit", "clientauth"}, None)


def flag(flags: dict, name: str, default: str | None = None) -> str | None:
    value = flags.get(name)
    if isinstance(value, list) and value:
        return value[-1]
    return default


#: flags of ``peer channel ...`` (shorthands differ from chaincode: ``-c`` is the channel there)
CHANNEL_ALIASES = {"-o": "orderer", "-c": "channelID", "-f": "file", "-t": "timeout"}
CHANNEL_BOOLEANS = {"tls", "clientauth", "bestEffort"}


def parse_channel_args(argv: list[str]) -> tuple[dict[str, list[str] | bool], list[str]]:
    """Flags and positional arguments of a ``peer channel`` sub-command."""
    positional: list[str] = []
    return _parse(argv, CHANNEL_ALIASES, CHANNEL_BOOLEANS, positional), positional


def ctor_args(ctor: str | None) -> list[str]:
    """``{"Args":[...]}`` or ``{"Function":f,"Args":[...]}`` as the real CLI reads it."""
    if not ctor:
        raise CliError("empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'")
    try:
        doc = json.loads(ctor)
    except ValueError as exc:
        raise CliError(f"chaincode argument error: {exc}") from None
    if not isinstance(doc, dict):
        raise CliError("chaincode argument error: not a JSON object")
    keys = {k.lower(): v for k, v in doc.items()}
    if "args" not in keys or len(doc) > 2 or (len(doc) == 2 and "function" not in keys):
        raise CliError("non-empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'")
    args = [str(a) for a in keys.get("args") or []]
    if keys.get("function"):
        args.insert(0, str(keys["function"]))
    return args


def _duration(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(ms|s|m)?", text.strip())
    if not m:
        raise CliError(f"invalid duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


# ------------------------------------------------------------------ world state (what the peers hold)

class WorldState:
    """The channel's key/value state for one chaincode, in a JSON file guarded by flock."""

    def __init__(self, channel: str, chaincode: str) -> None:
        os.makedirs(STATE_DIR, exist_ok=True)
        self.path = os.path.join(STATE_DIR, f"{channel}.{chaincode}.json")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        raw = os.pread(self.fd, 16 * 1024 * 1024, 0)
        try:
            self.doc = json.loads(raw) if raw else {}
        except ValueError:
            self.doc = {}
        self.doc.setdefault("keys", {})
        self.doc.setdefault("committed", 0)

    def get(self, key: str) -> str | None:
        return self.doc["keys"].get(key)

    def commit(self, writes: dict[str, str]) -> None:
        self.doc["keys"].update(writes)
        self.doc["committed"] += 1
        data = json.dumps(self.doc, sort_keys=True).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)  # releases the flock


def _int(state: WorldState, key: str) -> int:
    value = state.get(key)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        raise CliError(f'endorsement failure during invoke. response: status:500 message:"{key} is not an integer"') from None


def simulate(state: WorldState, args: list[str], what: str) -> tuple[dict[str, str], str]:
    """Run the stand-in chaincode: (write set, response payload)."""
    if not args:
        raise CliError(f'endorsement failure during {what}. response: status:500 message:"no function given"')
    fn, rest = args[0], args[1:]

    def bad(msg: str) -> CliError:
        return CliError(f'endorsement failure during {what}. response: status:500 message:"{msg}"')

    if fn in ("invoke", "move", "transfer"):
        if len(rest) != 3:
            raise bad("Incorrect number of arguments. Expecting 3")
        try:
            amount = int(rest[2])
        except ValueError:
            raise bad("Invalid transaction amount, expecting a integer value") from None
        a, b = _int(state, rest[0]), _int(state, rest[1])
        return {rest[0]: str(a - amount), rest[1]: str(b + amount)}, ""
    if fn in ("put", "set", "write"):
        if len(rest) != 2:
            raise bad("Incorrect number of arguments. Expecting 2")
        return {rest[0]: rest[1]}, ""
    if fn in ("add", "incr", "increment"):
        if len(rest) not in (1, 2):
            raise bad("Incorrect number of arguments. Expecting 1 or 2")
        try:
            step = int(rest[1]) if len(rest) == 2 else 1
        except ValueError:
            raise bad("Invalid increment, expecting a integer value") from None
        return {rest[0]: str(_int(state, rest[0]) + step)}, ""
    if fn in ("query", "get", "read"):
        if len(rest) != 1:
            raise bad("Incorrect number of arguments. Expecting name of the person to query")
        value = state.get(rest[0])
        if value is None:
            raise bad(f"Nil amount for {rest[0]}")
        return {}, value
    raise bad(f"Invalid invoke function name {fn!r}")


# ------------------------------------------------------------------ talking to the stand-in nodes

def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


def _dial_error(kind: str, address: str, exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    text = getattr(reason, "strerror", None) or str(reason)
    if "refused" in text.lower():
        text = "connect: connection refused"
    elif "timed out" in text.lower():
        text = "i/o timeout"
    return (f'{kind} client failed to connect to {address}: failed to create new connection: connection error: '
            f'desc = "transport: error while dialing: dial tcp {address}: {text}"')


# ------------------------------------------------------------------ commands

def chaincode_invoke(flags: dict) -> int:
    orderer = flag(flags, "orderer")
    channel = flag(flags, "channelID")
    name = flag(flags, "name")
    if not name:
        raise CliError("must supply value for chaincode name parameter")
    if not channel:
        raise CliError("The required parameter 'channelID' is empty. Rerun the command with -C flag")
    args = ctor_args(flag(flags, "ctor"))
    if not orderer:
        raise CliError("error getting broadcast client: orderer client failed to connect: no orderer address (-o) given")
    txid = uuid.uuid4().hex + uuid.uuid4().hex
    state = WorldState(channel, name)
    try:
        writes, _ = simulate(state, args, "invoke")
        body = json.dumps({"txid": txid, "channel": channel, "chaincode": name, "args": args,
                           "writes": writes}).encode()
        base = f"http://{orderer}"
        try:
            code, answer = _http("POST", f"{base}/lab/tx?channel={urllib.parse.quote(channel)}", body)
        except (OSError, ValueError) as exc:
            raise CliError("error getting broadcast client: " + _dial_error("orderer", orderer, exc)) from None
        status = answer.get("status") or f"HTTP_{code}"
        if status != "SUCCESS":
            raise CliError(f"error sending transaction for invoke: got unexpected status: {status} -- "
                           f"{answer.get('info', '')}")
        # the peers commit what the orderer delivers: only a transaction that is in a block changes the state
        wait = bool(flags.get("waitForEvent"))
        deadline = time.monotonic() + (_duration(flag(flags, "waitForEventTimeout", "30s") or "30s") if wait else 0)
        while True:
            try:
                _, found = _http("GET", f"{base}/lab/tx?channel={urllib.parse.quote(channel)}&txid={txid}")
            except (OSError, ValueError):
                found = {}
            if found.get("found"):
                state.commit(writes)
                if wait:
                    log("chaincodeCmd", "ClientWait",
                        f"txid [{txid}] committed with status (VALID) at {os.environ.get('CORE_PEER_ADDRESS', 'peer')}")
                break
            if time.monotonic() >= deadline:
                if wait:
                    raise CliError("timed out waiting for txid on all peers")
                break
            time.sleep(0.2)  # polling interval of --waitForEvent, bounded by its timeout
    finally:
        state.close()
    log("chaincodeCmd", "chaincodeInvokeOrQuery", "Chaincode invoke successful. result: status:200")
    return 0


def chaincode_query(flags: dict) -> int:
    channel = flag(flags, "channelID")
    name = flag(flags, "name")
    if not name:
        raise CliError("must supply value for chaincode name parameter")
    if not channel:
        raise CliError("The required parameter 'channelID' is empty. Rerun the command with -C flag")
    args = ctor_args(flag(flags, "ctor"))
    state = WorldState(channel, name)
    try:
        writes, payload = simulate(state, args, "query")
    finally:
        state.close()
    if flags.get("hex"):
        print(payload.encode().hex())
    else:
        print(payload)
    return 0


def channel_getinfo(flags: dict) -> int:
    channel = flag(flags, "channelID")
    if not channel:
        raise CliError("The required parameter 'channelID' is empty. Rerun the command with -c flag")
    address = os.environ.get("CORE_PEER_ADDRESS") or flag(flags, "peerAddresses")
    if not address:
        raise CliError("error getting endorser client for channel: endorser client failed to connect: "
                       "CORE_PEER_ADDRESS is not set")
    try:
        code, info = _http("GET", f"http://{address}/lab/getinfo?channel={urllib.parse.quote(channel)}")
    except (OSError, ValueError) as exc:
        raise CliError("error getting endorser client for channel: " + _dial_error("endorser", address, exc)) from None
    log("channelCmd", "InitCmdFactory", "Endorser and orderer connections initialized")
    if code != 200:
        raise CliError(f"received bad response, status 500: {info.get('error', 'GetChainInfo failed')}")
    print("Blockchain info: " + json.dumps({"height": info["height"], "currentBlockHash": info["currentBlockHash"],
                                            "previousBlockHash": info["previousBlockHash"]},
                                           separators=(",", ":")))
    return 0


# ------------------------------------------------------------------ the local MSP (identity)

def _pb_bytes(fno: int, value: bytes) -> bytes:
    out, n = bytearray([(fno << 3) | 2]), len(value)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + value


def local_identity() -> tuple[str, bytes]:
    """(MSP id, signing certificate PEM) of the local MSP, as the real CLI loads it (or a CliError)."""
    mspdir = os.environ.get("CORE_PEER_MSPCONFIGPATH", "")
    if not mspdir:
        raise CliError("cannot init crypto: CORE_PEER_MSPCONFIGPATH is not set")
    if not os.path.isdir(mspdir):
        raise CliError(f'cannot init crypto, specified path "{mspdir}" does not exist or cannot be accessed: '
                       f"stat {mspdir}: no such file or directory")
    signcerts = os.path.join(mspdir, "signcerts")
    names = sorted(os.listdir(signcerts)) if os.path.isdir(signcerts) else []
    for name in names:
        try:
            with open(os.path.join(signcerts, name), "rb") as fh:
                text = fh.read()
        except OSError:
            continue
        m = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", text, re.S)
        if m:
            pem = m.group(0) if m.group(0).endswith(b"\n") else m.group(0) + b"\n"
            break
    else:
        raise CliError(f"error when setting up MSP of type bccsp from directory {mspdir}: could not load a valid "
                       f"signer certificate from directory {signcerts}: no PEM certificate found")
    mspid = os.environ.get("CORE_PEER_LOCALMSPID", "")
    if not mspid:
        raise CliError("error when setting up MSP from directory " + mspdir + ": CORE_PEER_LOCALMSPID is not set")
    return mspid, pem


def serialized_identity(mspid: str, pem: bytes) -> bytes:
    """``msp.SerializedIdentity{mspid, id_bytes}`` in protobuf encoding (stdlib: two length-delimited fields)."""
    return _pb_bytes(1, mspid.encode()) + _pb_bytes(2, pem)


def _protos():
    try:
        from fabric_protos.common import common_pb2, configtx_pb2  # noqa: PLC0415 - optional, mounted by the lab
        from google.protobuf.message import DecodeError  # noqa: PLC0415
    except Exception as exc:
        raise CliError(f"this stand-in command needs fabric_protos (the lab mounts them at /opt/pylib): {exc}") from None
    return common_pb2, configtx_pb2, DecodeError


def _sign(creator: bytes, data: bytes) -> bytes:
    """Stand-in signature: SHA-256 over what the real CLI signs (the stand-in orderers never verify signatures)."""
    return hashlib.sha256(creator + data).digest()


def sanity_check_and_sign(data: bytes, channel: str, creator: bytes) -> bytes:
    """Fabric's ``sanityCheckAndSignConfigTx``: check the CONFIG_UPDATE envelope, add this identity's
    ConfigSignature and return a new envelope signed by this identity (``CreateSignedEnvelope``)."""
    common_pb2, configtx_pb2, DecodeError = _protos()
    try:
        env = common_pb2.Envelope()
        env.ParseFromString(data)
    except DecodeError:
        raise CliError("bad envelope") from None
    payload = common_pb2.Payload()
    try:
        payload.ParseFromString(env.payload)
    except DecodeError:
        raise CliError("bad payload") from None
    if not payload.HasField("header") or not payload.header.channel_header:
        raise CliError("bad header")
    chdr = common_pb2.ChannelHeader()
    try:
        chdr.ParseFromString(payload.header.channel_header)
    except DecodeError:
        raise CliError("could not unmarshall channel header") from None
    if chdr.type != common_pb2.CONFIG_UPDATE:
        raise CliError("bad type")
    if not chdr.channel_id:
        raise CliError("empty channel id")
    channel = channel or chdr.channel_id
    if chdr.channel_id != channel:
        raise CliError(f"mismatched channel ID {chdr.channel_id} != {channel}")
    cue = configtx_pb2.ConfigUpdateEnvelope()
    try:
        cue.ParseFromString(payload.data)
    except DecodeError:
        raise CliError("Bad config update env") from None
    sig_header = common_pb2.SignatureHeader(creator=creator, nonce=os.urandom(24)).SerializeToString()
    cue.signatures.add(signature_header=sig_header, signature=_sign(sig_header, cue.config_update))
    now = time.time()
    new_chdr = common_pb2.ChannelHeader(type=common_pb2.CONFIG_UPDATE, channel_id=channel)
    new_chdr.timestamp.seconds, new_chdr.timestamp.nanos = int(now), int((now % 1) * 1e9)
    out_payload = common_pb2.Payload(data=cue.SerializeToString())
    out_payload.header.channel_header = new_chdr.SerializeToString()
    out_payload.header.signature_header = common_pb2.SignatureHeader(
        creator=creator, nonce=os.urandom(24)).SerializeToString()
    body = out_payload.SerializeToString()
    return common_pb2.Envelope(payload=body, signature=_sign(creator, body)).SerializeToString()


def _read_tx_file(flags: dict) -> tuple[str, bytes]:
    path = flag(flags, "file")
    if not path:
        raise CliError("Invalid channel create transaction : No configtx file name supplied")
    try:
        with open(path, "rb") as fh:
            return path, fh.read()
    except OSError as exc:
        raise CliError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None


# ------------------------------------------------------------------ channel commands

def channel_fetch(flags: dict, positional: list[str]) -> int:
    if not positional:
        raise CliError("fetch target required, oldest, newest, config, or a number")
    if len(positional) > 2:
        raise CliError("trailing args detected")
    which = positional[0]
    if which not in ("oldest", "newest", "config") and not which.isdigit():
        raise CliError(f"fetch target illegal: {which}")
    channel = flag(flags, "channelID")
    if not channel:
        raise CliError("the required parameter 'channelID' is empty. Rerun the command with -c flag")
    mspid, pem = local_identity()
    orderer = flag(flags, "orderer")
    address = orderer or os.environ.get("CORE_PEER_ADDRESS", "")
    if not address:
        raise CliError("failed to create deliver client for peer: CORE_PEER_ADDRESS is not set and no orderer (-o) given")
    kind = "orderer" if orderer else "peer"
    url = f"http://{address}/lab/block?channel={urllib.parse.quote(channel)}&which={which}"
    req = urllib.request.Request(url, headers={
        "X-Opskit-Creator": base64.b64encode(serialized_identity(mspid, pem)).decode()})
    log("channelCmd", "InitCmdFactory", "Endorser and orderer connections initialized")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            block, headers = resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        try:
            status = json.loads(exc.read() or b"{}").get("status") or f"HTTP_{exc.code}"
        except ValueError:
            status = f"HTTP_{exc.code}"
        raise CliError(f"can't read the block: &{{{status}}}") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"failed to create deliver client for {kind}: " + _dial_error(kind, address, exc)) from None
    number = int(headers.get("X-Opskit-Block", "0"))
    if which == "config":
        newest = int(headers.get("X-Opskit-Height", str(number + 1))) - 1
        log("cli.common", "readBlock", f"Received block: {newest}")
        log("channelCmd", "fetch", f"Retrieving last config block: {number}")
    log("cli.common", "readBlock", f"Received block: {number}")
    _write(positional[1] if len(positional) > 1 else f"{channel}_{which}.block", block)
    return 0


def _write(path: str, data: bytes) -> None:
    """Write an output file; an error reads as the peer CLI's ("open PATH: permission denied")."""
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise CliError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None


def channel_signconfigtx(flags: dict) -> int:
    mspid, pem = local_identity()
    path, data = _read_tx_file(flags)
    log("channelCmd", "InitCmdFactory", "Endorser and orderer connections initialized")
    _write(path, sanity_check_and_sign(data, flag(flags, "channelID") or "", serialized_identity(mspid, pem)))
    return 0


def channel_update(flags: dict) -> int:
    channel = flag(flags, "channelID")
    if not channel:
        raise CliError("Must supply channel ID")
    mspid, pem = local_identity()
    orderer = flag(flags, "orderer")
    if not orderer:
        raise CliError("error getting broadcast client: orderer client failed to connect: no orderer address (-o) given")
    _, data = _read_tx_file(flags)
    log("channelCmd", "InitCmdFactory", "Endorser and orderer connections initialized")
    envelope = sanity_check_and_sign(data, channel, serialized_identity(mspid, pem))
    req = urllib.request.Request(f"http://{orderer}/lab/broadcast?channel={urllib.parse.quote(channel)}",
                                 data=envelope, method="POST", headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            answer = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read() or b"{}")
        except ValueError:
            answer = {"status": f"HTTP_{exc.code}"}
    except (OSError, ValueError) as exc:
        raise CliError("error getting broadcast client: " + _dial_error("orderer", orderer, exc)) from None
    status = answer.get("status") or "UNKNOWN"
    if status != "SUCCESS":
        raise CliError(f"got unexpected status: {status} -- {answer.get('info', '')}")
    log("channelCmd", "update", "Successfully submitted channel update")
    return 0


def version() -> int:
    print(f"peer:\n Version: {VERSION}\n Commit SHA: af0b647\n Go version: go1.23.5\n OS/Arch: linux/amd64\n"
          " Chaincode:\n  Base Docker Label: org.hyperledger.fabric\n  Docker Namespace: hyperledger\n"
          " (opskit lab stand-in)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["version"]:
            return version()
        if argv[:2] == ["chaincode", "invoke"]:
            return chaincode_invoke(parse_flags(argv[2:]))
        if argv[:2] == ["chaincode", "query"]:
            return chaincode_query(parse_flags(argv[2:]))
        if argv[:2] == ["channel", "getinfo"]:
            flags = parse_flags([("--channelID" if a == "-c" else a) for a in argv[2:]])
            return channel_getinfo(flags)
        if argv[:2] == ["channel", "fetch"]:
            return channel_fetch(*parse_channel_args(argv[2:]))
        if argv[:2] == ["channel", "signconfigtx"]:
            flags, extra = parse_channel_args(argv[2:])
            if extra:
                raise CliError("trailing args detected")
            return channel_signconfigtx(flags)
        if argv[:2] == ["channel", "update"]:
            flags, extra = parse_channel_args(argv[2:])
            if extra:
                raise CliError("trailing args detected")
            return channel_update(flags)
        raise CliError(f"unknown command {' '.join(argv[:2])!r} for \"peer\" (opskit lab stand-in: chaincode "
                       "invoke|query, channel getinfo|fetch|signconfigtx|update, version)")
    except CliError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
