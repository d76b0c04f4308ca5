"""The dock panel: built, shows model card and device, runs the algorithm as a task, adds
styled layers in one group, persists its settings in the project."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


@pytest.fixture()
def ortho_layer(real_ortho: Path, tmp_path: Path):
    from qgis.core import QgsProject, QgsRasterLayer

    path = tmp_path / real_ortho.name
    shutil.copyfile(real_ortho, path)
    layer = QgsRasterLayer(str(path), "ortho", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    yield layer
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


@pytest.fixture()
def dock(qgis_iface, provider):
    from csbsr.csbsr_plugin.dock import CsbsrDock

    widget = CsbsrDock(qgis_iface)
    yield widget
    widget.shutdown()
    widget.deleteLater()


def _wait(dock, timeout_s: float = 120.0) -> list:
    """Process events until the dock's task finished (test-only event pumping)."""
    from qgis.core import QgsApplication

    done: list = []
    dock.runFinished.connect(done.append)
    end = time.monotonic() + timeout_s
    while not done and time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        QgsApplication.processEvents()
    return done


def test_dock_runs_and_adds_styled_layers_in_a_group(dock, ortho_layer, tiny_model: Path,
                                                     tmp_path: Path) -> None:
    from qgis.core import QgsProject

    dock.raster_combo.setLayer(ortho_layer)
    dock.model_widget.setFilePath(str(tiny_model))
    assert "x4 super-resolution" in dock.card_label.text()
    dock.refresh_device()
    assert "CPU" in dock.device_label.text()
    dock.out_widget.setFilePath(str(tmp_path / "runs"))
    dock.threshold_spin.setValue(0.5)
    dock.advanced = {"PRECISION": 1}
    assert dock.run()
    assert not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    assert dock.task is not None and dock.context is not None and dock.feedback is not None
    assert _wait(dock) == [True], dock.status_label.text() + dock.log_view.toPlainText()
    assert dock.progress_bar.value() == 100
    assert "crack segments" in dock.status_label.text()
    group = dock.last_group
    assert group is not None and group.name().startswith("CSBSR ")
    assert QgsProject.instance().layerTreeRoot().children()[0] is group
    names = [layer.name() for layer in dock.last_layers]
    assert any(n.endswith("crack lines") for n in names)
    assert any(n.endswith("crack probability") for n in names)
    lines = next(layer for layer in dock.last_layers if layer.name().endswith("crack lines"))
    assert lines.renderer().type() == "categorizedSymbol"
    assert lines.labelsEnabled()
    prob = next(layer for layer in dock.last_layers if layer.name().endswith("probability"))
    assert prob.renderer().type() == "singlebandpseudocolor"
    assert all(QgsProject.instance().mapLayer(layer.id()) for layer in dock.last_layers)
    assert dock.run_button.isEnabled() and dock.task is None
    outputs = list((tmp_path / "runs").iterdir())
    assert len(outputs) == 1 and outputs[0].name.startswith(Path(ortho_layer.source()).stem)
    # the run folder is a complete run: the Report button writes the PDF from it
    assert dock.report_button.isEnabled()
    pdf = dock.make_report()
    assert pdf is not None and pdf.exists() and pdf.stat().st_size > 10_000, \
        dock.status_label.text()
    assert "pages" in dock.status_label.text()


def test_dock_cancel_leaves_no_files(dock, ortho_layer, tiny_model: Path,
                                     tmp_path: Path) -> None:
    dock.raster_combo.setLayer(ortho_layer)
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(tmp_path / "runs"))
    dock.advanced = {"PRECISION": 1, "TILE_PX": 32}
    assert dock.run()
    dock.cancel()
    assert _wait(dock) == [False]
    assert "cancel" in dock.status_label.text()
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()] \
        if (tmp_path / "runs").exists() else []
    assert files == []


def test_dock_explains_bad_inputs_without_running(dock, qgis_iface) -> None:
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()
    assert not dock.run()
    assert "choose an orthophoto" in dock.status_label.text()
    dock.model_widget.setFilePath("/nonexistent/model.safetensors")
    assert "not found" in dock.card_label.text()


def test_dock_area_modes_build_parameters(dock, ortho_layer, qgis_iface) -> None:
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    dock.raster_combo.setLayer(ortho_layer)
    dock.area_combo.setCurrentIndex(1)
    params = dock.build_parameters()
    assert params["EXTENT"].endswith("]") and "AOI" not in params
    aoi = QgsVectorLayer(f"Polygon?crs={ortho_layer.crs().authid()}", "aoi", "memory")
    feat = QgsFeature()
    feat.setGeometry(QgsGeometry.fromRect(ortho_layer.extent()))
    aoi.dataProvider().addFeatures([feat])
    QgsProject.instance().addMapLayer(aoi)
    dock.area_combo.setCurrentIndex(2)
    dock.aoi_combo.setLayer(aoi)
    with pytest.raises(ValueError, match="select at least one polygon"):
        dock.build_parameters()
    aoi.selectAll()
    params = dock.build_parameters()
    assert params["AOI"].selectedFeaturesOnly and "EXTENT" not in params


def test_settings_persist_in_the_project(dock, ortho_layer, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin import settings
    from qgis.core import QgsProject

    dock.raster_combo.setLayer(ortho_layer)
    dock.save_settings()  # layer choices are stored on Run (or explicitly)
    dock.threshold_spin.setValue(0.35)
    dock.device_combo.setCurrentIndex(1)
    dock.out_widget.setFilePath(str(tmp_path))
    dock.sr_check.setChecked(True)
    stored = settings.load(QgsProject.instance())
    assert stored["threshold"] == pytest.approx(0.35)
    assert stored["device"] == 1 and stored["save_sr"] is True
    assert stored["raster_layer"] == ortho_layer.id()
    project_file = tmp_path / "p.qgz"
    assert QgsProject.instance().write(str(project_file))
    dock.threshold_spin.setValue(0.8)
    assert QgsProject.instance().read(str(project_file))
    assert dock.threshold_spin.value() == pytest.approx(0.35)
    assert dock.sr_check.isChecked()
