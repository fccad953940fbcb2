"""TSIG keys in BIND's format: ``key "name" { algorithm hmac-sha256; secret "base64"; };``.

The secret is read into a :class:`TsigKey`, whose ``repr`` and ``str`` never show it, and
no error message here quotes the file's content (it holds the secret).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from opskit.dns.errors import DnsKeyError

ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")

_KEY_RE = re.compile(
    r'key\s+"?(?P<name>[A-Za-z0-9._-]+)"?\s*\{(?P<body>[^{}]*)\}\s*;',
    re.S,
)
_ALG_RE = re.compile(r"\balgorithm\s+\"?(?P<alg>[A-Za-z0-9.-]+)\"?\s*;")
_SECRET_RE = re.compile(r'\bsecret\s+"(?P<secret>[^"]*)"\s*;')


def _strip_comments(text: str) -> str:
    """Remove #, // and /* */ comments outside quoted strings (a base64 secret may contain "//")."""
    out: list[str] = []
    i, n, quoted = 0, len(text), False
    while i < n:
        ch = text[i]
        if quoted:
            out.append(ch)
            if ch == '"':
                quoted = False
            i += 1
        elif ch == '"':
            quoted = True
            out.append(ch)
            i += 1
        elif ch == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key. ``secret`` is base64 text; it is left out of repr on purpose."""

    name: str
    algorithm: str
    secret: str = field(repr=False)
    source: str | None = None

    def __str__(self) -> str:
        return f"TSIG key {self.name!r} ({self.algorithm})"

    def dns_key(self):  # -> dns.tsig.Key (whose repr shows the secret: never print it)
        import dns.tsig

        return dns.tsig.Key(self.name, self.secret, self.algorithm)

    def render(self) -> str:
        """The key in BIND's file format (contains the secret: write it to a 0600 file only)."""
        return f'key "{self.name}" {{\n\talgorithm {self.algorithm};\n\tsecret "{self.secret}";\n}};\n'


def parse_keys(text: str, source: str = "<text>") -> dict[str, TsigKey]:
    """Every key statement in ``text`` (BIND syntax), by name."""
    clean = _strip_comments(text)
    out: dict[str, TsigKey] = {}
    for m in _KEY_RE.finditer(clean):
        name, body = m.group("name").rstrip("."), m.group("body")
        alg = _ALG_RE.search(body)
        sec = _SECRET_RE.search(body)
        if not alg or not sec:
            raise DnsKeyError(f"key {name!r} in {source} lacks an algorithm or a secret statement")
        algorithm = alg.group("alg").lower()
        if algorithm not in ALGORITHMS:
            raise DnsKeyError(f"key {name!r} in {source} uses unsupported algorithm {algorithm!r}")
        secret = "".join(sec.group("secret").split())
        try:
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise DnsKeyError(f"the secret of key {name!r} in {source} is not valid base64") from None
        if not raw:
            raise DnsKeyError(f"the secret of key {name!r} in {source} is empty")
        out[name] = TsigKey(name, algorithm, secret, source)
    return out


def resolve_key_path(path: str, base_dir: str | os.PathLike[str] | None = None) -> Path:
    """``~`` expanded; a relative path is taken relative to ``base_dir`` (the inventory's directory)."""
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def load_key(path: str | os.PathLike[str], name: str, algorithm: str | None = None) -> TsigKey:
    """The key called ``name`` from BIND key file ``path``, with clear errors and no secret in them."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise DnsKeyError(f"TSIG key file {p} does not exist") from None
    except IsADirectoryError:
        raise DnsKeyError(f"TSIG key file {p} is a directory, not a key file") from None
    except PermissionError:
        raise DnsKeyError(f"TSIG key file {p} is not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise DnsKeyError(f"TSIG key file {p} is not a text key file") from None
    except OSError as exc:
        raise DnsKeyError(f"TSIG key file {p} cannot be read: {exc.strerror}") from None
    keys = parse_keys(text, str(p))
    if not keys:
        raise DnsKeyError(f"TSIG key file {p} holds no key statement (expected BIND format: key \"NAME\" {{ ... }};)")
    wanted = name.rstrip(".")
    if wanted not in keys:
        raise DnsKeyError(f"TSIG key file {p} has no key named {wanted!r} (it has: {', '.join(sorted(keys))})")
    key = keys[wanted]
    if algorithm and algorithm.lower() != key.algorithm:
        raise DnsKeyError(
            f"key {wanted!r} in {p} is {key.algorithm}, but the inventory says {algorithm.lower()}"
        )
    return key


def generate_key(name: str, algorithm: str = "hmac-sha256") -> TsigKey:
    """A new random key, made by BIND's ``tsig-keygen`` (falls back to Python's ``secrets``)."""
    if algorithm not in ALGORITHMS:
        raise DnsKeyError(f"unsupported TSIG algorithm {algorithm!r}")
    exe = shutil.which("tsig-keygen")
    if exe:
        proc = subprocess.run([exe, "-a", algorithm, name], capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            keys = parse_keys(proc.stdout, "tsig-keygen")
            if name in keys:
                return keys[name]
    import secrets

    size = {"hmac-sha384": 48, "hmac-sha512": 64}.get(algorithm, 32)
    return TsigKey(name, algorithm, base64.b64encode(secrets.token_bytes(size)).decode())


def write_key(key: TsigKey, path: str | os.PathLike[str]) -> Path:
    """Write ``key`` in BIND format to ``path`` with mode 0600."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.render())
    os.chmod(p, 0o600)
    return p
