"""The stdlib reader/writer on real Fabric 2.5 block files, corrupted and truncated copies, and written chains."""

from __future__ import annotations

import ast
import base64
import json
import os
import subprocess
import sys

import pytest

from opskit.ledger import blockfile as bf

from .conftest import LEDGERS, facts_of, getinfo

ORDERER1 = LEDGERS / "orderer1_h43" / "mychannel"
ORDERER3 = LEDGERS / "orderer3_lagging_h35" / "mychannel"
PEER0 = LEDGERS / "peer0.org1_h43" / "mychannel"


@pytest.mark.parametrize("path,phase", [
    (ORDERER1, "phase2_orderer3_down"), (PEER0, "phase3_orderer3_restarted"), (ORDERER3, "phase1_all_up"),
])
def test_height_equals_peer_channel_getinfo(path, phase):
    info = bf.height(str(path))
    want = getinfo(phase)
    assert {k: info[k] for k in ("height", "currentBlockHash", "previousBlockHash")} == want
    assert info["channel"] == "mychannel"
    assert info["partial_tail"] is None
    assert info["files_scanned"] == 1


def test_every_header_hash_and_record_matches_the_derived_facts(facts):
    for name, path in (("orderer1_h43", ORDERER1), ("peer0.org1_h43", PEER0), ("orderer3_lagging_h35", ORDERER3)):
        f = facts_of(facts, name)
        blocks = list(bf.iter_blocks(str(path)))
        assert [b.header_hash.hex() for b in blocks] == f["header_hashes_hex"]
        assert [b.offset for b in blocks] == f["record_offsets"]
        assert [b.size for b in blocks] == f["record_lengths"]
        assert all(b.is_config and b.tx_count == 1 and b.channel_id == "mychannel" and b.data_hash_ok for b in blocks)
        assert blocks[-1].metadata_lens == f["metadata_lengths_last_block"]
    # block 0 is the orderer-made genesis block; its header hash is in MANIFEST
    first = next(bf.iter_blocks(str(ORDERER1)))
    assert first.header_hash.hex() == "b2eb746fef9e4d92f4a48ff72af5cd4e4c59f69058e83ddc3b6a371299a5ffab"
    assert first.previous_hash == b"" and first.last_config is None
    assert list(bf.iter_blocks(str(ORDERER1)))[42].last_config == 42


def test_verify_real_chains():
    for path, n in ((ORDERER1, 43), (PEER0, 43), (ORDERER3, 35)):
        res = bf.verify(str(path))
        assert res["ok"] and res["first_broken"] is None and res["problems"] == 0
        assert res["blocks"] == n == res["height"] and res["config_blocks"] == list(range(n))
        assert res["bytes"] == os.path.getsize(path / "blockfile_000000")


def test_lagging_orderer_is_a_strict_prefix_and_orderer_and_peer_files_agree():
    res = bf.compare(str(ORDERER3), str(ORDERER1))
    assert res["relation"] == "a_prefix_of_b" and res["common_prefix"] == 35 and res["lag"] == 8
    assert res["first_difference"] is None
    # orderer and peer files differ in bytes (signatures, peer metadata) but carry the same chain
    assert (ORDERER1 / "blockfile_000000").read_bytes() != (PEER0 / "blockfile_000000").read_bytes()
    same = bf.compare(str(ORDERER1), str(PEER0))
    assert same["relation"] == "identical" and same["common_prefix"] == 43


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_flipped_byte_in_block_data_is_the_first_broken_block(chain_copy, facts):
    d = chain_copy("orderer1_h43")
    f = facts_of(facts, "orderer1_h43")
    off = f["record_offsets"][20] + f["record_lengths"][20] // 2  # middle of block 20's envelope
    _flip(d / "blockfile_000000", off)
    res = bf.verify(str(d))
    assert not res["ok"]
    assert res["first_broken"]["number"] == 20
    assert "data hash mismatch" in res["first_broken"]["reason"]
    assert res["first_broken"]["offset"] == f["record_offsets"][20]
    assert res["blocks"] == 43  # the rest of the chain is still read and counted
    # header hashes do not cover the data: height still answers, compare still sees the same headers
    assert bf.height(str(d))["height"] == 43


def test_flipped_previous_hash_breaks_the_link(chain_copy, facts):
    d = chain_copy("orderer1_h43")
    f = facts_of(facts, "orderer1_h43")
    rec = f["record_offsets"][30]
    # record: uvarint(len) (3 bytes for ~53 KB) + uvarint(30) + 0x20 + 32 data-hash bytes + 0x20 + previous hash
    _flip(d / "blockfile_000000", rec + 3 + 1 + 1 + 32 + 1 + 5)
    res = bf.verify(str(d))
    assert res["first_broken"]["number"] == 30
    assert "previous hash mismatch" in res["first_broken"]["reason"]
    # the changed header hash of block 30 also breaks block 31's link: two problems
    assert res["problems"] == 2
    cmp = bf.compare(str(d), str(ORDERER1))
    assert cmp["relation"] == "diverged" and cmp["first_difference"] == 30 and cmp["common_prefix"] == 30


def test_truncated_copy_reports_partial_tail(chain_copy, facts):
    d = chain_copy("orderer1_h43")
    f = facts_of(facts, "orderer1_h43")
    cut = f["record_offsets"][42] + 1000  # crash in the middle of writing block 42
    p = d / "blockfile_000000"
    p.write_bytes(p.read_bytes()[:cut])
    info = bf.height(str(d))
    assert info["height"] == 42
    assert info["currentBlockHash"] == "PEyeQcwSPSslBNiS71q6efijiYo/yp7FB+jL+3+MzI8="  # block 41
    assert info["partial_tail"] == {"file": "blockfile_000000", "offset": f["record_offsets"][42], "bytes": 1000,
                                    "expected_bytes": f["record_lengths"][42]}
    res = bf.verify(str(d))
    assert res["ok"] and res["blocks"] == 42 and res["partial_tail"]["offset"] == f["record_offsets"][42]
    # the writer refuses to append after it; truncating (what Fabric does on restart) makes it usable
    with pytest.raises(bf.PartialTail):
        bf.append_block(str(d), [b"x"])
    assert bf.truncate_partial_tail(str(d))["bytes"] == 1000
    assert bf.append_block(str(d), [b"x"]).number == 42


def test_partial_record_inside_the_chain_is_broken(chain_copy, facts):
    d = chain_copy("orderer3_lagging_h35")
    f = facts_of(facts, "orderer3_lagging_h35")
    p = d / "blockfile_000000"
    p.write_bytes(p.read_bytes()[: f["record_offsets"][34] + 10])
    # a later file with a complete record (block 0's, copied): the partial one is now inside the chain
    rec0 = (ORDERER1 / "blockfile_000000").read_bytes()[: f["record_lengths"][0]]
    (d / "blockfile_000001").write_bytes(rec0)
    res = bf.verify(str(d))
    assert not res["ok"]
    assert res["first_broken"]["number"] == 34
    assert "not the last" in res["first_broken"]["reason"]


def test_writer_round_trip_on_the_real_chain(chain_copy):
    d = chain_copy("orderer1_h43")
    envs = [bf.make_envelope("mychannel", b"payload %d" % i, tx_id="tx%d" % i) for i in range(3)]
    infos = [bf.append_block(str(d), envs) for _ in range(4)]
    assert [i.number for i in infos] == [43, 44, 45, 46]
    assert base64.b64encode(infos[0].previous_hash).decode() == "xJAHgP8o7PZs5kyArglCNVKZscRetUHbLLe49QIsFVM="
    res = bf.verify(str(d))
    assert res["ok"] and res["height"] == 47 and res["transactions"] == 43 + 12
    h = bf.height(str(d))
    assert h["height"] == 47 and h["currentBlockHash"] == base64.b64encode(infos[-1].header_hash).decode()
    tip = h["last_block"]
    # metadata laid out like the orderer's: 5 entries, LAST_CONFIG -> the real last config block (42)
    assert len(tip["metadataLens"]) == 5 and tip["metadataLens"][2:] == [0, 0, 0]
    assert tip["lastConfig"] == 42 and not tip["isConfig"] and tip["txCount"] == 3
    # a config envelope makes a config block that later blocks point to
    cfg = bf.append_block(str(d), [bf.make_envelope("mychannel", b"cfg", header_type=bf.HEADER_TYPE_CONFIG)])
    nxt = bf.append_block(str(d), [envs[0]])
    blocks = list(bf.iter_blocks(str(d)))
    assert blocks[cfg.number].is_config and blocks[nxt.number].last_config == cfg.number
    assert bf.compare(str(LEDGERS / "orderer1_h43" / "mychannel"), str(d))["relation"] == "a_prefix_of_b"


def test_writer_peer_style_metadata(chain_copy):
    d = chain_copy("peer0.org1_h43")
    bf.append_block(str(d), [b"a", b"b"], style="peer")
    tip = bf.height(str(d))["last_block"]
    assert tip["metadataLens"][2] == 2 and tip["metadataLens"][4] == 34  # one VALID flag per tx, 34-byte commit hash
    assert bf.verify(str(d))["ok"]


def test_rollover_and_height_reads_only_the_last_file(tmp_path):
    d = tmp_path / "ch"
    w = bf.ChainWriter(str(d), max_file_size=20_000)
    env = bf.make_envelope("ch", b"z" * 3000)
    for _ in range(40):
        w.append([env, env])
    files = bf.list_blockfiles(str(d))
    assert len(files) >= 6
    for _, p in files:
        assert os.path.getsize(p) <= 20_000
    res = bf.verify(str(d))
    assert res["ok"] and res["blocks"] == 40 and res["files"] == len(files)
    want = bf.height(str(d))
    # overwrite every file but the last with garbage: height must not notice (it reads the last file only)
    for _, p in files[:-1]:
        with open(p, "r+b") as f:
            f.write(b"\xff" * 64)
    got = bf.height(str(d))
    assert (got["height"], got["currentBlockHash"], got["files_scanned"]) == (40, want["currentBlockHash"], 1)
    assert not bf.verify(str(d))["ok"]
    # an empty newest file (just rolled over): the height comes from the file before it
    (d / ("blockfile_%06d" % (files[-1][0] + 1))).write_bytes(b"")
    assert bf.height(str(d))["height"] == 40


def test_bisect_compare_finds_the_divergence_with_few_lookups(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    wa, wb = bf.ChainWriter(str(a)), bf.ChainWriter(str(b))
    for i in range(300):
        wa.append([b"same %d" % i])
        wb.append([b"same %d" % i])
    for i in range(50):
        wa.append([b"a %d" % i])
    for i in range(20):
        wb.append([b"b %d" % i])
    calls = []

    def fetch(d):
        def f(ns):
            calls.append(len(ns))
            return bf.headers_at(str(d), ns)
        return f

    res = bf.bisect_compare(350, 320, fetch(a), fetch(b), fanout=16)
    assert res["relation"] == "diverged" and res["first_difference"] == 300 and res["common_prefix"] == 300
    assert len(calls) <= 2 * 4  # 1 tip check + <= 3 rounds of 16 for 320 blocks, per side
    assert bf.compare(str(a), str(b))["first_difference"] == 300
    pre = bf.bisect_compare(35, 43, lambda ns: bf.headers_at(str(ORDERER3), ns),
                            lambda ns: bf.headers_at(str(ORDERER1), ns))
    assert pre["relation"] == "a_prefix_of_b" and pre["common_prefix"] == 35


def test_cli_prints_getinfo_json():
    out = subprocess.run([sys.executable, bf.__file__, "height", "/nonexistent", str(ORDERER1), "--json"],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert {k: doc[k] for k in ("height", "currentBlockHash", "previousBlockHash")} == getinfo("phase3_orderer3_restarted")
    bad = subprocess.run([sys.executable, bf.__file__, "verify", "/nonexistent", "--json"], capture_output=True, text=True)
    assert bad.returncode == 2 and json.loads(bad.stdout)["kind"] == "no_ledger"
    scan = subprocess.run([sys.executable, bf.__file__, "scan", str(ORDERER3), "--from", "33"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert [json.loads(l)["number"] for l in scan] == [33, 34]


def test_blockfile_imports_only_the_standard_library():
    tree = ast.parse(open(bf.__file__).read())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add((node.module or "").split(".")[0])
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}, mods
