"""Keep a node's docker-compose file in step with what opskit did to its container.

The file is read and written on the node's host through the run's session (``cat``; a backup copy with
``cp -p``; the new text written to a temporary file beside it and moved into place). The edit is a
ruamel.yaml round trip: comments, key order and quoting are kept; only the service's ``image``,
``logging`` and ``volumes`` (and the top-level ``volumes:`` declarations of the named volumes opskit
created, as ``external: true`` so that ``docker-compose down -v`` never deletes a ledger) change.
"""

from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from opskit.container.docker import READ_TIMEOUT, DockerHost
from opskit.errors import OpskitError
from opskit.inventory.model import Node


class ComposeError(OpskitError):
    """The compose file is missing, not YAML, or has no service for the node."""


@dataclass
class ComposeChange:
    image: str | None = None
    log_driver: str | None = None
    log_opts: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)   # container path -> named volume

    def is_empty(self) -> bool:
        return not (self.image or self.log_driver or self.log_opts or self.volumes)


@dataclass
class ComposeEdit:
    path: str
    service: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(True), self.new.splitlines(True),
                                            fromfile=f"{self.path} (now)", tofile=f"{self.path} (opskit)"))


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def _indent_of(text: str) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) as the file uses them, so the round trip keeps its layout."""
    lines = text.splitlines()
    mapping = 2
    offset = 0
    for i, line in enumerate(lines[:-1]):
        m = re.match(r"^(\s*)[^\s#-][^:]*:\s*(#.*)?$", line)
        if not m:
            continue
        nxt = lines[i + 1]
        n = re.match(r"^(\s*)(-\s)?\S", nxt)
        if not n:
            continue
        delta = len(n.group(1)) - len(m.group(1))
        if n.group(2) and delta >= 0:
            offset = delta
            break
        if not n.group(2) and delta > 0 and mapping == 2:
            mapping = delta
    return mapping, offset


def find_service(doc: Any, node: Node) -> str:
    services = doc.get("services") if hasattr(doc, "get") else None
    if not services:
        raise ComposeError("no `services:` section (compose file format 2 or later is needed)")
    if node.compose_service:
        if node.compose_service not in services:
            raise ComposeError(f"no service {node.compose_service!r} (services: {', '.join(services)})")
        return node.compose_service
    for key, svc in services.items():
        if hasattr(svc, "get") and svc.get("container_name") == node.container_name:
            return str(key)
    for key in (node.name, node.container_name):
        if key in services:
            return key
    raise ComposeError(f"no service for node {node.name} (set compose_service in the inventory; services: "
                       f"{', '.join(services)})")


def _volume_target(entry: Any) -> str | None:
    if isinstance(entry, str):
        parts = entry.split(":")
        return parts[1] if len(parts) >= 2 else parts[0]
    if hasattr(entry, "get"):
        return entry.get("target")
    return None


def edit_text(text: str, node: Node, change: ComposeChange, path: str = "docker-compose.yaml") -> ComposeEdit:
    """The compose text with ``change`` applied to the node's service (pure; no I/O)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    y = _yaml()
    mapping, offset = _indent_of(text)
    y.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    try:
        doc = y.load(text)
    except YAMLError as exc:
        raise ComposeError(f"{path} is not valid YAML: {exc}") from None
    if doc is None or not hasattr(doc, "get"):
        raise ComposeError(f"{path} is empty or not a mapping")
    service = find_service(doc, node)
    svc = doc["services"][service]
    if svc is None:
        svc = doc["services"][service] = CommentedMap()
    if change.image and svc.get("image") != change.image:
        svc["image"] = change.image
    if change.log_driver or change.log_opts:
        logging = svc.get("logging")
        if logging is None:
            logging = svc["logging"] = CommentedMap()
        if change.log_driver and logging.get("driver") != change.log_driver:
            if logging.get("driver") not in (None, change.log_driver):
                logging["options"] = CommentedMap()
            logging["driver"] = change.log_driver
        if change.log_opts:
            opts = logging.get("options")
            if opts is None:
                opts = logging["options"] = CommentedMap()
            for k, v in change.log_opts.items():
                if str(opts.get(k)) != str(v):
                    opts[k] = str(v)
    if change.volumes:
        vols = svc.get("volumes")
        if vols is None:
            vols = CommentedSeq()
            if any(True for _ in change.volumes):
                svc["volumes"] = vols
        added = []
        for cpath, vname in change.volumes.items():
            # a target the file already mounts something at is left as the file has it
            if not any((_volume_target(e) or "").rstrip("/") == cpath.rstrip("/") for e in vols):
                vols.append(f"{vname}:{cpath}")
                added.append(vname)
        top = doc.get("volumes")
        if top is None and added:
            doc["volumes"] = top = CommentedMap()
        for vname in added:
            if vname not in top:
                decl = CommentedMap()
                decl["external"] = True
                top[vname] = decl
    buf = io.StringIO()
    y.dump(doc, buf)
    new = buf.getvalue()
    return ComposeEdit(path, service, text, new)


def _same_doc(a: str, b: str, y: Any) -> bool:
    """True when two texts load to the same data (a pure re-layout is not a change)."""
    import json

    try:
        return json.dumps(y.load(a), sort_keys=True, default=str) == json.dumps(y.load(b), sort_keys=True, default=str)
    except Exception:
        return False


def read(dh: DockerHost, path: str) -> str:
    """The compose file's text. Read as bytes (base64 over the session) and decoded strictly: a file that is not
    UTF-8 is refused, never "repaired" with U+FFFD and written back (that would change bytes nobody asked for)."""
    import base64
    import binascii

    res = dh.run(["base64", "-w", "0", "--", path], timeout=READ_TIMEOUT, check=False)
    if res.exit_code != 0:
        raise ComposeError(f"{dh.name}: cannot read compose file {path}: {res.stderr.strip()[-200:]}")
    try:
        data = base64.b64decode(res.stdout.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ComposeError(f"{dh.name}: reading {path} gave garbled output; not touching it") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ComposeError(f"{dh.name}: {path}:{line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); opskit "
                           "will not rewrite it (that would change those bytes). Convert it to UTF-8 or remove "
                           "compose_file from the inventory") from None
    if "\0" in text:
        raise ComposeError(f"{dh.name}: {path} contains NUL bytes; not a compose file opskit will rewrite")
    return text


def plan(dh: DockerHost, node: Node, change: ComposeChange) -> ComposeEdit | None:
    """The edit for ``node``'s compose file (None when the inventory names none)."""
    if not node.compose_file or change.is_empty():
        return None
    edit = edit_text(read(dh, node.compose_file), node, change, node.compose_file)
    if edit.changed and _same_doc(edit.old, edit.new, _yaml()):
        edit.new = edit.old  # nothing but layout would change: leave the file alone
    return edit


_WRITE = r"""
set -e
f="$1"; bak="$2"; text="$3"
cp -p "$f" "$bak"
tmp="$f.opskit-tmp.$$"
printf '%s' "$text" > "$tmp"
chmod --reference="$f" "$tmp" 2>/dev/null || true
chown --reference="$f" "$tmp" 2>/dev/null || true
mv -f "$tmp" "$f"
echo "$bak"
"""


def write(dh: DockerHost, edit: ComposeEdit) -> str | None:
    """Write ``edit`` (after a fresh read shows the file unchanged); returns the backup path, None if no change."""
    if not edit.changed:
        return None
    now = read(dh, edit.path)
    if now == edit.new:
        return None
    if now != edit.old:
        raise ComposeError(f"{dh.name}: {edit.path} changed while opskit was working; not overwritten")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    bak = f"{edit.path}.opskit-{stamp}.bak"
    dh.sh(_WRITE, edit.path, bak, edit.new, timeout=READ_TIMEOUT)
    return bak
