"""`make package`: one clean top folder, no tests/caches, and QGIS loads the extracted zip."""
from __future__ import annotations

import os
import runpy
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = runpy.run_path(str(REPO / "scripts" / "package.py"))
    out = tmp_path_factory.mktemp("zip") / "csbsr_plugin.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for path, arc in package["plugin_files"]():
            zf.write(path, arc)
    return out


def test_zip_layout(plugin_zip: Path) -> None:
    names = zipfile.ZipFile(plugin_zip).namelist()
    assert {n.split("/")[0] for n in names} == {"csbsr"}
    for required in ("metadata.txt", "__init__.py", "LICENSE", "csbsr_plugin/plugin.py",
                     "csbsr_plugin/engine.py", "core/detect/detect.py",
                     "resources/styles/crack_lines.qml", "resources/icons/csbsr.svg",
                     "docs/user-guide.md", "docs/screenshots/dock.png",
                     "docs/screenshots/attribute-table.png",
                     "docs/screenshots/report-link.png"):
        assert f"csbsr/{required}" in names, required
    assert not [n for n in names if "/tests/" in n or "__pycache__" in n or n.endswith(
        (".pyc", ".aux.xml")) or "/.venv/" in n or "/runs/" in n]
    if (REPO / "resources" / "models" / "csbsr_lite_x4.safetensors").exists():
        assert "csbsr/resources/models/csbsr_lite_x4.safetensors" in names
        assert "csbsr/resources/models/csbsr_lite_x4.json" in names
    if (REPO / "resources" / "sample" / "sample_ortho.tif").exists():
        assert "csbsr/resources/sample/sample_ortho.tif" in names
    assert any(n.startswith("csbsr/requirements/") for n in names)
    if (REPO / "requirements" / "engine.lock.txt").exists():
        assert "csbsr/requirements/engine.lock.txt" in names
    meta = zipfile.ZipFile(plugin_zip).read("csbsr/metadata.txt").decode()
    for key in ("name=", "qgisMinimumVersion=3.22", "version=", "hasProcessingProvider=yes",
                "icon=resources/icons/csbsr.svg"):
        assert key in meta


@pytest.mark.qgis
@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_loads_the_extracted_zip(plugin_zip: Path, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(plugin_zip).extractall(plugins)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "DISPLAY")}
    env.pop("PYTHONPATH", None)  # QGIS's own Python needs no engine package
    env.update(HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen",
               QGIS_PLUGINPATH=str(plugins))
    enable = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "csbsr"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    res = subprocess.run([str(QGIS_PROCESS), "help", "csbsr:inspectcracks"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "OUTPUT_LINES" in res.stdout and "Inspect cracks" in res.stdout
