"""The tools-container stand-in (`peer` in the cli container) against local orderer and peer stand-ins.

No lab needed: node.py runs as local processes, peer_cli.py as a local command, each with its own state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.health.fabric_metrics import parse_getinfo
from opskit_lab.standin.launch import NODE_PY, get, start_local
from opskit_lab.wait import free_port
from opskit.ledger import blockfile

PEER_CLI = NODE_PY.with_name("peer_cli.py")
INVOKE_OK = re.compile(r"^\x1b\[34m\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC 0001 INFO\x1b\[0m \[chaincodeCmd\] "
                       r"\x1b\[34;1mchaincodeInvokeOrQuery\x1b\[0m -> Chaincode invoke successful\. result: status:200$")


@pytest.fixture
def nodes(tmp_path: Path):  # type: ignore[no-untyped-def]
    listen = free_port()
    orderer = start_local(tmp_path, "orderer1", "orderer", free_port(), args=["--extra-port", str(listen)])
    peer = start_local(tmp_path, "peer0", "peer", free_port())
    try:
        yield orderer, f"127.0.0.1:{listen}", peer
    finally:
        orderer.stop()
        peer.stop()


def peer_cmd(tmp_path: Path, peer_address: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSKIT_STANDIN_CLI_STATE": str(tmp_path / "cli-state"), "CORE_PEER_ADDRESS": peer_address}
    return subprocess.run([sys.executable, str(PEER_CLI), *args], capture_output=True, text=True, env=env, timeout=30)


def test_invoke_query_getinfo_and_both_orderer_faults(nodes, tmp_path: Path) -> None:
    orderer, endpoint, peer = nodes
    ctor = json.dumps({"Args": ["invoke", "a", "b", "10"]})
    query = ["chaincode", "query", "-C", "mychannel", "-n", "mycc", "-c", '{"Args":["query","a"]}']

    def invoke(*extra: str) -> subprocess.CompletedProcess:
        return peer_cmd(tmp_path, peer.target, "chaincode", "invoke", "-o", endpoint, "-C", "mychannel", "-n", "mycc",
                        "-c", ctor, *extra)

    # nothing written yet: the stand-in chaincode answers like chaincode_example02
    res = peer_cmd(tmp_path, peer.target, *query)
    assert res.returncode == 1 and res.stderr.startswith("Error: endorsement failure during query.")
    height0 = orderer.control("advance", blocks=1)["height"]["mychannel"] - 1  # the advance itself adds one

    res = invoke()
    assert res.returncode == 0, res.stderr
    assert INVOKE_OK.match(res.stderr.strip()), res.stderr  # the real CLI's log line, colours included
    assert peer_cmd(tmp_path, peer.target, *query).stdout == "-10\n"
    state = json.loads(get(orderer.url, "/lab/state")[1])
    assert state["tx"] == {"received": 1, "ordered": 1, "refused": 0, "dropped": 0}
    assert state["heights"]["mychannel"] == height0 + 2
    # the block is a real-format block that holds the transaction, hash-chained onto the seed
    chain_dir = str(orderer.ledger_dir("mychannel"))
    assert blockfile.verify(chain_dir)["ok"]
    last = list(blockfile.iter_blocks(chain_dir))[-1]
    assert last.number == height0 + 1 and last.tx_count == 1

    # drop: the orderer says SUCCESS, the CLI says success, the value does not change
    orderer.control("txmode", mode="drop")
    res = invoke()
    assert res.returncode == 0 and "Chaincode invoke successful. result: status:200" in res.stderr
    assert peer_cmd(tmp_path, peer.target, *query).stdout == "-10\n"
    # --waitForEvent sees that it never commits
    res = invoke("--waitForEvent", "--waitForEventTimeout", "1s")
    assert res.returncode == 1 and res.stderr == "Error: timed out waiting for txid on all peers\n"

    # refuse: the broadcast answer is an error, exit 1
    orderer.control("txmode", mode="refuse")
    res = invoke()
    assert res.returncode == 1
    assert res.stderr == ("Error: error sending transaction for invoke: got unexpected status: SERVICE_UNAVAILABLE -- "
                          "lab: this orderer refuses transactions\n")
    state = json.loads(get(orderer.url, "/lab/state")[1])
    assert state["tx"] == {"received": 4, "ordered": 1, "refused": 1, "dropped": 2}
    assert state["heights"]["mychannel"] == height0 + 2

    # an orderer address where nothing listens
    res = peer_cmd(tmp_path, peer.target, "chaincode", "invoke", "-o", f"127.0.0.1:{free_port()}", "-C", "mychannel",
                   "-n", "mycc", "-c", ctor)
    assert res.returncode == 1 and "orderer client failed to connect to 127.0.0.1:" in res.stderr
    assert "connection refused" in res.stderr

    # getinfo: the peer's own ledger, parsed by opskit's getinfo parser, equal to the block files
    res = peer_cmd(tmp_path, peer.target, "channel", "getinfo", "-c", "mychannel")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith('Blockchain info: {"height":') and res.stdout.count("\n") == 1
    info = parse_getinfo(res.stdout)
    files = blockfile.height(str(peer.ledger_dir("mychannel")))
    assert (info.height, info.current_block_hash, info.previous_block_hash) == (
        files["height"], files["currentBlockHash"], files["previousBlockHash"])
    res = peer_cmd(tmp_path, peer.target, "channel", "getinfo", "-c", "nochannel")
    assert res.returncode == 1 and "channel nochannel not found" in res.stderr


def test_chaincode_functions_and_argument_errors(nodes, tmp_path: Path) -> None:
    _, endpoint, peer = nodes

    def run(kind: str, args: list[str]) -> subprocess.CompletedProcess:
        extra = ["-o", endpoint] if kind == "invoke" else []
        return peer_cmd(tmp_path, peer.target, "chaincode", kind, *extra, "-C", "mychannel", "-n", "kv",
                        "-c", json.dumps({"Args": args}))

    assert run("invoke", ["put", "colour", "blue"]).returncode == 0
    assert run("query", ["get", "colour"]).stdout == "blue\n"
    assert run("invoke", ["incr", "n", "5"]).returncode == 0
    assert run("invoke", ["incr", "n"]).returncode == 0
    assert run("query", ["get", "n"]).stdout == "6\n"
    bad = run("invoke", ["frobnicate", "x"])
    assert bad.returncode == 1 and bad.stderr.startswith("Error: endorsement failure during invoke. response: status:500")
    res = peer_cmd(tmp_path, peer.target, "chaincode", "invoke", "-o", endpoint, "-C", "mychannel", "-n", "kv",
                   "-c", '{"Wrong":[]}')
    assert res.returncode == 1 and "must contain the following keys" in res.stderr
    res = peer_cmd(tmp_path, peer.target, "chaincode", "query", "-C", "mychannel", "-c", '{"Args":["get","n"]}')
    assert res.returncode == 1 and "must supply value for chaincode name" in res.stderr
