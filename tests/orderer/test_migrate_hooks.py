"""The migration's step hooks (opskit.orderer.migrate): called at every boundary once the journal holds the entry.

The Kafka-lab tests kill the process from such a hook (tests/orderer/crash_at.py); this checks the contract fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.inventory import load_inventory
from opskit.journal import Journal
from opskit.orderer.migrate import Migration, add_step_hook

ROOT = Path(__file__).resolve().parents[2]


class Boom(Exception):
    pass


def test_hooks_see_each_boundary_after_the_journal_wrote_it(tmp_path: Path) -> None:
    inv = load_inventory(ROOT / "inventories" / "longterm-example.yaml")
    journal = Journal(tmp_path / "journal.jsonl")
    seen: list[tuple[str, str, str, str]] = []

    def own(step: str, phase: str) -> None:
        last = list(journal.events())[-1]
        seen.append(("own", step, phase, f"{last.step}:{last.phase}"))

    def process_wide(step: str, phase: str) -> None:
        seen.append(("process", step, phase, ""))

    m = Migration(inv, journal=journal, on_step=own)
    remove = add_step_hook(process_wide)
    try:
        m._step("enter-maintenance/mychannel", lambda: {"n": 1})
        with pytest.raises(Boom):
            m._step("backup/copy", lambda: (_ for _ in ()).throw(Boom()))
    finally:
        remove()
        m.close()
    assert seen == [
        ("own", "enter-maintenance/mychannel", "begin", "enter-maintenance/mychannel:begin"),
        ("process", "enter-maintenance/mychannel", "begin", ""),
        ("own", "enter-maintenance/mychannel", "done", "enter-maintenance/mychannel:done"),
        ("process", "enter-maintenance/mychannel", "done", ""),
        ("own", "backup/copy", "begin", "backup/copy:begin"),
        ("process", "backup/copy", "begin", ""),
    ]  # a failed step has no "done" boundary
    assert journal.in_flight() == [] and "enter-maintenance/mychannel" in journal.done_steps()
    # removed: a later migration in the process does not call it
    m2 = Migration(inv, journal=Journal(tmp_path / "j2.jsonl"))
    m2._step("x", lambda: None)
    m2.close()
    assert len(seen) == 6


def test_no_crash_switch_in_the_library() -> None:
    text = (ROOT / "opskit" / "orderer" / "migrate.py").read_text()
    assert "OPSKIT_TEST" not in text and "SIGKILL" not in text
