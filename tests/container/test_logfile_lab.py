"""container.truncate-log (opskit/container/logfile.py) against the lab: the real json log file of a running
container emptied in place, refused without confirmation, and the daemon keeps writing to the same file."""

from __future__ import annotations

import json

from opskit.container.logfile import truncate_log
from opskit.inventory import load_inventory
from opskit_lab.wait import wait_for
from tests.conftest import run_inv

from .helpers import inspect

NODE = "orderer1"


def _size(lab, path: str) -> int:  # type: ignore[no-untyped-def]
    host = lab.host(lab.node(NODE).host)
    return int(host.exec(["stat", "-c", "%s", path]).stdout.strip())


def test_truncate_log_empties_the_file_in_place(lab) -> None:  # type: ignore[no-untyped-def]
    log_path = inspect(lab, NODE)["LogPath"]
    wait_for(lambda: _size(lab, log_path) > 0, timeout=30, what=f"{NODE} to have written to its log")
    inv = load_inventory(lab.inventory_path)
    # not confirmed: nothing done
    before = _size(lab, log_path)
    report = truncate_log(inv, NODE, confirm=lambda question: "Its content is lost" not in question)
    assert "not confirmed: nothing done" in [f.message for f in report.findings] and not report.changed
    assert _size(lab, log_path) >= before
    # --check: what would be emptied, nothing done
    check = truncate_log(inv, NODE, check=True)
    assert [f.check for f in check.findings if f.message.startswith("would empty")] == ["truncate.empty"]
    assert not check.changed and _size(lab, log_path) >= before
    # the CLI with --yes: the same file is emptied (same inode: the engine keeps appending to it)
    host = lab.host(lab.node(NODE).host)
    inode = host.exec(["stat", "-c", "%i", log_path]).stdout.strip()
    res = run_inv("container.truncate-log", NODE, "--yes", "-i", str(lab.inventory_path), "--json")
    assert res.returncode == 1, res.stderr  # emptied (OK) + WARNING: the lab's containers have no log rotation
    doc = json.loads(res.stdout)
    by_check = {r["check"]: r for r in doc["results"]}
    done = by_check["truncate.empty"]
    assert done["severity"] == "ok" and done["changed"] is True and done["data"]["bytes_before"] > 0
    assert done["data"]["path"] == log_path and by_check["rotation"]["severity"] == "warning"
    assert _size(lab, log_path) < done["data"]["bytes_before"] and doc["summary"]["changed"] is True
    assert host.exec(["stat", "-c", "%i", log_path]).stdout.strip() == inode
    # an unknown node is refused before anything is touched
    bad = run_inv("container.truncate-log", "orderer9", "--yes", "-i", str(lab.inventory_path))
    assert bad.returncode == 3 and "unknown node 'orderer9'" in bad.stderr
