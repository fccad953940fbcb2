"""Channel participation without a lab: osnadmin output parsing (texts as real 2.5.12 osnadmin prints them), the
quorum arithmetic of leave, and the exit-3 refusals that happen before any host is contacted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opskit.inventory import load_inventory
from opskit.orderer.participation import (
    AdminEndpoint,
    ChannelInfo,
    OrdererChannels,
    leave_check,
    osnadmin_answer,
    parse_channel_info,
    parse_channel_list,
    parse_listing,
    quorum,
    read_block_file,
)
from tests.orderer.conftest import KAFKA_GENESIS, MYCHANNEL_BLOCK0

ROOT = Path(__file__).resolve().parents[2]

LIST = """Status: 200
{
\t"systemChannel": null,
\t"channels": [
\t\t{
\t\t\t"name": "mychannel",
\t\t\t"url": "/participation/v1/channels/mychannel"
\t\t}
\t]
}
"""
DETAIL = """Status: 200
{
\t"name": "mychannel",
\t"url": "/participation/v1/channels/mychannel",
\t"consensusRelation": "consenter",
\t"status": "active",
\t"height": 7
}
"""
MISSING = """Status: 404
{
\t"error": "channel does not exist"
}
"""


def _ep(name: str) -> AdminEndpoint:
    return AdminEndpoint(name, "vm", f"{name}:7053", "/ca", "/cert", "/key")


def test_parse_osnadmin_answers():
    assert parse_channel_list(LIST) == ["mychannel"]
    assert parse_channel_list("Status: 200\n{\"systemChannel\": null, \"channels\": null}") == []
    assert parse_channel_list("Error: connection refused") is None
    assert parse_channel_info("o1", DETAIL) == ChannelInfo("o1", "mychannel", "active", "consenter", 7)
    assert parse_channel_info("o1", MISSING) is None
    assert osnadmin_answer(MISSING) == (404, {"error": "channel does not exist"})


def test_parse_listing_of_several_orderers():
    out = "\n".join(["@@list o1", LIST, "@@rc 0", "@@chan o1 mychannel", DETAIL, "@@rc 0",
                     "@@list o2", "Status: 200\n{\"systemChannel\": null, \"channels\": []}", "@@rc 0",
                     "@@list o3", "Error: failed to connect: connection refused", "@@rc 1", "@@end"])
    got = parse_listing(out, [_ep("o1"), _ep("o2"), _ep("o3"), _ep("o4")])
    assert got["o1"].error is None and got["o1"].channels["mychannel"].height == 7
    assert got["o2"].error is None and got["o2"].channels == {}
    assert "connection refused" in (got["o3"].error or "")
    assert got["o4"].error == "no answer"      # an orderer the command never reached is not shown as empty
    # asking for one channel: a 404 means "not joined", not an error
    only = "\n".join(["@@list o1", LIST, "@@rc 0", "@@chan o1 other", MISSING, "@@rc 0", "@@end"])
    assert parse_listing(only, [_ep("o1")], "other")["o1"].error is None


def _inv(tmp_path: Path):
    text = (ROOT / "tests" / "fixtures" / "inventories" / "participation.yaml").read_text()
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return load_inventory(path), path


def _listing(active: dict[str, bool]) -> dict[str, OrdererChannels]:
    out = {}
    for name, on in active.items():
        oc = OrdererChannels(name, "vm")
        if on:
            oc.channels["mychannel"] = ChannelInfo(name, "mychannel", "active", "consenter", 5)
        out[name] = oc
    return out


def test_quorum_guard_arithmetic(tmp_path):
    inv, _ = _inv(tmp_path)
    consenters = ["orderer1.example.com:7050", "orderer2.example.com:7050", "orderer3.example.com:7050"]
    assert [quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    first = leave_check(inv, "mychannel", "orderer3", _listing({"orderer1": True, "orderer2": True, "orderer3": True}),
                        consenters)
    assert first.ok and first.active_after == ["orderer1", "orderer2"] and first.needed == 2
    second = leave_check(inv, "mychannel", "orderer2", _listing({"orderer1": True, "orderer2": True, "orderer3": False}),
                         consenters)
    assert not second.ok and second.active_after == ["orderer1"]
    assert "1 of 3" in second.describe() and "quorum is 2" in second.describe()
    # an onboarding consenter does not count as active
    onboarding = _listing({"orderer1": True, "orderer2": True, "orderer3": True})
    onboarding["orderer1"].channels["mychannel"] = ChannelInfo("orderer1", "mychannel", "onboarding", "consenter", 1)
    assert not leave_check(inv, "mychannel", "orderer3", onboarding, consenters).ok


def test_consenters_from_the_inventory(tmp_path):
    """Without an orderer admin MSP the config cannot be fetched: every orderer of the channel counts as a consenter
    unless it says it is a follower, and one that left still counts (not as active)."""
    from opskit.orderer.participation import inventory_consenters

    inv, _ = _inv(tmp_path)
    listing = _listing({"orderer1": True, "orderer2": True, "orderer3": False})
    listing["orderer4"] = OrdererChannels("orderer4", "vm4")
    listing["orderer4"].channels["mychannel"] = ChannelInfo("orderer4", "mychannel", "active", "follower", 5)
    got = inventory_consenters(inv, "mychannel", listing)
    assert got == ["orderer1.example.com:7050", "orderer2.example.com:7050", "orderer3.example.com:7050"]
    assert not leave_check(inv, "mychannel", "orderer2", listing, got).ok


def test_block_file_is_checked_locally(tmp_path):
    assert read_block_file(str(MYCHANNEL_BLOCK0), "mychannel")[:2]
    from opskit.errors import OpskitError

    with pytest.raises(OpskitError, match="not 'other'"):
        read_block_file(str(MYCHANNEL_BLOCK0), "other")
    with pytest.raises(OpskitError) as exc:
        read_block_file(str(tmp_path / "nope.block"), "mychannel")
    assert exc.value.exit_code == 3


def _task(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args, "--inventory", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("args, said", [
    (["orderer.leave", "nochannel", "--orderer", "orderer1"], "unknown channel"),
    (["orderer.join", "nochannel", "--orderer", "orderer1"], "unknown channel"),
    (["orderer.leave", "mychannel", "--orderer", "orderer9"], "unknown orderer"),
    (["orderer.join", "mychannel", "--orderer", "peer0"], "unknown orderer"),
    (["orderer.join", "mychannel", "--orderer", "orderer1", "--block", "/nonexistent.block"], "--block"),
    (["orderer.join", "mychannel", "--orderer", "orderer1", "--block", str(KAFKA_GENESIS)], "not 'mychannel'"),
    (["orderer.leave", "mychannel", "--orderer", "orderer4"], "admin_port"),
    (["orderer.channels", "-s", "peer0"], "no orderer"),
])
def test_bad_input_exit_3_before_contact(tmp_path, args, said):
    """The hosts are at 127.0.0.1:1 (nothing listens): an attempt to contact them would fail differently."""
    _, path = _inv(tmp_path)
    t0 = time.monotonic()
    res = _task(path, *args)
    assert res.returncode == 3, res.stdout + res.stderr
    assert said in res.stderr, res.stderr
    assert "unreachable" not in res.stderr and "ssh" not in res.stderr.lower()
    assert time.monotonic() - t0 < 30
