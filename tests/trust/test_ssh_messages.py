"""D15/D19: a fractional connect timeout is honoured, and connection failures say what happened."""

from __future__ import annotations

import socket
import time

from opskit.inventory.load import load_text
from opskit.remote import Engine


def _inv(port: int, extra: str = "") -> object:
    return load_text(f"""version: 2
defaults: {{connect_timeout: 0.5, host_timeout: 30, strict_host_keys: false}}
hosts:
  vm1: {{address: 127.0.0.1, port: {port}{extra}}}
""", "inv")


def test_half_second_connect_timeout_against_a_silent_sshd():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # the kernel completes the TCP handshake; nothing ever answers (a hung sshd)
    try:
        inv = _inv(silent.getsockname()[1])
        t0 = time.monotonic()
        with Engine(inv) as engine:
            r = engine.run([inv.hosts["vm1"]], lambda s: s.run(["true"]))[0]
        took = time.monotonic() - t0
    finally:
        silent.close()
    assert not r.ok
    assert took < 3.0, f"a 0.5 s connect timeout took {took:.1f}s"
    assert "no SSH banner came within 0.5s" in r.error, r.error


def test_missing_key_file_is_named():
    inv = _inv(22, ", key_file: /nonexistent/id_ed25519")
    with Engine(inv) as engine:
        r = engine.run([inv.hosts["vm1"]], lambda s: s.run(["true"]))[0]
    assert not r.ok
    assert "SSH key file /nonexistent/id_ed25519 does not exist" in r.error, r.error
