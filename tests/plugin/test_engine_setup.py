"""The "Set up engine" button's work: a new environment (``python -m venv``), ``pip install``
of a lock file, the plugin's code linked in, a ``csbsr`` launcher that answers. The lock file
here pins only numpy (what ``csbsr --version`` imports; pip takes it from the machine's wheel
cache or index); the real one is ``requirements/engine.lock.txt``.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.qgis, pytest.mark.slow]


def _numpy() -> str:
    import numpy

    return numpy.__version__


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX launcher")
def test_setup_creates_an_engine_that_answers(qgis_app, tmp_path: Path) -> None:
    from csbsr.core import __version__
    from csbsr.csbsr_plugin import engine, engine_setup

    lock = tmp_path / "engine.lock.txt"
    lock.write_text(f"numpy=={_numpy()}\n")
    lines = []
    exe = engine_setup.setup_engine(tmp_path / "env", lock, lines.append)
    assert exe == str(tmp_path / "env" / "bin" / "csbsr")
    assert engine.engine_version(exe) == f"csbsr {__version__}"
    assert any(x.startswith("== creating the environment") for x in lines)
    assert lines[-1].startswith("== done")
    # the environment's Python sees this plugin's engine code, QGIS's Python is untouched
    out = subprocess.run([str(tmp_path / "env" / "bin" / "python"), "-c",
                          "import csbsr.core.layout, sys; print(sys.prefix)"],
                         capture_output=True, text=True, env=engine.engine_environment())
    assert out.returncode == 0 and out.stdout.strip() == str(tmp_path / "env")


def test_the_panel_asks_then_sets_up_in_the_background(qgis_app, tmp_path: Path,
                                                       monkeypatch) -> None:
    from csbsr.csbsr_plugin import engine, engine_setup
    from csbsr.csbsr_plugin.engine_panel import EnginePanel
    from qgis.core import QgsApplication
    from qgis.PyQt.QtWidgets import QMessageBox

    monkeypatch.setattr(engine, "default_engine_dir", lambda: tmp_path / "env")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.No)
    panel = EnginePanel()
    assert not panel.ask_and_set_up()  # declined: nothing happens
    assert "1-3 GB" in asked[0] and str(tmp_path / "env") in asked[0]
    assert not (tmp_path / "env").exists()
    lock = tmp_path / "engine.lock.txt"
    lock.write_text(f"numpy=={_numpy()}\n")
    assert panel.set_up(tmp_path / "env", lock)
    end = time.monotonic() + 180
    while panel.task is not None and time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.05)
    try:
        assert panel.task is None
        assert engine.setting_value() == str(tmp_path / "env" / "bin" / "csbsr")
        assert "== done" in panel.log.toPlainText()
        assert "== done" in (tmp_path / "env-setup.log").read_text()
        assert str(tmp_path / "env" / "bin" / "csbsr") in panel.label.text()
    finally:
        engine.set_setting("")
    assert engine_setup.LOCK_FILE.name == "engine.lock.txt"
