"""Layering: core never imports QGIS/Qt, does not pull torch on import, names CUDA once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys
sys.modules['qgis'] = None
sys.modules['PyQt5'] = None
sys.modules['processing'] = None
import importlib, pkgutil
import csbsr.core
assert 'torch' not in sys.modules, 'importing csbsr.core pulled in torch'
import csbsr.core.cli
assert 'torch' not in sys.modules, 'importing the CLI pulled in torch'
names = [m.name for m in pkgutil.walk_packages(csbsr.core.__path__, 'csbsr.core.')]
for name in names:
    importlib.import_module(name)
bad = [m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5', 'processing')
       and sys.modules[m] is not None]
assert not bad, bad
print(len(names))
"""


def test_core_imports_without_qgis_or_qt() -> None:
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         cwd="/", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.strip()) >= 5


def test_cuda_is_named_only_in_the_device_module() -> None:
    """No "cuda" string literal and no torch.cuda call outside core/device.py."""
    import re

    pattern = re.compile(r"[\"']cuda|\.cuda\b")
    offenders = [p.relative_to(REPO).as_posix() for p in (REPO / "core").rglob("*.py")
                 if p.name != "device.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_qgis_import_lines_in_core() -> None:
    import re

    pattern = re.compile(r"^\s*(from|import)\s+(qgis|PyQt5|processing)\b", re.M)
    offenders = [p.name for p in (REPO / "core").rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
