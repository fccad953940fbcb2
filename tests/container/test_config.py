"""container/config.py on real ``docker inspect`` output (tests/fixtures/docker, captured by capture.py there):
inspect -> typed model -> ``docker create`` argv -> comparison. Fast: no engine, no root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opskit.errors import OpskitError
from opskit.container.config import (ConfigError, ContainerConfig, ImageDefaults, Mount, compare, env_dict,
                                     parse_set)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "docker"


def _load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


@pytest.fixture(scope="module")
def image() -> ImageDefaults:
    return ImageDefaults.from_inspect(_load("standin.image.json"), "opskit-lab/standin:1")


@pytest.fixture(scope="module")
def rich() -> ContainerConfig:
    return ContainerConfig.from_inspect(_load("rich.inspect.json"))


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_inspect_to_model_matches_the_docker_run_that_made_it(rich: ContainerConfig, image: ImageDefaults) -> None:
    run = _load("rich.run.json")
    assert rich.name == "rich" and rich.image == "opskit-lab/standin:1" and rich.image_id == image.id
    assert rich.running and rich.status == "running" and rich.id == _load("rich.inspect.json")["Id"]
    assert rich.hostname == "orderer9.example.com" and rich.user == "0:0" and rich.working_dir == "/var/hyperledger"
    assert rich.entrypoint == ["/bin/sleep"] and rich.command == ["86400"]
    # every --env of the run is in the model, and the image's own env comes on top (docker merges them)
    assert {k: rich.env[k] for k in env_dict(_flag_values(run, "--env"))} == env_dict(_flag_values(run, "--env"))
    assert set(rich.env) - set(env_dict(_flag_values(run, "--env"))) == set(image.env)
    assert rich.labels == {**image.labels, "service": "hyperledger-fabric", "com.example.tier": "core"}
    assert rich.mounts == [Mount("/etc/hyperledger/fabric/tls", "bind", "/etc/ssl", True, "rprivate"),
                           Mount("/var/hyperledger/production", "volume", "richvol")]
    assert rich.tmpfs == {"/run": "size=1m"}
    assert rich.network_mode == "richnet" and rich.networks == {"richnet": ["orderer9"]}  # own ID alias dropped
    assert rich.ports == {"7050/tcp": ["127.0.0.1:17050"], "9443/tcp": [":"]}
    assert (rich.restart_policy, rich.restart_retries) == ("on-failure", 3)
    assert rich.log_driver == "json-file" and rich.log_opts == {"max-size": "10m", "max-file": "3"}
    assert rich.extra_hosts == ["kafka0.example.com:10.0.0.1"] and rich.dns == ["10.0.0.53"]
    assert rich.cap_add == ["CAP_NET_ADMIN"]  # the engine reports capabilities with their CAP_ prefix
    assert rich.ulimits == ["nofile=1024:2048"] and rich.memory == 64 * 1024 * 1024 and rich.stop_timeout == 5
    assert rich.healthcheck == {"Test": ["CMD-SHELL", "test -d /var/hyperledger"], "Interval": 5_000_000_000,
                                "Retries": 2}
    assert rich.log_path.endswith(f"{rich.id}-json.log")


def test_create_argv_is_the_one_proven_on_a_real_engine(rich: ContainerConfig, image: ImageDefaults) -> None:
    """rich-copy.argv.json was created on the engine at capture time and its inspect compared equal: the argv
    opskit builds today must still be that one."""
    argv = rich.overrides(image).create_argv(name="rich-copy")
    assert argv == _load("rich-copy.argv.json")
    # what the image supplies is not pinned on the copy: PATH comes from the (new) image, not from --env
    assert not any(v.startswith(("PATH=", "PYTHONDONTWRITEBYTECODE=")) for v in _flag_values(argv, "--env"))
    assert _flag_values(argv, "--publish") == ["127.0.0.1:17050:7050", "9443"]
    assert argv[-3:] == ["/bin/sleep", "opskit-lab/standin:1", "86400"]


def test_recreated_container_compares_equal_to_the_original(rich: ContainerConfig) -> None:
    copy = ContainerConfig.from_inspect(_load("rich-copy.inspect.json"))
    assert copy.name == "rich-copy" and copy.status == "created"
    assert compare(rich, copy) == []


def test_effective_on_the_image_gives_back_what_docker_reports(rich: ContainerConfig, image: ImageDefaults) -> None:
    spec = rich.overrides(image)
    assert "PATH" not in spec.env and "opskit_lab" not in spec.labels
    assert compare(spec.effective(image), rich) == []


def test_standin_orderer_on_host_network(image: ImageDefaults) -> None:
    o = ContainerConfig.from_inspect(_load("orderer1.inspect.json"))
    assert o.name == "orderer1.ordererorg1.example.com" and o.network_mode == "host"
    assert o.networks == {} and o.ports == {}
    assert o.mount_at("/var/hyperledger/production/orderer/") == \
        Mount("/var/hyperledger/production/orderer", "volume", "orderer1-ledger")
    assert o.entrypoint == image.entrypoint and o.command and o.command[:2] == ["--kind", "orderer"]
    argv = o.overrides(image).create_argv()
    assert _flag_values(argv, "--network") == ["host"] and "--publish" not in argv
    assert "--entrypoint" not in argv  # the image's entrypoint is not repeated: a new image brings its own
    assert argv[argv.index("opskit-lab/standin:1") + 1:] == o.command
    assert "type=volume,source=orderer1-ledger,destination=/var/hyperledger/production/orderer" in argv


def test_set_changes_show_up_as_differences(rich: ContainerConfig) -> None:
    ch = parse_set(["image=opskit-lab/standin:2", "log-opt.max-size=20m", "env.FABRIC_LOGGING_SPEC=DEBUG",
                    "restart=always", "volume./var/hyperledger/production=richvol2"])
    want = ch.apply(rich)
    got = {d.key: d for d in compare(rich, want)}
    assert set(got) == {"image", "env", "log_config", "restart_policy", "mounts"}
    assert got["env"].describe() == "env: FABRIC_LOGGING_SPEC=INFO->DEBUG"
    assert got["restart_policy"].describe() == "restart_policy: on-failure:3 -> always"
    assert "+richvol2:/var/hyperledger/production (volume)" in got["mounts"].describe()
    with pytest.raises(OpskitError, match="not a valid volume name"):  # values.BadValue at the CLI edge
        parse_set(["volume./data=bad/name"]).apply(rich)
    with pytest.raises(ConfigError, match="unknown key"):
        parse_set(["colour=blue"])
