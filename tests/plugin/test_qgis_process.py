"""End to end through QGIS's own command line: ``qgis_process.bin run csbsr:inspectcracks``.

A throw-away HOME holds the QGIS profile; QGIS_PLUGINPATH points at a folder with a symlink
``csbsr`` -> the repository (what ``make deploy`` does for a real profile). QGIS's own Python
gets no extra path: it needs none of the engine's packages; the engine (``CSBSR_ENGINE``) runs
in its own environment.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "csbsr").symlink_to(REPO, target_is_directory=True)
    (tmp_path / "home").mkdir()
    # pytest-qgis points QGIS_CUSTOM_CONFIG_PATH at the repo's .qgis-settings: drop it so the
    # profile lives under the throw-away HOME
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA", "GDAL_DRIVER_PATH", "DISPLAY",
                        "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "PYTHONPATH")}
    env.update(HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen",
               QGIS_PLUGINPATH=str(plugins))
    assert "CSBSR_ENGINE" in env
    return env


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_process_runs_inspectcracks(tiny_model: Path, real_ortho: Path,
                                         tmp_path: Path) -> None:
    env = _env(tmp_path)
    enable = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "csbsr"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert enable.returncode == 0, enable.stderr[-2000:]
    listing = subprocess.run([str(QGIS_PROCESS), "list"], env=env, capture_output=True,
                             text=True, timeout=60)
    for alg in ("csbsr:detectcracks", "csbsr:vectorizecracks", "csbsr:inspectcracks",
                "csbsr:crackreport"):
        assert alg in listing.stdout
    out = tmp_path / "out"
    res = subprocess.run(
        [str(QGIS_PROCESS), "run", "csbsr:inspectcracks", "--json", "--",
         f"INPUT={real_ortho}", f"MODEL={tiny_model}", "PRECISION=1", "STANDARD=1",
         "CREATE_REPORT=true", f"OUTPUT_FOLDER={out}", f"OUTPUT_LINES={out / 'cracks.gpkg'}",
         f"OUTPUT_NODES={out / 'nodes.shp'}"],
        env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(res.stdout)["results"]
    assert results["DEVICE_USED"].startswith("CPU")
    assert results["N_SEGMENTS"] > 0
    assert Path(results["PROB"]).is_file() and Path(results["MASK"]).is_file()
    # the output folder is a complete run folder, with both reports
    stem = real_ortho.stem
    for suffix in ("_cracks.gpkg", "_summary.json", "_report.json", "_report.html",
                   "_report.pdf", "_run.json"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    assert results["REPORT_PDF"] == str(out / f"{stem}_report.pdf")

    from qgis.core import QgsRasterLayer, QgsVectorLayer

    lines = QgsVectorLayer(results["OUTPUT_LINES"], "l", "ogr")
    nodes = QgsVectorLayer(str(out / "nodes.shp"), "n", "ogr")
    ortho = QgsRasterLayer(str(real_ortho), "o", "gdal")
    assert lines.isValid() and nodes.isValid()
    assert lines.featureCount() == results["N_SEGMENTS"]
    assert lines.crs() == ortho.crs() == nodes.crs()
    assert {f["sev_std"] for f in lines.getFeatures()} == {"LTPP"}
    assert "w_med_mm" in lines.fields().names() and "n_kind" in nodes.fields().names()


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_process_reports_a_bad_input_cleanly(tmp_path: Path) -> None:
    env = _env(tmp_path)
    enable = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "csbsr"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert enable.returncode == 0, enable.stdout[-2000:] + enable.stderr[-2000:]
    res = subprocess.run(
        [str(QGIS_PROCESS), "run", "csbsr:detectcracks", "--",
         f"INPUT={REPO / 'README.md'}", f"OUTPUT_FOLDER={tmp_path / 'o'}"],
        env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "INPUT" in res.stdout + res.stderr
