"""Hostile input, generated: >= 1000 cases per run at inventory fields and task arguments.

Every case must end with exit 3 and one ``opskit:`` line, and no case may reach a host: every host, DNS server
and URL of the inventories is a loopback tripwire (tests/trust/cli.py) that counts connections and datagrams,
and the positive control in test_values_cli.py shows that a valid command does reach it.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trust.cli import Tripwire, inventory_text, run_task

EXAMPLES = 1200
CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\x0b", "\x0c"]
SHELLISH = [";", "$", "`", "|", "&", "(", ")", "<", ">", "'", '"', "\\", "*", "?", " "]
SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-", max_size=12)


def injected(bad: list[str], prefix: str = "") -> st.SearchStrategy[str]:
    """SAFE text with at least one of ``bad`` somewhere in it (anywhere: start, middle, end)."""
    return st.tuples(SAFE, st.lists(st.sampled_from(bad), min_size=1, max_size=3), SAFE).map(
        lambda t: prefix + t[0] + "".join(t[1]) + t[2])


def not_matching(pattern: str) -> st.SearchStrategy[str]:
    rx = re.compile(pattern)
    return st.one_of(st.text(max_size=12), injected(CONTROL + SHELLISH + ["-"])).filter(lambda s: not rx.fullmatch(s))


NUMBER = r"\s*[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"
INT = r"\s*[+]?[0-9]+\s*"

# -- inventory fields: (description, strategy of a YAML fragment placement) ---------------------------------------
def _node(field: str) -> callable:
    return lambda v: {"extra_node": f"    {field}: {json.dumps(v)}\n"}


def _host(field: str) -> callable:
    return lambda v: {"extra_host": f"    {field}: {json.dumps(v)}\n"}


INVENTORY_CASES = [
    ("volume path", injected(CONTROL + [",", "="], "/data"), lambda v: {"extra_node": f"    volumes:\n      {json.dumps(v)}: vol1\n"}),
    ("volume name", injected(CONTROL + SHELLISH + [",", "=", "/", ":"]), lambda v: {"extra_node": f"    volumes:\n      /data: {json.dumps(v)}\n"}),
    ("node image", st.one_of(injected(CONTROL + SHELLISH + [","]), SAFE.map(lambda s: "-" + s)), _node("image")),
    ("node compose_file", injected(CONTROL, "/srv/"), _node("compose_file")),
    ("node hostname", injected(CONTROL + SHELLISH + ["_", ","]), _node("hostname")),
    ("node operations URL", st.one_of(injected(CONTROL, "http://h/"), SAFE.filter(lambda s: "://" not in s)), _node("operations")),
    ("host key_file", injected(CONTROL), _host("key_file")),
    ("host label value", injected(CONTROL), lambda v: {"extra_host": f"    labels:\n      role: {json.dumps(v)}\n"}),
    ("host docker_host", injected(CONTROL, "unix:///run/"), _host("docker_host")),
    ("host ledger path", injected(CONTROL, "/var/"), lambda v: {"extra_host": f"    ledger_paths: [{json.dumps(v)}]\n"}),
    ("aws endpoint_url", st.one_of(injected(CONTROL, "http://h/"), SAFE.filter(lambda s: "://" not in s)),
     lambda v: {"extra_top": f"aws:\n  endpoint_url: {json.dumps(v)}\n"}),
    ("chaincode args", injected(CONTROL),
     lambda v: {"extra_top": f"chaincode:\n  name: cc\n  channel: ch\n  invoke_args: [{json.dumps(v)}]\n"}),
]

CLI_CASES = [
    ("--max-size", not_matching(r"[0-9]{1,15}[bkmgBKMG]?").filter(lambda s: not re.fullmatch(r"\s*[0-9]+[bkmgBKMG]?\s*", s)),
     lambda v: ["rollout.logging", f"--max-size={v}"]),
    ("--max-file", st.one_of(not_matching(INT), st.integers(max_value=0).map(str)), lambda v: ["rollout.logging", f"--max-file={v}"]),
    ("--gate-timeout", st.one_of(not_matching(NUMBER), st.floats(max_value=0).map(repr)),
     lambda v: ["rollout.volumes", f"--gate-timeout={v}"]),
    ("--max-lag", st.one_of(not_matching(INT), st.integers(max_value=-1).map(str)), lambda v: ["rollout.volumes", f"--max-lag={v}"]),
    ("--batch", st.one_of(not_matching(INT), st.integers(max_value=0).map(str)), lambda v: ["rollout.volumes", f"--batch={v}"]),
    ("--interval", st.one_of(not_matching(NUMBER), st.floats(max_value=-1e-9).map(repr)),
     lambda v: ["fleet.health", f"--interval={v}"]),
    ("--timeout", st.one_of(not_matching(NUMBER), st.floats(max_value=0).map(repr)), lambda v: ["fleet.health", f"--timeout={v}"]),
    ("cron --log-dir", injected(CONTROL, "/var/log/"), lambda v: ["cron.install", "--plan", f"--log-dir={v}"]),
    ("cron --textfile", injected(CONTROL, "/var/lib/"), lambda v: ["cron.install", "--plan", f"--textfile={v}"]),
    ("--set volume path", injected(CONTROL + [","], "/data"), lambda v: ["container.replace", "orderer1", f"--set=volume.{v}=vol1"]),
    ("--set volume name", injected(CONTROL + SHELLISH + [",", "=", "/"]), lambda v: ["container.replace", "orderer1", f"--set=volume./data={v}"]),
    ("--set env value", injected(CONTROL), lambda v: ["container.replace", "orderer1", f"--set=env.X={v}"]),
    ("--image", st.one_of(injected(CONTROL + SHELLISH + [","]), SAFE.map(lambda s: "-" + s)),
     lambda v: ["container.replace", "orderer1", f"--image={v}"]),
    ("dns.add IP", injected(CONTROL + SHELLISH + ["%", ","], "10.0.0.1"), lambda v: ["dns.add", "org1", "x", v]),
    ("--paths", injected(CONTROL + ["="], "/a"), lambda v: ["rollout.volumes", f"--paths=peer={v}"]),
]


@pytest.fixture(scope="module")
def wire():
    w = Tripwire()
    yield w
    w.close()


def test_hostile_values_exit_3_and_reach_no_host(wire):
    tmp = Path(tempfile.mkdtemp(prefix="opskit-hostile-"))
    valid = tmp / "valid.yaml"
    valid.write_text(inventory_text(wire.port))
    seen = {"cases": 0}
    per_kind: dict[str, int] = {}

    inventory_case = st.sampled_from(range(len(INVENTORY_CASES))).flatmap(
        lambda i: st.tuples(st.just(("inv", i)), INVENTORY_CASES[i][1]))
    cli_case = st.sampled_from(range(len(CLI_CASES))).flatmap(lambda i: st.tuples(st.just(("cli", i)), CLI_CASES[i][1]))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(st.one_of(inventory_case, cli_case))
    def one(case):
        (kind, i), value = case
        before = wire.contacts
        if kind == "inv":
            what, _, place = INVENTORY_CASES[i]
            path = tmp / "case.yaml"
            path.write_text(inventory_text(wire.port, **place(value)))
            res = run_task("fleet.health", "--no-prometheus", "--inventory", str(path), only_namespace=True)
        else:
            what, _, argv = CLI_CASES[i]
            res = run_task(*argv(value), "--inventory", str(valid), only_namespace=True)
        lines = [x for x in res.err.splitlines() if x.strip()]
        assert lines and lines[0].startswith("opskit: ") and "Traceback" not in res.err, (what, value, res.err[-800:])
        assert wire.contacts == before, (what, value, "a host was contacted")
        assert res.code == 3, (what, value, res.code, res.out[-500:], res.err[-500:])
        seen["cases"] += 1
        per_kind[what] = per_kind.get(what, 0) + 1

    one()
    assert seen["cases"] >= 1000, seen
    assert len(per_kind) >= len(INVENTORY_CASES + CLI_CASES) - 2, per_kind  # every field was exercised
    assert wire.contacts == 0
