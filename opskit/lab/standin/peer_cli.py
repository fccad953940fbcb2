#!/usr/bin/python3
"""A stand-in for the ``peer`` command of a Fabric tools (cli) container, for the opskit lab only (stdlib only).

Installed in the stand-in image as ``/bin/peer`` (a two-line sh wrapper that runs this file), so
``docker exec cli peer chaincode invoke ...`` in the lab behaves like the real CLI as far as opskit can tell:
the same commands and flags, the same output lines, the same exit codes. See docs/lab-standins.md.

Implemented:

* ``peer chaincode invoke -o HOST:PORT -C CH -n CC -c '{"Args":[...]}' [--waitForEvent]``
* ``peer chaincode query -C CH -n CC -c '{"Args":[...]}'``
* ``peer channel getinfo -c CH`` (the peer at ``$CORE_PEER_ADDRESS``)
* ``peer version``

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

import fcntl
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

def parse_flags(argv: list[str]) -> dict[str, list[str] | bool]:
    """Cobra-style flags: ``-o x``, ``--orderer x``, ``--orderer=x``; boolean flags without a value."""
    aliases = {"-o": "orderer", "-C": "channelID", "-c": "ctor", "-n": "name", "-x": "hex", "-r": "raw"}
    booleans = {"tls", "waitForEvent", "hex", "raw", "isInit", "clientauth"}
    out: dict[str, list[str] | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            out.setdefault(key, []).append(value)  # type: ignore[union-attr]
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


def flag(flags: dict, name: str, default: str | None = None) -> str | None:
    value = flags.get(name)
    if isinstance(value, list) and value:
        return value[-1]
    return default


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
        raise CliError(f"unknown command {' '.join(argv[:2])!r} for \"peer\" (opskit lab stand-in: chaincode "
                       "invoke|query, channel getinfo, version)")
    except CliError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
