"""The provider registers its algorithms, each with plain modeler-friendly parameters; the
plugin's menu; Diagnostics names the engine, its Python, torch and the device."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

IDS = ("csbsr:detectcracks", "csbsr:vectorizecracks", "csbsr:inspectcracks",
       "csbsr:crackreport", "csbsr:comparesurveys")


def test_every_algorithm_is_registered(provider) -> None:
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    assert provider.id() == "csbsr"
    for alg_id in IDS:
        alg = registry.algorithmById(alg_id)
        assert alg is not None, alg_id
        ok, message = alg.canExecute()
        assert ok, message
        assert alg.shortHelpString()
        assert alg.helpUrl().startswith("file://") and "user-guide" in alg.helpUrl()
        names = [p.name() for p in alg.parameterDefinitions()]
        assert len(names) == len(set(names))
        assert all(n.isupper() for n in names)


def test_outputs_are_declared_for_the_modeler(provider) -> None:
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("csbsr:inspectcracks")
    outputs = {o.name() for o in alg.outputDefinitions()}
    assert {"PROB", "MASK", "OUTPUT_LINES", "OUTPUT_NODES", "TOTAL_LENGTH_M"} <= outputs


def test_diagnostics_report_names_versions_and_device(qgis_app) -> None:
    from csbsr.csbsr_plugin.diagnostics import report_text

    text = report_text("auto")
    for label in ("qgis", "engine ", "engine python", "torch", "rasterio", "gpu", "device",
                  "model"):
        assert any(line.startswith(label) for line in text.splitlines()), label
    engine_line = next(line for line in text.splitlines() if line.startswith("engine "))
    assert "CSBSR_ENGINE" in engine_line
    assert "3.22" in text or "3.2" in text
    assert "CPU" in text or "CUDA" in text


def test_diagnose_cli(capsys: pytest.CaptureFixture) -> None:
    from csbsr.core.cli import main

    assert main(["diagnose", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "CPU" in out and "torch" in out


def test_init_gui_and_unload_with_an_interface(qgis_iface, qgis_processing, tmp_path,
                                                monkeypatch) -> None:
    import csbsr
    from qgis.core import QgsApplication, QgsProject

    monkeypatch.setenv("HOME", str(tmp_path))
    QgsProject.instance().clear()  # unsaved: results go to ~/csbsr_results
    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("csbsr")
    if existing is not None:  # the session fixture's provider: unregister it for this test
        registry.removeProvider(existing)
    plugin = csbsr.classFactory(qgis_iface)
    try:
        plugin.initGui()
        assert registry.providerById("csbsr") is not None
        names = [a.text() for a in plugin.actions]
        assert names == ["CSBSR crack inspection panel", "Load sample orthophoto",
                         "CSBSR diagnostics (engine, GPU)...", "CSBSR user guide"]
        plugin.toggle_dock(True)
        assert plugin.dock is not None and plugin.dock.objectName() == "CsbsrDock"
        layer = plugin.load_sample()  # the menu action: a copy outside the plugin folder
        assert layer is not None and layer.isValid()
        assert Path(layer.source()).parent == Path.home() / "csbsr_results" / "sample"
        assert plugin.dock.raster_combo.currentLayer() is layer
        assert "8 mm/px" in plugin.dock.gsd_label.text()
    finally:
        plugin.unload()
    assert registry.providerById("csbsr") is None and plugin.dock is None
    QgsProject.instance().removeAllMapLayers()
