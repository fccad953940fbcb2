"""container.replace against the lab: no-op, new image tag, broken image rollback, bad input, disk pre-check."""

from __future__ import annotations

import json

import pytest

from opskit.container.config import Changes, parse_set
from opskit.container.gate import GateOptions
from opskit.container.plan import QuorumError, batches, check_batch
from opskit.container.recreate import RecreateOptions
from opskit.container.replace import replace
from opskit.errors import SelectorError
from opskit.journal import Journal
from tests.container.helpers import (docker, heights, inspect, make_broken_image, prefix_intact, run_opskit, snapshot,
                                     wait_running)

BACKUPS = "/var/hyperledger/opskit-backups"


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def opts(**kw) -> RecreateOptions:
    return RecreateOptions(backup_dir=BACKUPS, gate=GateOptions(timeout=60, settle=1.0, poll=0.3), **kw)


def _mounts(doc):
    return sorted((m["Destination"], m.get("Name") or m["Source"], m["RW"]) for m in doc["Mounts"])


def _status(report, node):
    return next(f for f in report.findings if f.node == node).data["status"]


def test_replace_nothing_to_change_changes_nothing(lab):
    inv = lab.inventory()
    before = inspect(lab, "peer1.org1")
    report = replace(inv, "peer1.org1", Changes(), opts())
    assert _status(report, "peer1.org1") == "unchanged"
    assert report.meta["summary"].startswith("nothing to change")
    assert report.exit_code == 0 and not report.changed
    after = inspect(lab, "peer1.org1")
    assert after["Id"] == before["Id"] and after["State"]["StartedAt"] == before["State"]["StartedAt"]


def test_replace_to_new_image_tag_keeps_ledger_and_back(lab):
    inv = lab.inventory()
    node = "orderer2"
    host = lab.node(node).host
    lab_docker = lab.host(host).docker
    import subprocess

    subprocess.run([*lab_docker, "tag", "opskit-lab/standin:1", "opskit-lab/standin:1.4.7"], check=True)
    data_before, h_before, old = snapshot(lab, node), heights(lab, node), inspect(lab, node)
    report = replace(inv, node, Changes(image="opskit-lab/standin:1.4.7"), opts())
    f = next(x for x in report.findings if x.node == node)
    assert f.data["status"] == "changed", f.message
    assert f.changed and report.changed
    steps = [s["step"] for s in f.data["steps"]]
    assert steps == ["preflight", "backup", "rename", "stop", "create", "start", "gate", "cleanup"]
    assert f.data["backup_files"] and all(p.startswith(BACKUPS) for p in f.data["backup_files"])
    new = inspect(lab, node)
    assert new["Id"] != old["Id"] and new["Config"]["Image"] == "opskit-lab/standin:1.4.7"
    assert new["Config"]["Cmd"] == old["Config"]["Cmd"]
    assert _mounts(new) == _mounts(old) and new["HostConfig"]["NetworkMode"] == old["HostConfig"]["NetworkMode"]
    assert heights(lab, node) == h_before
    assert prefix_intact(data_before, snapshot(lab, node)) == []
    names = subprocess.run([*lab_docker, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    assert "opskit-old" not in names
    # and back to the lab's tag (the lab stays as it was)
    back = replace(inv, node, Changes(image="opskit-lab/standin:1"), opts(backup=False))
    assert _status(back, node) == "changed"
    assert inspect(lab, node)["Config"]["Image"] == "opskit-lab/standin:1"
    assert _status(replace(inv, node, Changes(image="opskit-lab/standin:1"), opts()), node) == "unchanged"


def test_replace_to_broken_image_rolls_back(lab):
    inv = lab.inventory()
    node = "peer1.org2"
    host = lab.node(node).host
    make_broken_image(lab, host)
    old = inspect(lab, node)
    data_before = snapshot(lab, node)
    report = replace(inv, node, Changes(image="opskit-lab/broken:1"), opts())
    f = next(x for x in report.findings if x.node == node)
    assert f.data["status"] == "rolled-back", f.message
    assert report.exit_code == 2
    assert "exited" in f.message and "Rolled back" in f.message
    now = inspect(lab, node)
    assert now["Id"] == old["Id"] and now["State"]["Running"]          # the old container, under its name
    failed = inspect_name(lab, host, f"{old['Name'].lstrip('/')}-opskit-failed")
    assert failed is not None and failed["Config"]["Image"] == "opskit-lab/broken:1"
    wait_running(lab, node)
    assert prefix_intact(data_before, snapshot(lab, node)) == []
    events = [json.loads(x) for x in Journal.for_operation(inv.name, "container.replace").path.parent.glob("*.done.jsonl")
              .__next__().read_text().splitlines()]
    assert any(e["step"] == f"{node}/rollback" and e["phase"] == "done" for e in events)
    assert any(e["step"] == f"{node}/gate" and e["phase"] == "failed" for e in events)
    # leave the lab as it was: the kept failed container would be an unexpected container for later tests
    docker(lab, host, "rm", "-f", f"{old['Name'].lstrip('/')}-opskit-failed")


def inspect_name(lab, host, name):
    import subprocess

    proc = subprocess.run([*lab.host(host).docker, "container", "inspect", name], capture_output=True, text=True)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def test_bad_input_unknown_node_and_missing_image(lab, state_dir):
    inv = lab.inventory()
    with pytest.raises(SelectorError, match="unknown node 'peer9.org9'"):
        replace(inv, "peer9.org9", Changes(), opts())
    old = inspect(lab, "kafka1")
    report = replace(inv, "kafka1", Changes(image="opskit-lab/does-not-exist:9"), opts())
    f = next(x for x in report.findings if x.node == "kafka1")
    assert f.data["status"] == "failed" and "cannot be pulled" in f.message
    assert inspect(lab, "kafka1")["Id"] == old["Id"]
    with pytest.raises(Exception, match="unknown key"):
        parse_set(["colour=blue"])
    # the front door: clear message and exit code, no traceback
    proc = run_opskit(["container.replace", "nosuchnode", "--inventory", str(lab.inventory_path)], str(state_dir))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and b"unknown node 'nosuchnode'" in err and b"Traceback" not in err


def test_disk_precheck_refuses_backup_that_does_not_fit(lab):
    from opskit_lab import faults

    inv = lab.inventory()
    node = "orderer3"
    old = inspect(lab, node)
    with faults.fill_disk(lab, lab.node(node).host, 97):
        report = replace(inv, node, parse_set(["log-opt.max-size=20m"]), opts())
    f = next(x for x in report.findings if x.node == node)
    assert f.data["status"] == "failed" and "not enough room for the backup" in f.message, f.message
    assert inspect(lab, node)["Id"] == old["Id"]  # nothing touched
    # without the backup the same change goes through; then put it back
    ok = replace(inv, node, parse_set(["log-opt.max-size=20m"]), opts(backup=False))
    assert _status(ok, node) == "changed"
    assert inspect(lab, node)["HostConfig"]["LogConfig"]["Config"] == {"max-size": "20m"}


def test_quorum_guard(lab):
    from opskit_lab import faults

    inv = lab.inventory()
    orderers = [n for n in inv.nodes.values() if n.kind.value == "orderer"]
    with pytest.raises(QuorumError, match="at most 1 may be"):
        check_batch(inv, ["orderer1", "orderer2"])
    for b in batches(inv, inv.nodes.values(), size=4):
        assert sum(1 for n in b if n.kind.value == "orderer") <= 1
        for org in ("org1", "org2", "org3"):
            assert sum(1 for n in b if n.org == org and n.kind.value in ("peer", "couchdb")) <= 1
    assert len(orderers) == 4
    old = inspect(lab, "orderer1")
    with faults.stop_container(lab, "orderer4"):
        report = replace(inv, "orderer1", parse_set(["log-opt.max-size=30m"]), opts(backup=False))
    f = next(x for x in report.findings if x.node == "orderer1")
    assert f.data["status"] == "failed" and "orderer4 is already down" in f.message, f.message
    assert inspect(lab, "orderer1")["Id"] == old["Id"]


def test_unreachable_host_is_a_clear_error_and_changes_nothing(lab):
    from opskit_lab import faults

    inv = lab.inventory()
    node = "couchdb1.org3"
    old = inspect(lab, node)
    with faults.stop_sshd(lab, lab.node(node).host):
        report = replace(inv, node, parse_set(["log-opt.max-size=40m"]), opts())
    f = next(x for x in report.findings if x.node == node)
    assert f.data["status"] == "unreachable" and "cannot connect" in f.message, f.message
    assert report.exit_code == 2
    assert [(h.host, h.status.value) for h in report.hosts] == [(lab.node(node).host, "unreachable")]
    assert inspect(lab, node)["Id"] == old["Id"]


def test_a_step_left_in_flight_on_a_node_already_as_asked_is_closed(lab):
    """Killed just after the cleanup command (before its journal line): the re-run finds nothing to do, closes the
    step and archives the journal, so that other operations are not blocked forever."""
    inv = lab.inventory()
    journal = Journal.for_operation(inv.name, "container.replace")
    journal.begin("peer1.org1/cleanup")
    report = replace(inv, "peer1.org1", Changes(), opts())
    assert _status(report, "peer1.org1") == "unchanged" and report.exit_code == 0
    assert report.meta["resumed_in_flight"] == ["peer1.org1/cleanup"]
    assert not journal.path.exists() and report.meta.get("journal_archived")
