"""D17: a compose file with bytes that are not UTF-8 is refused, never rewritten with U+FFFD."""

from __future__ import annotations

import pytest

from opskit.container import compose as compose_mod
from opskit.container.docker import DockerHost
from opskit.inventory.load import load_text
from opskit.remote import Engine

COMPOSE = (b"# caf\xe9 (latin-1, as an old editor saved it)\nversion: '2.4'\nservices:\n  orderer1:\n"
           b"    container_name: orderer1\n    image: hyperledger/fabric-orderer:2.5\n")


def _local(tmp_path, compose_file):
    inv = load_text(f"""version: 2
hosts:
  here: {{address: 127.0.0.1, connection: local}}
nodes:
  orderer1: {{kind: orderer, host: here, compose_file: {compose_file}}}
""", "inv")
    return inv


def test_non_utf8_compose_file_is_refused_and_left_byte_exact(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_bytes(COMPOSE)
    inv = _local(tmp_path, f)
    with Engine(inv) as engine:
        dh = DockerHost(inv.hosts["here"], lambda h: engine.session(h))
        with pytest.raises(compose_mod.ComposeError, match="not UTF-8"):
            edit = compose_mod.plan(dh, inv.nodes["orderer1"], compose_mod.ComposeChange(log_driver="json-file",
                                                                                        log_opts={"max-size": "50m"}))
            compose_mod.write(dh, edit)  # what the old code went on to do
    assert f.read_bytes() == COMPOSE
    assert not list(tmp_path.glob("compose.yaml.opskit-*"))


def test_utf8_compose_file_still_edited(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_bytes(COMPOSE.replace(b"caf\xe9", "café".encode()))
    inv = _local(tmp_path, f)
    with Engine(inv) as engine:
        dh = DockerHost(inv.hosts["here"], lambda h: engine.session(h))
        edit = compose_mod.plan(dh, inv.nodes["orderer1"], compose_mod.ComposeChange(
            log_driver="json-file", log_opts={"max-size": "50m"}))
        assert edit is not None and edit.changed
        compose_mod.write(dh, edit)
    text = f.read_text(encoding="utf-8")
    assert "café" in text and "max-size" in text
