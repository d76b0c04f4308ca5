"""``CsbsrDock``: the dock panel. It builds the parameters of ``csbsr:inspectcracks``, runs
it through ``QgsProcessingAlgRunnerTask`` and adds the styled outputs in one layer group.

No compute logic here: the task, context and feedback are kept as attributes until the task's
``executed`` signal fires on the main thread.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsApplication,
    QgsMapLayerProxyModel,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import deps, settings
from .algorithms.detect_cracks import DEVICE_LABELS, DEVICES
from .styling import apply_style

ALG_ID = "csbsr:inspectcracks"
AREAS = ("Whole layer", "Map canvas extent", "Selected polygons")


class RunFeedback(QgsProcessingFeedback):
    """A Processing feedback that also emits status text and warnings as Qt signals."""

    statusChanged = pyqtSignal(str)
    warned = pyqtSignal(str)

    def setProgressText(self, text: str) -> None:
        super().setProgressText(text)
        self.statusChanged.emit(text)

    def pushWarning(self, text: str) -> None:
        super().pushWarning(text)
        self.warned.emit(text)

    def reportError(self, text: str, fatalError: bool = False) -> None:
        super().reportError(text, fatalError)
        self.warned.emit(text)


class CsbsrDock(QgsDockWidget):
    """Orthophoto, area, model (with its card), device, threshold, output folder, Run/Cancel."""

    runFinished = pyqtSignal(bool)

    def __init__(self, iface: Optional[Any] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__("CSBSR crack inspection", parent)
        self.setObjectName("CsbsrDock")
        self.iface = iface
        self.task: Optional[QgsProcessingAlgRunnerTask] = None
        self.context: Optional[QgsProcessingContext] = None
        self.feedback: Optional[RunFeedback] = None
        self.algorithm: Any = None
        self.params: Dict[str, Any] = {}
        # extra Processing parameters passed through unchanged (e.g. {"TILE_PX": 256}); the
        # panel shows the common ones, the toolbox dialog has all of them
        self.advanced: Dict[str, Any] = {}
        self.last_group: Any = None
        self.last_layers: List[Any] = []
        self._loading = False
        self._build()
        self.load_settings()
        project = QgsProject.instance()
        project.readProject.connect(self.load_settings)
        project.cleared.connect(self.load_settings)
        self.missing = deps.missing_message()
        self._show_dependencies()
        if not self.missing:
            QTimer.singleShot(0, self.refresh_device)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.raster_combo = QgsMapLayerComboBox()
        self.raster_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        form.addRow("Orthophoto", self.raster_combo)
        self.area_combo = QComboBox()
        self.area_combo.addItems(AREAS)
        form.addRow("Area", self.area_combo)
        self.aoi_combo = QgsMapLayerComboBox()
        self.aoi_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        form.addRow("Polygons", self.aoi_combo)
        self.model_widget = QgsFileWidget()
        self.model_widget.setFilter("CSBSR model (*.safetensors)")
        self.model_widget.lineEdit().setPlaceholderText("shipped default model")
        form.addRow("Model", self.model_widget)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form.addRow("", self.card_label)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICE_LABELS)
        form.addRow("Device", self.device_combo)
        self.device_label = QLabel("device: not checked yet")
        self.device_label.setWordWrap(True)
        form.addRow("", self.device_label)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, 0.99)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setSpecialValueText("model's recommended")
        form.addRow("Threshold", self.threshold_spin)
        self.out_widget = QgsFileWidget()
        self.out_widget.setStorageMode(QgsFileWidget.GetDirectory)
        self.out_widget.lineEdit().setPlaceholderText("next to the orthophoto (csbsr_results)")
        form.addRow("Output folder", self.out_widget)
        self.sr_check = QCheckBox("Also write the super-resolved image")
        form.addRow("", self.sr_check)
        layout.addLayout(form)

        self.deps_box = QGroupBox("Missing Python packages")
        deps_layout = QVBoxLayout(self.deps_box)
        self.deps_text = QPlainTextEdit()
        self.deps_text.setReadOnly(True)
        self.deps_text.setMaximumHeight(160)
        deps_layout.addWidget(self.deps_text)
        layout.addWidget(self.deps_box)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.diag_button = QPushButton("Diagnostics")
        self.report_button = QPushButton("Report")
        self.report_button.setToolTip("PDF inspection report of the last run (csbsr:crackreport)")
        self.report_button.setEnabled(False)
        for b in (self.run_button, self.cancel_button, self.report_button, self.diag_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumHeight(90)
        layout.addWidget(self.log_view)
        layout.addStretch(1)
        self.setWidget(body)

        self.area_combo.currentIndexChanged.connect(self._area_changed)
        self.model_widget.fileChanged.connect(self._model_changed)
        self.device_combo.currentIndexChanged.connect(self.refresh_device)
        # the layer combos also change while a project loads its layers (after its entries
        # were read), so they are saved on Run, not on every change
        for signal in (self.threshold_spin.valueChanged, self.out_widget.fileChanged,
                       self.sr_check.toggled):
            signal.connect(self.save_settings)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.diag_button.clicked.connect(self.show_diagnostics)
        self.report_button.clicked.connect(self.make_report)
        self._area_changed()
        self._model_changed()

    def _show_dependencies(self) -> None:
        self.deps_box.setVisible(bool(self.missing))
        self.deps_text.setPlainText(self.missing)
        self.run_button.setEnabled(not self.missing)
        if self.missing:
            self.device_label.setText("device: unknown until the missing packages are installed")

    # ------------------------------------------------------------------ settings
    def load_settings(self, *_args: Any) -> None:
        """Restore the widgets from the current project's entries."""
        values = settings.load(QgsProject.instance())
        self._loading = True
        try:
            layer = QgsProject.instance().mapLayer(values["raster_layer"])
            if layer is not None:
                self.raster_combo.setLayer(layer)
            self.area_combo.setCurrentIndex(int(values["area"]))
            aoi = QgsProject.instance().mapLayer(values["aoi_layer"])
            if aoi is not None:
                self.aoi_combo.setLayer(aoi)
            self.model_widget.setFilePath(values["model"])
            self.device_combo.setCurrentIndex(int(values["device"]))
            self.threshold_spin.setValue(float(values["threshold"]))
            self.out_widget.setFilePath(values["out_dir"])
            self.sr_check.setChecked(bool(values["save_sr"]))
        finally:
            self._loading = False

    def current_values(self) -> Dict[str, Any]:
        """The widget values as settings."""
        raster = self.raster_combo.currentLayer()
        aoi = self.aoi_combo.currentLayer()
        return {
            "raster_layer": raster.id() if raster else "", "area": self.area_combo.currentIndex(),
            "aoi_layer": aoi.id() if aoi else "", "model": self.model_widget.filePath(),
            "device": self.device_combo.currentIndex(), "threshold": self.threshold_spin.value(),
            "out_dir": self.out_widget.filePath(), "save_sr": self.sr_check.isChecked(),
        }

    def save_settings(self, *_args: Any) -> None:
        """Store the widget values in the current project."""
        if not self._loading:
            settings.save(QgsProject.instance(), self.current_values())

    # ------------------------------------------------------------------ model and device
    def _area_changed(self, *_args: Any) -> None:
        self.aoi_combo.setEnabled(self.area_combo.currentIndex() == 2)
        self.save_settings()

    def _model_changed(self, *_args: Any) -> None:
        self.card_label.setText(self.model_card_text())
        self.save_settings()

    def model_card_text(self) -> str:
        """One paragraph on the chosen model's card (scale, input GSD, threshold, metrics)."""
        from ..core.errors import CsbsrError
        from ..core.model.card import default_model_path, read_card

        path = self.model_widget.filePath() or str(default_model_path())
        try:
            card = read_card(path)
        except CsbsrError as exc:
            return f"<span style='color:#b00'>{exc}</span>"
        gsd = (f"{card.input_gsd_m * 1000:.3g} mm/px" if card.input_gsd_m else "any GSD")
        flat = []
        for key, value in card.metrics.items():  # one level of nesting ({"val": {...}})
            items = value.items() if isinstance(value, dict) else [(key, value)]
            flat += [(k, v) for k, v in items
                     if isinstance(v, (int, float)) and not isinstance(v, bool)]
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in flat[:5])
        text = (f"<b>{Path(path).stem}</b>: x{card.scale} super-resolution, input {gsd}, "
                f"threshold {card.recommended_threshold:.2f}")
        if metrics:
            text += f"<br>validation: {metrics}"
        return text

    def device_spec(self) -> str:
        """The device parameter value ("auto", "cpu" or "cuda")."""
        return DEVICES[self.device_combo.currentIndex()]

    def refresh_device(self, *_args: Any) -> None:
        """Show which device a run would use (imports torch on first call)."""
        self.save_settings()
        if self.missing:
            return
        from ..core.errors import CsbsrError
        from . import native_libs

        native_libs.isolate()
        try:
            from ..core.device import resolve_device

            choice = resolve_device(self.device_spec())
            text = f"will run on <b>{choice.description}</b>"
        except CsbsrError as exc:
            text = f"<span style='color:#b00'>{exc}</span>"
        self.device_label.setText(text)

    def show_diagnostics(self) -> None:
        """Open the diagnostics report."""
        from .diagnostics import show_report_dialog

        self._diag = show_report_dialog(self, self.device_spec(),
                                        self.model_widget.filePath() or None)

    # ------------------------------------------------------------------ running
    def output_folder(self, raster_path: str) -> Path:
        """The run folder: ``<output folder>/<stem>_<YYYYmmdd-HHMMSS>`` (never overwrites)."""
        base = self.out_widget.filePath()
        if not base:
            base = str(Path(raster_path).parent / "csbsr_results")
            if not os.access(Path(raster_path).parent, os.W_OK):
                base = str(Path.home() / "csbsr_results")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return Path(base) / f"{Path(raster_path).stem}_{stamp}"

    def build_parameters(self) -> Dict[str, Any]:
        """The ``csbsr:inspectcracks`` parameters of the current widget values.

        Raises:
            ValueError: with a user message when the inputs are incomplete.
        """
        layer = self.raster_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer):
            raise ValueError("choose an orthophoto (a raster layer) first")
        if layer.providerType() != "gdal":
            raise ValueError(f"'{layer.name()}' is not a file: export it to GeoTIFF first")
        path = layer.source().split("|")[0]
        folder = self.output_folder(path)
        stem = Path(path).stem
        params: Dict[str, Any] = {
            "INPUT": path, "DEVICE": self.device_combo.currentIndex(),
            "SAVE_SR": self.sr_check.isChecked(), "OUTPUT_FOLDER": str(folder),
            # one GeoPackage with the layer names of `csbsr run`, so that the run folder is
            # a complete run (the report reads crack_seg / crack_node)
            "OUTPUT_LINES": _gpkg_layer(folder / f"{stem}_cracks.gpkg", "crack_seg"),
            "OUTPUT_NODES": _gpkg_layer(folder / f"{stem}_nodes.gpkg", "crack_node"),
        }
        if self.model_widget.filePath():
            params["MODEL"] = self.model_widget.filePath()
        if self.threshold_spin.value() > 0:
            params["THRESHOLD"] = self.threshold_spin.value()
        area = self.area_combo.currentIndex()
        if area == 1:
            if self.iface is None:
                raise ValueError("no map canvas: choose 'Whole layer'")
            canvas = self.iface.mapCanvas()
            e = canvas.extent()
            crs = canvas.mapSettings().destinationCrs().authid()
            params["EXTENT"] = (f"{e.xMinimum()},{e.xMaximum()},{e.yMinimum()},"
                                f"{e.yMaximum()} [{crs}]")
        elif area == 2:
            aoi = self.aoi_combo.currentLayer()
            if not isinstance(aoi, QgsVectorLayer) or aoi.selectedFeatureCount() == 0:
                raise ValueError("select at least one polygon in a polygon layer first")
            params["AOI"] = QgsProcessingFeatureSourceDefinition(aoi.id(), True)
        params.update(self.advanced)
        return params

    def run(self) -> bool:
        """Start ``csbsr:inspectcracks`` as a background task; return True if started."""
        if self.task is not None:
            return False
        try:
            params = self.build_parameters()
        except ValueError as exc:
            self.status_label.setText(f"<span style='color:#b00'>{exc}</span>")
            return False
        self.algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG_ID)
        if self.algorithm is None:
            self.status_label.setText("the csbsr Processing provider is not registered")
            return False
        self.params = params
        self.save_settings()
        self.context = QgsProcessingContext()
        self.context.setProject(QgsProject.instance())
        self.context.setEllipsoid(QgsProject.instance().ellipsoid())
        self.feedback = RunFeedback()
        self.feedback.progressChanged.connect(lambda p: self.progress_bar.setValue(int(p)))
        self.feedback.statusChanged.connect(self.status_label.setText)
        self.feedback.warned.connect(self.log_view.appendPlainText)
        self.task = QgsProcessingAlgRunnerTask(self.algorithm, params, self.context,
                                               self.feedback)
        self.task.executed.connect(self._on_executed)
        self.log_view.clear()
        self.progress_bar.setValue(0)
        self.status_label.setText("starting...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        QgsApplication.taskManager().addTask(self.task)
        return True

    def cancel(self) -> None:
        """Ask the running task to stop (no output file is left)."""
        if self.feedback is not None:
            self.feedback.cancel()
            self.status_label.setText("cancelling...")

    def _on_executed(self, ok: bool, results: Dict[str, Any]) -> None:
        cancelled = self.feedback is not None and self.feedback.isCanceled()
        success = bool(ok and results and not cancelled)
        if success:
            self.last_run_folder = Path(str(self.params["OUTPUT_FOLDER"]))
            self.report_button.setEnabled(True)
            self.add_results(results)
            self.status_label.setText(
                f"done: {results.get('N_SEGMENTS', 0)} crack segments, "
                f"{results.get('TOTAL_LENGTH_M', 0.0):.2f} m on {results.get('DEVICE_USED')}")
            self.progress_bar.setValue(100)
        elif cancelled:
            self.status_label.setText("cancelled: no output was written")
        else:
            self.status_label.setText("<span style='color:#b00'>failed: see the messages "
                                      "below and the Processing log</span>")
        self.task = self.context = self.feedback = self.algorithm = None
        self.run_button.setEnabled(not self.missing)
        self.cancel_button.setEnabled(False)
        self.runFinished.emit(success)

    def make_report(self) -> Optional[Path]:
        """Write the PDF report of the last run with ``csbsr:crackreport``; return its path.

        The layout export must run on the main thread (the algorithm is flagged so), which is
        where this button handler runs; it takes a few seconds.
        """
        folder = getattr(self, "last_run_folder", None)
        if folder is None:
            self.status_label.setText("run an inspection first")
            return None
        import processing
        from qgis.core import QgsProcessingException

        out = folder / f"{folder.name}_report.pdf"
        self.status_label.setText("writing the PDF report...")
        try:
            res = processing.run("csbsr:crackreport", {"RUN_DIR": str(folder),
                                                        "OUTPUT": str(out)})
        except QgsProcessingException as exc:
            self.status_label.setText(f"<span style='color:#b00'>report failed: {exc}</span>")
            return None
        self.status_label.setText(f"report: {res['OUTPUT']} ({res.get('PAGES')} pages)")
        return Path(res["OUTPUT"])

    def add_results(self, results: Dict[str, Any]) -> List[Any]:
        """Add the outputs to a new layer group at the top of the tree, styled."""
        project = QgsProject.instance()
        stem = Path(str(results["PROB"])).stem[: -len("_prob")]
        group = project.layerTreeRoot().insertGroup(
            0, f"CSBSR {stem} {time.strftime('%H:%M:%S')}")
        layers = []
        specs = [
            ("OUTPUT_LINES", "crack lines", "ogr", "crack_lines", True),
            ("OUTPUT_NODES", "crack nodes", "ogr", "crack_nodes", False),
            ("PROB", "crack probability", "gdal", "crack_prob", True),
            ("MASK", "crack mask", "gdal", "crack_mask", False),
            ("SR", "super-resolved", "gdal", "crack_sr", True),
        ]
        for key, name, provider, style, visible in specs:
            path = results.get(key)
            if not path:
                continue
            cls = QgsVectorLayer if provider == "ogr" else QgsRasterLayer
            layer = cls(str(path), f"{stem} {name}", provider)
            if not layer.isValid():
                self.log_view.appendPlainText(f"could not load {path}")
                continue
            apply_style(layer, style)
            project.addMapLayer(layer, False)
            node = group.addLayer(layer)
            node.setItemVisibilityChecked(visible)
            if key == "OUTPUT_LINES" or key == "PROB":
                node.setExpanded(key == "OUTPUT_LINES")
            else:
                node.setExpanded(False)
            layers.append(layer)
        self.last_group, self.last_layers = group, layers
        return layers

    def shutdown(self) -> None:
        """Cancel a running task (called by the plugin's ``unload``)."""
        if self.task is not None and self.feedback is not None:
            self.feedback.cancel()
        project = QgsProject.instance()
        for signal, slot in ((project.readProject, self.load_settings),
                             (project.cleared, self.load_settings)):
            try:
                signal.disconnect(slot)
            except TypeError:
                pass


def _gpkg_layer(path: Path, layer: str) -> QgsProcessingOutputLayerDefinition:
    """A Processing destination: a new GeoPackage holding one layer named ``layer``."""
    dest = QgsProcessingOutputLayerDefinition(str(path))
    dest.createOptions = {"layerName": layer}
    return dest
