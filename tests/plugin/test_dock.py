"""The dock panel: what it says before a run (resolution, model, engine), the inspector's
options, a run through the task with styled layers in one group and the report linked,
cancel, settings in the project."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SHIPPED_CARD = (Path(__file__).resolve().parents[2] / "resources" / "models"
                / "csbsr_lite2_x4.json")

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





def test_dock_runs_and_adds_styled_layers_in_a_group(wait_for, dock, ortho_layer,
                                                     tiny_model: Path,
                                                     tmp_path: Path, qgis_iface) -> None:
    from qgis.core import QgsProject
    from qgis.PyQt.QtWidgets import QPushButton

    dock.raster_combo.setLayer(ortho_layer)
    dock.model_widget.setFilePath(str(tiny_model))
    assert "4x sharpened" in dock.card_label.text()
    dock.refresh_device(wait=True)
    assert "CPU" in dock.device_label.text()
    dock.out_widget.setFilePath(str(tmp_path / "runs"))
    dock.threshold_spin.setValue(0.5)
    dock.standard_combo.setCurrentIndex(1)  # LTPP
    dock.axis_check.setChecked(True)
    dock.axis_spin.setValue(90.0)
    dock.report_check.setChecked(True)
    dock.advanced = {"PRECISION": 1}
    assert dock.run_button.isEnabled()
    assert dock.run()
    assert not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    assert dock.task is not None and dock.context is not None and dock.feedback is not None
    assert wait_for(dock.runFinished) == [True], dock.status_label.text() + \
        dock.log_view.toPlainText()
    assert dock.progress_bar.value() == 100
    assert "crack segments" in dock.status_label.text()
    # one group named after the orthophoto, at the top; layers named after it too
    stem = Path(ortho_layer.source()).stem
    group = dock.last_group
    assert group is not None and group.name().startswith(stem)
    assert QgsProject.instance().layerTreeRoot().children()[0] is group
    names = [layer.name() for layer in dock.last_layers]
    assert f"{stem} - crack lines" in names and f"{stem} - crack probability (0-1)" in names
    lines = next(layer for layer in dock.last_layers if layer.name().endswith("crack lines"))
    assert lines.renderer().type() == "categorizedSymbol"
    labels = [c.label() for c in lines.renderer().categories()]
    assert "Low: < 6 mm, FHWA LTPP" in labels  # the run's standard, with the width limits
    assert {f["ctype"] for f in lines.getFeatures()} <= {"long", "trans", "diag", "block",
                                                         "alligator"}
    assert all(QgsProject.instance().mapLayer(layer.id()) for layer in dock.last_layers)
    assert dock.run_button.isEnabled() and dock.task is None
    outputs = list((tmp_path / "runs").iterdir())
    assert len(outputs) == 1 and outputs[0].name.startswith(stem)
    # the report was made in the run's task and is linked, in the panel and the message bar
    assert set(dock.last_report) == {"PDF", "HTML"}
    assert Path(dock.last_report["PDF"]).stat().st_size > 10_000
    assert "PDF report</a>" in dock.status_label.text()
    bar_buttons = [b.text() for b in qgis_iface.messageBar().findChildren(QPushButton)]
    assert "Open PDF report" in bar_buttons
    # and the Report button remakes it from the run folder, in the background
    assert dock.make_report()
    pdf = wait_for(dock.reportFinished)
    assert pdf and pdf[0] and Path(pdf[0]).is_file()


def test_attribute_table_speaks_to_an_inspector(qgis_app, tmp_path: Path) -> None:
    """Aliases, precision, value maps and hidden technical fields, from core.records."""
    from csbsr.core.records import FIELDS
    from csbsr.csbsr_plugin.styling import style_layer
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    kinds = {"float": "double", "int": "integer", "str": "string"}
    layer = QgsVectorLayer("LineString?crs=EPSG:32633&" + "&".join(
        f"field={f.name}:{kinds[f.type]}" for f in FIELDS), "l", "memory")
    feat = QgsFeature(layer.fields())
    feat.setGeometry(QgsGeometry.fromPolylineXY([QgsPointXY(0, 0), QgsPointXY(1, 1)]))
    feat["len_m"], feat["w_med_mm"], feat["sev"], feat["ctype"] = 1.23456, 7.891, "M", "trans"
    layer.dataProvider().addFeatures([feat])
    style_layer(layer, "cracks", "road", {"standard": "D6433", "thresholds_mm": [10, 75]})
    assert layer.name() == "road - crack lines"
    idx = layer.fields().indexOf
    assert layer.attributeDisplayName(idx("len_m")) == "Length (m)"
    assert layer.attributeDisplayName(idx("w_med_mm")) == "Median width (mm)"
    f = next(layer.getFeatures())

    def shown(name: str) -> str:
        setup = layer.editorWidgetSetup(idx(name))
        from qgis.core import QgsApplication

        formatter = QgsApplication.fieldFormatterRegistry().fieldFormatter(setup.type())
        return formatter.representValue(layer, idx(name), setup.config(), None, f[name])

    assert shown("len_m") == "1.235" and shown("w_med_mm") == "7.9"
    assert shown("sev") == "Medium" and shown("ctype") == "Transverse"
    hidden = {c.name for c in layer.attributeTableConfig().columns() if c.hidden and c.name}
    assert hidden == {x.name for x in FIELDS if x.technical}
    assert layer.editorWidgetSetup(idx("proc_ver")).type() == "Hidden"
    labels = [c.label() for c in layer.renderer().categories()]
    assert labels[:3] == ["High: > 75 mm, ASTM D6433", "Medium: 10-75 mm, ASTM D6433",
                          "Low: < 10 mm, ASTM D6433"]


def test_dock_cancel_leaves_no_files_nor_folder(wait_for, dock, ortho_layer,
                                                tiny_model: Path,
                                                tmp_path: Path) -> None:
    dock.raster_combo.setLayer(ortho_layer)
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(tmp_path / "runs"))
    dock.advanced = {"PRECISION": 1, "TILE_PX": 32}
    assert dock.run()
    dock.cancel()
    assert wait_for(dock.runFinished) == [False]
    assert "cancelled" in dock.status_label.text() and "failed" not in dock.status_label.text()
    assert not (tmp_path / "runs").exists()  # no empty run folder either


def test_gsd_is_said_before_running(dock, qgis_iface, shared_ortho: Path,
                                    sample_ortho: Path) -> None:
    from qgis.core import QgsProject, QgsRasterLayer

    coarse = QgsRasterLayer(str(shared_ortho / "usgs_hro_colorado_201404_13SED190110_15cm.tif"),
                            "usgs", "gdal")
    fine = QgsRasterLayer(str(sample_ortho), "sample", "gdal")
    QgsProject.instance().addMapLayers([coarse, fine])
    try:
        # the shipped model's threshold and hysteresis seed, in words
        card = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
        t, seed = card["recommended_threshold"], card["recommended_seed_threshold"]
        assert dock.threshold_spin.specialValueText() == f"model's recommended ({t:.2f})"
        assert f"{seed:.2f} somewhere" in dock.threshold_spin.toolTip()
        assert dock.seed_spin.specialValueText() == f"model's recommended ({seed:.2f})"
        assert "fainter cracks" in dock.seed_spin.toolTip()
        assert "SEED_THRESHOLD" not in dock.build_parameters()  # the card's seed then
        dock.raster_combo.setLayer(fine)
        assert "8 mm/px; the model expects 8 mm/px" in dock.gsd_label.text()
        assert "#1a7f37" in dock.gsd_label.text()  # ok
        dock.raster_combo.setLayer(coarse)
        text = dock.gsd_label.text()
        assert "cannot be seen at 150 mm/px" in text and "will be refused" in text
        assert "Keep the orthophoto" in text
        dock.gsd_policy_combo.setCurrentIndex(1)  # native: runs anyway, with a warning
        assert "expect poor results" in dock.gsd_label.text()
        assert dock.build_parameters()["GSD_POLICY"] == 1
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_dock_explains_bad_inputs_and_disables_run(dock, ortho_layer) -> None:
    from qgis.core import QgsProject
    from qgis.PyQt.QtWidgets import QScrollArea

    assert isinstance(dock.widget(), QScrollArea)  # small docks scroll
    dock.raster_combo.setLayer(ortho_layer)
    assert dock.run_button.isEnabled()
    dock.model_widget.setFilePath("/nonexistent/model.safetensors")
    assert "not found" in dock.card_label.text()
    assert not dock.run_button.isEnabled()
    dock.model_widget.setFilePath("")
    assert dock.run_button.isEnabled()
    QgsProject.instance().removeAllMapLayers()
    assert not dock.run_button.isEnabled()
    assert not dock.run()
    assert "choose an orthophoto" in dock.status_label.text()
    assert "unclassified" in dock.axis_label.text()


def test_dock_area_modes_build_parameters(dock, ortho_layer, qgis_iface) -> None:
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    dock.raster_combo.setLayer(ortho_layer)
    dock.area_combo.setCurrentIndex(1)
    params = dock.build_parameters()
    assert params["EXTENT"].endswith("]") and "AOI" not in params
    assert "OUTPUT_LINES" not in params  # the panel loads the run folder itself
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


def test_results_default_to_the_project_folder(dock, ortho_layer, tmp_path: Path) -> None:
    """Never beside the orthophoto: the shipped sample lives in the plugin folder."""
    from qgis.core import QgsProject

    assert dock.out_widget.filePath() == ""
    folder = Path(dock.build_parameters()["OUTPUT_FOLDER"])
    if not QgsProject.instance().absolutePath():
        assert folder.parent == Path.home() / "csbsr_results"
    project_file = tmp_path / "site" / "inspection.qgz"
    project_file.parent.mkdir()
    assert QgsProject.instance().write(str(project_file))
    try:
        folder = Path(dock.build_parameters()["OUTPUT_FOLDER"])
        assert folder.parent == project_file.parent / "csbsr_results"
        assert folder.name.startswith(Path(ortho_layer.source()).stem)
    finally:
        QgsProject.instance().clear()


def test_settings_persist_in_the_project(dock, ortho_layer, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin import settings
    from qgis.core import QgsProject

    dock.raster_combo.setLayer(ortho_layer)
    dock.threshold_spin.setValue(0.35)
    dock.seed_spin.setValue(0.9)
    dock.device_combo.setCurrentIndex(1)
    dock.out_widget.setFilePath(str(tmp_path))
    dock.sr_check.setChecked(True)
    dock.standard_combo.setCurrentIndex(1)
    dock.axis_check.setChecked(True)
    dock.axis_spin.setValue(12.5)
    dock.min_len_spin.setValue(20.0)
    dock.gsd_policy_combo.setCurrentIndex(1)
    stored = settings.load(QgsProject.instance())
    assert stored["threshold"] == pytest.approx(0.35) and stored["seed"] == pytest.approx(0.9)
    assert stored["device"] == 1 and stored["save_sr"] is True
    assert stored["raster_layer"] == ortho_layer.id()
    assert stored["standard"] == 1 and stored["use_axis"] and stored["axis_deg"] == 12.5
    project_file = tmp_path / "p.qgz"
    assert QgsProject.instance().write(str(project_file))
    dock.threshold_spin.setValue(0.8)
    dock.seed_spin.setValue(0.0)
    dock.min_len_spin.setValue(1.0)
    assert QgsProject.instance().read(str(project_file))
    assert dock.threshold_spin.value() == pytest.approx(0.35)
    assert dock.sr_check.isChecked() and dock.min_len_spin.value() == 20.0
    assert dock.gsd_policy_combo.currentIndex() == 1
    params = dock.build_parameters()
    assert params["ROAD_AZIMUTH"] == 12.5 and params["MIN_CRACK_LENGTH_CM"] == 20.0
    assert params["STANDARD"] == 1
    assert params["THRESHOLD"] == pytest.approx(0.35)
    assert params["SEED_THRESHOLD"] == pytest.approx(0.9)
    QgsProject.instance().clear()
