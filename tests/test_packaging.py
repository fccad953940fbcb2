"""What `pip install .` installs: the library operators run against fleets, no lab, stand-in, test hook or fake
(issue 17). The lab is its own distribution (lab/pyproject.toml, `pip install ./lab`)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wheel_files(project: Path, out: Path) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(out), str(project)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    [wheel] = list(out.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_the_library_wheel_holds_no_test_equipment(tmp_path: Path) -> None:
    files = _wheel_files(ROOT, tmp_path)
    code = [f for f in files if f.startswith("opskit/")]
    assert "opskit/health/fleet.py" in code and "opskit/tasks/lab.py" in code   # the scan sees the package
    equipment = [f for f in files if any(word in f for word in ("opskit_lab", "/lab/", "standin", "fakes",
                                                                  "crash_at", "seed/"))]
    assert equipment == []
    assert not any(f.startswith("tests/") for f in files)


def test_the_lab_wheel_holds_the_lab_and_its_stand_ins(tmp_path: Path) -> None:
    files = _wheel_files(ROOT / "lab", tmp_path)
    assert "opskit_lab/lab.py" in files and "opskit_lab/fabric.py" in files
    assert "opskit_lab/standin/node.py" in files
    assert any(f.startswith("opskit_lab/standin/seed/") and f.endswith("blockfile_000000") for f in files)
    assert not any(f.startswith("opskit/") for f in files)
