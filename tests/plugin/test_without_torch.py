"""The plugin loads headless without importing torch, and explains a missing torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
if BLOCK_TORCH:
    sys.modules["torch"] = None          # 'import torch' now raises ImportError
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback
app = QgsApplication([], True)           # GUI app, offscreen platform
app.initQgis()
import csbsr
plugin = csbsr.classFactory(None)        # what qgis_process does: iface is None
plugin.initProcessing()
registry = QgsApplication.processingRegistry()
algs = [a.id() for a in registry.providerById("csbsr").algorithms()]
ok, message = registry.algorithmById("csbsr:inspectcracks").canExecute()
torch_after_load = "torch" in sys.modules and sys.modules["torch"] is not None
error = ""
if BLOCK_TORCH:
    from qgis.core import QgsProcessingException
    alg = registry.createAlgorithmById("csbsr:detectcracks")
    feedback = QgsProcessingFeedback()
    try:                                 # run() reports the exception to the feedback
        _res, ran = alg.run({"INPUT": INPUT, "OUTPUT_FOLDER": OUT}, QgsProcessingContext(),
                            feedback)
        error = "" if ran else feedback.textLog()
    except QgsProcessingException as exc:
        error = str(exc)
    from csbsr.csbsr_plugin.dock import CsbsrDock
    dock = CsbsrDock(None)
    dock_text = dock.deps_text.toPlainText()
    run_enabled = dock.run_button.isEnabled()
    dock.shutdown()
else:
    dock_text, run_enabled = "", None
plugin.unload()
print(json.dumps({"algs": algs, "ok": ok, "message": message, "error": error,
                  "torch_after_load": torch_after_load, "dock_text": dock_text,
                  "run_enabled": run_enabled,
                  "provider_after_unload": registry.providerById("csbsr") is not None}))
"""


def _probe(block_torch: bool, tmp_path: Path, real_ortho: Path) -> dict:
    code = (f"BLOCK_TORCH = {block_torch}\nINPUT = {str(real_ortho)!r}\n"
            f"OUT = {str(tmp_path / 'out')!r}\n" + PROBE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(tmp_path), env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_loading_the_plugin_does_not_import_torch(tmp_path: Path, real_ortho: Path) -> None:
    out = _probe(False, tmp_path, real_ortho)
    assert {"csbsr:detectcracks", "csbsr:inspectcracks",
            "csbsr:vectorizecracks"} <= set(out["algs"])
    assert out["ok"] and not out["torch_after_load"]
    assert not out["provider_after_unload"]


def test_without_torch_the_plugin_loads_and_says_how_to_install(tmp_path: Path,
                                                                 real_ortho: Path) -> None:
    out = _probe(True, tmp_path, real_ortho)
    assert len(out["algs"]) >= 3
    assert not out["ok"]
    for text in (out["message"], out["error"], out["dock_text"]):
        assert "torch" in text
        assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in text
    assert out["run_enabled"] is False
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_install_instructions_per_platform() -> None:
    from csbsr.csbsr_plugin.deps import missing_message

    win = missing_message(["torch", "skan"], "Windows")
    mac = missing_message(["torch"], "Darwin")
    linux = missing_message(["torch"], "Linux")
    assert "OSGeo4W Shell" in win and "python -m pip install skan" in win
    assert "/cu124" in win and "/cu124" in linux and "/cu124" not in mac
    assert "QGIS.app/Contents/MacOS/bin/python3 -m pip install torch" in mac
    assert "python3 -m pip install torch" in linux
    assert missing_message([], "Linux") == ""
    # the plugin never runs pip (nor anything else) itself
    for path in (REPO / "csbsr_plugin").rglob("*.py"):
        assert "subprocess" not in path.read_text(encoding="utf-8"), path
