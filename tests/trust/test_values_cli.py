"""D2, D3, D14, D18, D19: bad values end with exit 3 and one `opskit:` line, before any host is contacted."""

from __future__ import annotations

import time

import pytest

from opskit.container.config import ConfigError, Mount, parse_set
from opskit.errors import InventoryError, OpskitError
from opskit.inventory import load_inventory
from opskit.inventory.load import load_text
from tests.trust.cli import inventory_text, run_task, tripwire_inventory


def _refused(res, *needles: str) -> None:
    assert res.code == 3, (res.code, res.out, res.err)
    lines = [x for x in res.err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("opskit: "), res.err
    assert "Traceback" not in res.err + res.out
    for n in needles:
        assert n in lines[0], lines[0]


def test_the_tripwire_sees_a_command_that_does_reach_a_host(tmp_path):
    """Positive control: with valid arguments the same task does contact the (tripwire) host."""
    with tripwire_inventory(tmp_path) as (wire, inv):
        run_task("fleet.health", "--inventory", str(inv), "--no-prometheus", "--timeout", "3")
        assert wire.contacts > 0


# -- D14: numbers -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["rollout.logging", "--max-size", "abc"], "--max-size"),
    (["rollout.logging", "--max-size", "-5m"], "--max-size"),
    (["rollout.logging", "--max-file", "-3"], "--max-file"),
    (["rollout.logging", "--max-file", "0"], "--max-file"),
    (["rollout.logging", "--gate-timeout", "-1"], "--gate-timeout"),
    (["rollout.volumes", "--gate-timeout", "-1"], "--gate-timeout"),
    (["rollout.volumes", "--gate-timeout", "nan"], "--gate-timeout"),
    (["rollout.volumes", "--max-lag", "-5"], "--max-lag"),
    (["rollout.volumes", "--batch", "0"], "--batch"),
    (["container.replace", "orderer1", "--max-lag", "-5"], "--max-lag"),
    (["container.replace", "orderer1", "--gate-timeout", "-1"], "--gate-timeout"),
    (["fleet.health", "--interval", "-1"], "--interval"),
    (["fleet.health", "--interval", "abc"], "--interval"),           # invoke's own cast used to give a traceback
    (["rollout.logging", "--max-file", "abc"], "--max-file"),
    (["rollout.volumes", "--gate-timeout", "abc"], "--gate-timeout"),
    (["fleet.forecast", "--days", "x"], "--days"),
    (["fleet.health", "--timeout", "-1"], "--timeout"),
    (["fleet.health", "--samples", "0"], "--samples"),
    (["fleet.probe", "--connect-timeout", "-1"], "--connect-timeout"),
    (["dns.add", "org1", "x", "10.0.0.9", "--timeout", "-1"], "--timeout"),
    (["dns.add", "org1", "x", "10.0.0.9", "--ttl", "-1"], "--ttl"),
])
def test_bad_numbers_exit_3_before_any_host(tmp_path, argv, needle):
    with tripwire_inventory(tmp_path) as (wire, inv):
        res = run_task(*argv, "--inventory", str(inv))
        _refused(res, needle)
        assert wire.contacts == 0


# -- D2: mount syntax ----------------------------------------------------------------------------------------------
def test_inventory_volume_path_with_mount_syntax_is_refused_at_the_model(tmp_path):
    text = inventory_text(2222, extra_node="    volumes:\n      /hostetc,type=bind,source=/etc: etcvol\n")
    with pytest.raises(InventoryError, match=r"inventory.yaml:\d+: .*mount path .* ',' '='"):
        load_text(text, str(tmp_path / "inventory.yaml"))
    bad_volume = inventory_text(2222, extra_node="    volumes:\n      /data: 'v,type=bind'\n")
    with pytest.raises(InventoryError, match="not a valid volume name"):
        load_text(bad_volume, "inv")


def test_set_volume_with_mount_syntax_exits_3(tmp_path):
    with tripwire_inventory(tmp_path) as (wire, inv):
        res = run_task("container.replace", "orderer1", "--set", "volume./x,type=bind,source=/etc=v", "--inventory", str(inv))
        _refused(res, "--set")
        res = run_task("container.replace", "orderer1", "--set", "volume./data=v,type=bind", "--inventory", str(inv))
        _refused(res, "--set")
        res = run_task("rollout.volumes", "--paths", "peer=/a,/b=c", "--inventory", str(inv))
        _refused(res, "--paths")
        assert wire.contacts == 0


def test_mount_argv_refuses_syntax_even_from_an_inspected_container():
    with pytest.raises(ConfigError, match="--mount syntax"):
        Mount("/x,type=bind,source=/etc", "volume", "v").argv()
    assert Mount("/var/data", "volume", "v").argv() == ["--mount", "type=volume,source=v,destination=/var/data"]


@pytest.mark.parametrize("item", ["env.A=line1\nline2", "image=-rm", "image=x y", "label.a\nb=1", "hostname=-x"])
def test_set_values_that_would_become_syntax(item):
    with pytest.raises(OpskitError) as got:
        parse_set([item])
    assert got.value.exit_code == 3


# -- D3: crontab lines ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opt", ["--log-dir", "--textfile"])
def test_newline_in_cron_paths_is_refused(tmp_path, opt):
    with tripwire_inventory(tmp_path) as (wire, inv):
        res = run_task("cron.install", "--plan", opt, "/tmp/x\n* * * * * root touch /tmp/pwned", "--inventory", str(inv))
        _refused(res, opt, "control character")
        assert "pwned" not in res.out


def test_newline_in_the_inventory_file_name_never_reaches_a_crontab(tmp_path):
    d = tmp_path / "a\n* * * * * touch pwned #"
    d.mkdir()
    with tripwire_inventory(d) as (wire, inv):
        res = run_task("cron.install", "--plan", "--inventory", str(inv))
        _refused(res, "control character")
        assert "pwned" not in res.out


# -- D18: inputs that used to give tracebacks or hang ----------------------------------------------------------------
def test_scoped_ipv6_is_a_clear_error(tmp_path):
    with tripwire_inventory(tmp_path) as (wire, inv):
        _refused(run_task("dns.add", "org1", "x", "fe80::1%eth0", "--inventory", str(inv)), "scoped IPv6")
        assert wire.contacts == 0
    bad = inventory_text(22).replace("address: 127.0.0.1", "address: 'fe80::1%eth0'")
    with pytest.raises(InventoryError, match="scoped IPv6"):
        load_text(bad, "inv")


def test_lab_up_bad_subnet():
    _refused(run_task("lab.up", "--subnet", "10.81.0.0/33", "--name", "h18bad"), "--subnet")


def test_non_utf8_inventory(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(inventory_text(22).encode() + b"# caf\xe9\n")
    _refused(run_task("inventory.show", "--inventory", str(p)), "not UTF-8", ":")


def test_alias_bomb_is_refused_fast(tmp_path):
    lines = ['version: 2', 'hosts: {vm1: {address: 127.0.0.1}}', 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(9):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    with pytest.raises(InventoryError, match="alias"):
        load_inventory(p)
    assert time.monotonic() - t0 < 10


def test_dev_zero_as_inventory_is_refused_fast():
    t0 = time.monotonic()
    with pytest.raises(InventoryError, match="larger than"):
        load_inventory("/dev/zero")
    assert time.monotonic() - t0 < 10


def test_endpoint_url_and_aws_env(tmp_path):
    p = tmp_path / "aws.yaml"
    p.write_text(inventory_text(22) + "aws:\n  region: us-east-1\n  endpoint_url: \"not a url\"\n")
    _refused(run_task("aws.ecs-status", "c", "s", "--inventory", str(p)), "endpoint_url", "not a URL")
    q = tmp_path / "aws2.yaml"
    q.write_text(inventory_text(22) + "aws:\n  region: us-east-1\n")
    env = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    _refused(run_task("aws.ecs-status", "c", "s", "--inventory", str(q), env={**env, "AWS_MAX_ATTEMPTS": "abc"}),
             "AWS_MAX_ATTEMPTS")


# -- D19: messages that said something else --------------------------------------------------------------------------
def test_unknown_aws_profile_names_the_profile(tmp_path):
    q = tmp_path / "aws.yaml"
    q.write_text(inventory_text(22) + "aws:\n  region: us-east-1\n")
    env = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_PROFILE": "nosuch"}
    res = run_task("aws.ecs-status", "c", "s", "--inventory", str(q), env=env)
    _refused(res, "'nosuch'", "AWS_PROFILE")
    assert "None" not in res.err


def test_dns_timeout_minus_one_is_not_a_deadline_message(tmp_path):
    with tripwire_inventory(tmp_path) as (wire, inv):
        res = run_task("dns.add", "org1", "x", "10.0.0.9", "--timeout", "-1", "--inventory", str(inv))
        _refused(res, "--timeout")
        assert "did not answer" not in res.err


# -- D11: an empty fleet is not a healthy one ---------------------------------------------------------------------------
def test_empty_hosts_is_unknown_not_ok(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("version: 2\nname: empty\nhosts: {}\n")
    for task in ("fleet.health", "fleet.probe", "rollout.logging"):
        res = run_task(task, "--inventory", str(p), *(["--audit"] if task == "rollout.logging" else []))
        _refused(res, "no hosts")
        assert "OK" not in res.out
