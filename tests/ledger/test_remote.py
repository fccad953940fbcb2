"""Reading ledgers through the remote engine (LocalSession host) and the ledger.* tasks end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.inventory import load_text
from opskit.ledger import blockfile as bf
from opskit.ledger.remote import (LedgerReadError, compare_targets, map_mount, reader_argv,
                                  resolve_targets)
from opskit.remote.engine import Engine
from tests.conftest import run_inv

from .conftest import LEDGERS, getinfo

INV = """
version: 2
name: ledgertest
hosts:
  box:
    address: 127.0.0.1
    connection: local
nodes:
  orderer1:
    kind: orderer
    host: box
    ledger_path: {root}/o1/production/orderer
  orderer3:
    kind: orderer
    host: box
    ledger_path: {root}/o3/production/orderer
  peer0.org1:
    kind: peer
    host: box
    ledger_path: {root}/p0/production
  couch:
    kind: couchdb
    host: box
channels:
  mychannel:
    orderers: [orderer1, orderer3]
    peers: [peer0.org1]
"""


@pytest.fixture
def fleet(tmp_path):
    """A local-connection inventory whose nodes' ledger_path holds real block files at the real layouts."""
    for src, dst in (("orderer1_h43", "o1/production/orderer/chains/mychannel"),
                     ("orderer3_lagging_h35", "o3/production/orderer/chains/mychannel"),
                     ("peer0.org1_h43", "p0/production/ledgersData/chains/chains/mychannel")):
        shutil.copytree(LEDGERS / src / "mychannel", tmp_path / dst)
        for f in (tmp_path / dst).iterdir():
            f.chmod(0o644)
    text = INV.format(root=tmp_path)
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    inv = load_text(text, str(path))
    with Engine(inv) as engine:
        yield inv, engine, path, tmp_path


def _open(inv, engine, target, channel=None, python=None):
    out = resolve_targets(target, channel, inv, lambda host: engine.session(host))
    if python:
        for lg in out:
            lg.python = python
    return out


def test_height_of_nodes_through_the_shipped_reader(fleet):
    inv, engine, _, root = fleet
    (o1,) = _open(inv, engine, "orderer1")
    (o3,) = _open(inv, engine, "orderer3")
    (p0,) = _open(inv, engine, "peer0.org1")
    for lg, phase in ((o1, "phase2_orderer3_down"), (p0, "phase3_orderer3_restarted"), (o3, "phase1_all_up")):
        doc = lg.height()
        assert {k: doc[k] for k in ("height", "currentBlockHash", "previousBlockHash")} == getinfo(phase)
        assert doc["mode"] == "reader" and doc["found_by"] == "ledger_path" and doc["channel"] == "mychannel"
    assert o1.height()["dir"] == str(root / "o1/production/orderer/chains/mychannel")
    assert p0.height()["dir"] == str(root / "p0/production/ledgersData/chains/chains/mychannel")


def test_reader_ships_as_a_command_argument_not_stdin():
    argv = reader_argv("height", "/x")
    assert argv[:2] == ["python3", "-c"] and argv[3:] == ["height", "/x", "--json"]
    assert len(argv[2]) < 20_000  # compressed source: a modest command line
    out = subprocess.run([sys.executable, "-c", argv[2], "height", str(LEDGERS / "orderer1_h43" / "mychannel"), "--json"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL).stdout
    assert json.loads(out)["height"] == 43


def test_verify_and_compare_nodes(fleet):
    inv, engine, _, root = fleet
    (o1,) = _open(inv, engine, "orderer1")
    (o3,) = _open(inv, engine, "orderer3")
    v = o1.verify()
    assert v["ok"] and v["blocks"] == 43 and v["host"] == "box" and v["node"] == "orderer1"
    res = compare_targets(o3, o1)
    assert res["relation"] == "a_prefix_of_b" and res["common_prefix"] == 35 and res["lag"] == 8
    assert res["method"] == "bisect" and res["a"]["node"] == "orderer3"
    # make orderer3 diverge: cut its chain to 20 blocks and write different blocks after them
    d3 = root / "o3/production/orderer/chains/mychannel"
    size = sum(b.size for b in list(bf.iter_blocks(str(d3)))[:20])
    p = d3 / "blockfile_000000"
    p.write_bytes(p.read_bytes()[:size])
    for i in range(10):
        bf.append_block(str(d3), [bf.make_envelope("mychannel", b"fork %d" % i)])
    (o3,) = _open(inv, engine, "orderer3")
    res = compare_targets(o1, o3)
    assert res["relation"] == "diverged" and res["first_difference"] == 20 and res["height_b"] == 30


def test_fallback_copies_files_when_the_host_has_no_python(fleet):
    inv, engine, _, _ = fleet
    (o1,) = _open(inv, engine, "orderer1", python="python3-not-installed")
    (o3,) = _open(inv, engine, "orderer3", python="python3-not-installed")
    try:
        doc = o1.height()
        assert doc["mode"] == "copy" and doc["height"] == 43
        assert doc["currentBlockHash"] == getinfo("phase2_orderer3_down")["currentBlockHash"]
        assert o1.copied_bytes == (LEDGERS / "orderer1_h43/mychannel/blockfile_000000").stat().st_size
        assert o1.verify()["ok"]
        res = compare_targets(o3, o1)
        assert res["relation"] == "a_prefix_of_b" and res["common_prefix"] == 35
    finally:
        o1.cleanup()
        o3.cleanup()


def test_target_errors(fleet):
    inv, engine, _, _ = fleet
    with pytest.raises(LedgerReadError, match="only peers and orderers"):
        _open(inv, engine, "couch")
    with pytest.raises(LedgerReadError, match="neither a local directory nor a node"):
        _open(inv, engine, "nosuchnode")
    (lg,) = _open(inv, engine, "orderer1", channel="otherchannel")
    with pytest.raises(LedgerReadError, match="none of these directories exists"):
        lg.height()


def test_map_mount_picks_the_longest_destination():
    mounts = [
        {"Type": "volume", "Name": "o1", "Source": "/var/lib/docker/volumes/o1/_data",
         "Destination": "/var/hyperledger/production"},
        {"Type": "bind", "Source": "/data/orderer1", "Destination": "/var/hyperledger/production/orderer"},
        {"Type": "bind", "Source": "/etc/hyperledger/msp", "Destination": "/etc/hyperledger/fabric/msp"},
    ]
    assert map_mount(mounts, "/var/hyperledger/production/orderer/chains/mychannel") == "/data/orderer1/chains/mychannel"
    assert map_mount(mounts, "/var/hyperledger/production/ledgersData/chains/chains/ch") == \
        "/var/lib/docker/volumes/o1/_data/ledgersData/chains/chains/ch"
    assert map_mount(mounts, "/var/hyperledger/productionX") is None


REPO = Path(__file__).resolve().parents[2]


def test_tasks_end_to_end(fleet):
    _, _, inv_path, _ = fleet
    r = run_inv("ledger.height", "orderer3", "--json", "--inventory", str(inv_path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {k: doc[k] for k in ("channel", "height", "currentBlockHash", "previousBlockHash")} == \
        {"channel": "mychannel", **getinfo("phase1_all_up")}
    r = run_inv("ledger.compare", "orderer3", "orderer1", "--inventory", str(inv_path), "--json")
    assert r.returncode == 1, r.stderr  # 8 blocks behind: warning (lag_warning_blocks 5)
    res = json.loads(r.stdout)["results"][0]
    assert res["data"]["relation"] == "a_prefix_of_b" and "strict prefix" in res["message"]
    r = run_inv("ledger.verify", str(LEDGERS / "peer0.org1_h43"), "--channel", "mychannel", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["data"]["blocks"] == 43


def test_verify_task_exit_code_on_a_corrupted_copy(tmp_path):
    d = tmp_path / "mychannel"
    shutil.copytree(LEDGERS / "orderer1_h43" / "mychannel", d)
    p = d / "blockfile_000000"
    p.chmod(0o644)
    data = bytearray(p.read_bytes())
    data[500_000] ^= 0xFF
    p.write_bytes(bytes(data))
    r = run_inv("ledger.verify", str(d), "--json")
    assert r.returncode == 2
    res = json.loads(r.stdout)["results"][0]
    assert res["severity"] == "critical" and res["data"]["first_broken"]["number"] == 9  # byte 500000 is in block 9
