"""QGIS's Python needs none of the engine's packages: with torch, pyproj, rasterio, shapely and
pyogrio made unimportable, the plugin loads headless and an inspection runs (the engine does
the work in its own process). Without an engine, the plugin says how to set one up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

BLOCKED = ("torch", "pyproj", "rasterio", "shapely", "pyogrio", "skimage", "skan",
           "safetensors", "scipy")

PROBE = r"""
import json, sys
for name in BLOCKED:
    sys.modules[name] = None             # 'import name' now raises ImportError
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback
app = QgsApplication([], True)           # GUI app, offscreen platform
app.initQgis()
import csbsr
plugin = csbsr.classFactory(None)        # what qgis_process does: iface is None
plugin.initProcessing()
registry = QgsApplication.processingRegistry()
algs = [a.id() for a in registry.providerById("csbsr").algorithms()]
ok, message = registry.algorithmById("csbsr:inspectcracks").canExecute()
out = {"algs": algs, "ok": ok, "message": message}
alg = registry.createAlgorithmById("csbsr:inspectcracks")
feedback = QgsProcessingFeedback()
params = {"INPUT": INPUT, "MODEL": MODEL, "PRECISION": 1, "OUTPUT_FOLDER": OUT,
          "OUTPUT_LINES": OUT + "/lines.gpkg"}
try:
    results, ran = alg.run(params, QgsProcessingContext(), feedback)
except Exception as exc:
    results, ran = {}, False
    feedback.reportError(str(exc))
out.update(ran=ran, n_segments=results.get("N_SEGMENTS"), log=feedback.textLog()[-3000:])
from csbsr.csbsr_plugin.dock import CsbsrDock
dock = CsbsrDock(None)
out.update(engine_text=dock.engine_panel.label.text(), run_enabled=dock.run_button.isEnabled())
dock.shutdown()
plugin.unload()
out["provider_after_unload"] = registry.providerById("csbsr") is not None
out["imported"] = sorted(m for m in BLOCKED if sys.modules.get(m) is not None)
print(json.dumps(out))
"""


def _probe(tmp_path: Path, real_ortho: Path, model: Path, engine: str) -> dict:
    code = (f"BLOCKED = {BLOCKED!r}\nINPUT = {str(real_ortho)!r}\nMODEL = {str(model)!r}\n"
            f"OUT = {str(tmp_path / 'out')!r}\n" + PROBE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), CSBSR_ENGINE=engine)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(tmp_path), env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_an_inspection_needs_no_engine_package_in_qgis(tmp_path: Path, real_ortho: Path,
                                                       tiny_model: Path, engine: Path) -> None:
    out = _probe(tmp_path, real_ortho, tiny_model, str(engine))
    assert {"csbsr:detectcracks", "csbsr:inspectcracks", "csbsr:vectorizecracks",
            "csbsr:crackreport"} <= set(out["algs"])
    assert out["ok"], out["message"]
    assert out["ran"], out["log"]
    assert out["n_segments"] > 0
    assert out["imported"] == []
    assert out["run_enabled"] is False  # no layer chosen yet
    assert str(engine) in out["engine_text"]
    assert not out["provider_after_unload"]


def test_without_an_engine_the_plugin_says_how_to_set_one_up(tmp_path: Path,
                                                             real_ortho: Path,
                                                             tiny_model: Path) -> None:
    out = _probe(tmp_path, real_ortho, tiny_model, str(tmp_path / "no-engine"))
    assert len(out["algs"]) >= 4
    assert not out["ok"] and not out["ran"]
    for text in (out["message"], out["log"]):
        assert "Set up engine" in text and "CSBSR_ENGINE" in text
    assert "No engine is set up" in out["engine_text"]
    assert not (tmp_path / "out").exists()
