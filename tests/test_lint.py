"""`make lint` stays clean: ruff over the tree, including the banned qgis/PyQt imports in core."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


def test_ruff_is_clean() -> None:
    if not RUFF.exists():
        pytest.skip("ruff is not installed in this environment (run make setup)")
    res = subprocess.run([str(RUFF), "check", "--no-cache", "."], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:]


def test_banned_import_rule_catches_qgis_in_core(tmp_path: Path) -> None:
    """Negative control: the rule really fires on a core module importing qgis."""
    if not RUFF.exists():
        pytest.skip("ruff is not installed in this environment (run make setup)")
    bad = tmp_path / "core_module.py"
    bad.write_text('"""Probe."""\nimport qgis.core  # noqa: F401\n', encoding="utf-8")
    res = subprocess.run([str(RUFF), "check", "--no-cache", "--config",
                          str(REPO / "pyproject.toml"), str(bad)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "TID251" in res.stdout
