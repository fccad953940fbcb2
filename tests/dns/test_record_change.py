"""dns add/update/delete as change operations (opskit.change) on the real BIND: a check reads for real and sends
nothing, a run sends one guarded UPDATE and a second run (or check) plans nothing; a delete or update run twice is
a no-op rather than a conflict."""

from __future__ import annotations

import itertools

from opskit.change import execute
from opskit.dns.record import RecordChange

from .conftest import client

_seq = itertools.count()


def test_add_update_delete_check_then_run_then_nothing(bind, inventory) -> None:
    c = client(inventory, "org2")
    name = f"rc{next(_seq)}"
    serial, _ = c.soa()
    add = RecordChange(c, "add", name, "10.0.7.1", ttl=120)
    check = execute(add, check=True)
    assert [(x.action, x.before, x.after) for x in check.plan.changes] == [("create", None, "A 10.0.7.1")]
    assert check.pending and c.lookup(name) == {} and c.soa()[0] == serial
    [f] = check.findings(diff=True)
    assert f.message.startswith(f"would create {name}.") and "+A 10.0.7.1" in f.message
    run = execute(add)
    assert run.changed and add.result is not None and add.result.verified
    assert c.lookup(name)["A"].values == ("10.0.7.1",) and c.soa()[0] > serial
    assert not execute(add, check=True).pending and not execute(add).changed
    upd = RecordChange(c, "update", name, "10.0.7.2", expect_old="10.0.7.1")
    assert [(x.action, x.before, x.after) for x in execute(upd, check=True).plan.changes] == [
        ("update", "A 10.0.7.1", "A 10.0.7.2")]
    assert c.lookup(name)["A"].values == ("10.0.7.1",)
    assert execute(upd).changed and c.lookup(name)["A"].values == ("10.0.7.2",)
    # the same update again: the name already holds the new value, so no conflict on --old
    again = execute(upd)
    assert not again.changed and "already there" in again.findings()[-1].message
    gone = RecordChange(c, "delete", name, "10.0.7.2")
    assert execute(gone).changed and c.lookup(name) == {}
    assert not execute(gone).changed and "nothing to delete" in execute(gone, check=True).findings()[-1].message


def test_cli_check_diff_then_run_then_check_reports_nothing(bind, inventory, inventory_file) -> None:
    """`inv dns.add ... --check --diff` queries the real server and sends nothing; the run adds; `--check` after
    the run reports no change (exit 0 with --detailed-exitcode)."""
    from .conftest import inv_cmd, json_out

    c = client(inventory, "org3")
    name = f"cli{next(_seq)}"
    serial, _ = c.soa()
    check = inv_cmd("dns.add", "org3", name, "10.0.8.1", "--check", "--diff", "--detailed-exitcode",
                    inventory=inventory_file)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"would create {name}." in check.stdout and "+A 10.0.8.1" in check.stdout
    assert c.lookup(name) == {} and c.soa()[0] == serial
    run = inv_cmd("dns.add", "org3", name, "10.0.8.1", "--json", inventory=inventory_file)
    doc = json_out(run)
    assert run.returncode == 0 and doc["summary"]["changed"] is True
    assert doc["results"][0]["data"]["verified"] is True and doc["results"][0]["changed"] is True
    after = inv_cmd("dns.add", "org3", name, "10.0.8.1", "--check", "--detailed-exitcode", "--json",
                    inventory=inventory_file)
    doc = json_out(after)
    assert after.returncode == 0 and doc["summary"]["changed"] is False
    assert doc["results"][0]["data"]["action"] == "unchanged"
    gone = inv_cmd("dns.delete", "org3", name, "--check", inventory=inventory_file)
    assert gone.returncode == 0 and "would delete" in gone.stdout and c.lookup(name)["A"].values == ("10.0.8.1",)
