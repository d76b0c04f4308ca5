"""``CsbsrDock``: the dock panel. It builds the parameters of ``csbsr:inspectcracks``, runs it
through ``QgsProcessingAlgRunnerTask`` (the algorithm runs the engine in its own process) and
adds the styled outputs in one layer group named after the orthophoto.

No compute here: the task, context and feedback are kept as attributes until the task's
``executed`` signal fires on the main thread.
"""
from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import QUrl, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QPushButton,
    QWidget,
)

from ..core.layout import RunLayout
from . import results, settings
from .algorithms.detect_cracks import DEVICES, GSD_POLICIES
from .dock_compare import CompareLauncher
from .dock_device import check_device
from .dock_widgets import AREAS  # noqa: F401 (AREAS re-exported)
from .dock_widgets import build as build_widgets
from .gsd import gsd_verdict, layer_gsd_mm
from .model_card import Card, read_card
from .preflight import layer_problem, output_problem

ALG_ID = "csbsr:inspectcracks"
LEVEL_COLOURS = {"ok": "#1a7f37", "info": "#555", "warning": "#b35900", "refused": "#b00"}


class RunFeedback(QgsProcessingFeedback):
    """A Processing feedback that also hands the engine's events (``engineEvent``: stage,
    percent, tiles/s, ETA, device) and warnings to the dock as Qt signals."""

    engineEvent = pyqtSignal(object)
    warned = pyqtSignal(str)

    def pushWarning(self, text: str) -> None:
        super().pushWarning(text)
        self.warned.emit(text)

    def reportError(self, text: str, fatalError: bool = False) -> None:
        super().reportError(text, fatalError)
        self.warned.emit(text)


def live_status(event: Dict[str, Any]) -> Optional[str]:
    """The dock's status line for an engine event (None: keep the current one)."""
    if event.get("event") not in ("progress", "metrics"):
        return None
    stage = {"detect": "detecting cracks", "vectorize": "measuring crack lines",
             "export": "writing layers", "report": "writing the report"}.get(
        event.get("stage"), event.get("stage") or "running")
    bits = [f"{stage} {float(event.get('percent') or 0):.0f} %"]
    if event.get("tiles_per_s"):
        bits.append(f"{float(event['tiles_per_s']):.1f} tiles/s")
    if event.get("eta_s") is not None:
        s = int(float(event["eta_s"]))
        bits.append(f"ETA {s // 60}:{s % 60:02d}")
    if event.get("device"):
        bits.append(str(event["device"]).split(" (")[0])
    return " · ".join(bits)


class CsbsrDock(QgsDockWidget):
    """Orthophoto (with its resolution against the model's), area, model card, inspector
    options, output folder, Run/Cancel/Report/Diagnostics/Help, Compare (``dock_compare``)."""

    runFinished = pyqtSignal(bool)
    reportFinished = pyqtSignal(object)

    def __init__(self, iface: Optional[Any] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__("CSBSR crack inspection", parent)
        self.setObjectName("CsbsrDock")
        self.iface = iface
        self.task: Optional[QgsProcessingAlgRunnerTask] = None
        self.context: Optional[QgsProcessingContext] = None
        self.feedback: Optional[RunFeedback] = None
        self.report_task: Optional[QgsProcessingAlgRunnerTask] = None
        self.algorithm: Any = None
        self.params: Dict[str, Any] = {}
        # extra Processing parameters passed through unchanged (e.g. {"TILE_PX": 256}); the
        # panel shows the inspector's options, the toolbox dialog has all of them
        self.advanced: Dict[str, Any] = {}
        self.card: Optional[Card] = None
        self.last_run: Optional[RunLayout] = None
        self.last_group: Any = None
        self.last_layers: List[Any] = []
        self.last_report: Dict[str, str] = {}
        self._loading = False
        self._probed = False
        self._build()
        self.comparer = CompareLauncher(self)  # "Compare with an earlier inspection..."
        self.load_settings()
        project = QgsProject.instance()
        project.readProject.connect(self.load_settings)
        project.cleared.connect(self.load_settings)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        build_widgets(self)
        self.raster_combo.layerChanged.connect(self._inputs_changed)
        # QgsMapLayerComboBox says nothing when several layers arrive at once and the first
        # becomes current (a project loads): QComboBox does
        self.raster_combo.currentIndexChanged.connect(self._inputs_changed)
        self.area_combo.currentIndexChanged.connect(self._area_changed)
        self.model_widget.fileChanged.connect(self._model_changed)
        self.gsd_policy_combo.currentIndexChanged.connect(self._inputs_changed)
        self.out_widget.fileChanged.connect(self._inputs_changed)
        self.axis_check.toggled.connect(self._axis_changed)
        self.device_combo.currentIndexChanged.connect(lambda *_: self.refresh_device())
        self.engine_panel.changed.connect(self._update_run_enabled)
        for signal in (self.threshold_spin.valueChanged, self.seed_spin.valueChanged,
                       self.out_widget.fileChanged,
                       self.sr_check.toggled, self.report_check.toggled,
                       self.standard_combo.currentIndexChanged, self.axis_spin.valueChanged,
                       self.min_len_spin.valueChanged, self.gsd_policy_combo.currentIndexChanged):
            signal.connect(self.save_settings)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.diag_button.clicked.connect(self.show_diagnostics)
        self.report_button.clicked.connect(self.make_report)
        self.help_button.clicked.connect(self.show_help)
        self._area_changed()
        self._model_changed()
        self._axis_changed()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._probed:  # the engine starts torch: only once the panel is seen
            self._probed = True
            self.refresh_device()

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
            self.seed_spin.setValue(float(values["seed"]))
            self.out_widget.setFilePath(values["out_dir"])
            self.sr_check.setChecked(bool(values["save_sr"]))
            self.report_check.setChecked(bool(values["create_report"]))
            self.gsd_policy_combo.setCurrentIndex(int(values["gsd_policy"]))
            self.standard_combo.setCurrentIndex(int(values["standard"]))
            self.axis_check.setChecked(bool(values["use_axis"]))
            self.axis_spin.setValue(float(values["axis_deg"]))
            self.min_len_spin.setValue(float(values["min_len_cm"]))
        finally:
            self._loading = False
        self.out_widget.lineEdit().setPlaceholderText(
            str(settings.default_output_base(QgsProject.instance())))
        self._inputs_changed()

    def current_values(self) -> Dict[str, Any]:
        """The widget values as settings."""
        raster = self.raster_combo.currentLayer()
        aoi = self.aoi_combo.currentLayer()
        return {
            "raster_layer": raster.id() if raster else "", "area": self.area_combo.currentIndex(),
            "aoi_layer": aoi.id() if aoi else "", "model": self.model_widget.filePath(),
            "device": self.device_combo.currentIndex(), "threshold": self.threshold_spin.value(),
            "seed": self.seed_spin.value(),
            "out_dir": self.out_widget.filePath(), "save_sr": self.sr_check.isChecked(),
            "create_report": self.report_check.isChecked(),
            "gsd_policy": self.gsd_policy_combo.currentIndex(),
            "standard": self.standard_combo.currentIndex(),
            "use_axis": self.axis_check.isChecked(), "axis_deg": self.axis_spin.value(),
            "min_len_cm": self.min_len_spin.value(),
        }

    def save_settings(self, *_args: Any) -> None:
        """Store the widget values in the current project."""
        if not self._loading:
            settings.save(QgsProject.instance(), self.current_values())

    # ------------------------------------------------------------------ inputs
    def _area_changed(self, *_args: Any) -> None:
        self.aoi_combo.setEnabled(self.area_combo.currentIndex() == 2)
        self.save_settings()

    def _axis_changed(self, *_args: Any) -> None:
        self.axis_spin.setEnabled(self.axis_check.isChecked())
        self.axis_label.setText("Without an axis every crack type is 'unclassified'.")
        self.axis_label.setVisible(not self.axis_check.isChecked())
        self.save_settings()

    def _model_changed(self, *_args: Any) -> None:
        try:
            self.card = read_card(self.model_widget.filePath() or None)
        except ValueError as exc:
            self.card = None
            self.card_label.setText(f"<span style='color:#b00'>{html.escape(str(exc))}</span>")
        else:
            self.card_label.setText(f"<b>{html.escape(self.card.name)}</b>: "
                                    f"{html.escape(self.card.plain)}")
        self._explain_threshold()
        self.save_settings()
        self._inputs_changed()

    def _explain_threshold(self) -> None:
        """Say what "model's recommended" is for the chosen model (threshold and seed)."""
        tip = "A pixel is crack when the model's probability reaches the threshold."
        text = seed_text = "model's recommended"
        seed_tip = ("A crack is drawn only if the model's probability reaches this somewhere "
                    "along it: faint lines that continue a sure crack are kept, faint lines "
                    "on their own are not. Lower it to see fainter cracks (and more false "
                    "lines); at or below the Threshold every crack region is drawn.")
        if self.card is not None:
            text += f" ({self.card.threshold:.2f})"
            seed = self.card.seed_threshold
            seed_text += f" ({seed:.2f})" if seed is not None else " (off)"
            if seed is not None:
                tip += (f" With this model a crack is drawn only if it reaches {seed:.2f} "
                        "somewhere along it (Line confidence).")
        self.threshold_spin.setSpecialValueText(text)
        self.threshold_spin.setToolTip(tip)
        self.seed_spin.setSpecialValueText(seed_text)
        self.seed_spin.setToolTip(seed_tip)

    def _inputs_changed(self, *_args: Any) -> None:
        # not saved here: the layer combo also changes while a project loads its layers
        # (after its entries were read); layers are stored with the other settings
        self.gsd_label.setText(self.gsd_text())
        self._update_run_enabled()

    def input_problem(self) -> Optional[str]:
        """What the engine would refuse in the current orthophoto or output folder, or None."""
        layer = self.raster_combo.currentLayer()
        problem = layer_problem(layer) if isinstance(layer, QgsRasterLayer) else None
        return problem or output_problem(self.out_widget.filePath())

    def gsd_text(self) -> str:
        """The orthophoto's GSD against the model's, in words (HTML, coloured by level), or
        what the engine would refuse in the inputs."""
        problem = self.input_problem()
        if problem:
            return f"<span style='color:{LEVEL_COLOURS['refused']}'>{html.escape(problem)}</span>"
        layer = self.raster_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer) or self.card is None:
            return ""
        v = gsd_verdict(layer_gsd_mm(layer), self.card.input_gsd_mm, self.card.scale,
                        GSD_POLICIES[self.gsd_policy_combo.currentIndex()])
        return f"<span style='color:{LEVEL_COLOURS[v.level]}'>{html.escape(v.text)}</span>"

    def _update_run_enabled(self) -> None:
        ready = (self.task is None and self.card is not None
                 and self.engine_panel.engine() is not None
                 and isinstance(self.raster_combo.currentLayer(), QgsRasterLayer)
                 and self.input_problem() is None)
        self.run_button.setEnabled(ready)

    def device_spec(self) -> str:
        """The device parameter value ("auto", "cpu" or "cuda")."""
        return DEVICES[self.device_combo.currentIndex()]

    def refresh_device(self, wait: bool = False) -> None:
        """Ask the engine which device a run would use (in the background unless ``wait``)."""
        self.save_settings()
        self._device_task = check_device(self.device_label, self.device_spec(), wait)

    def show_diagnostics(self) -> None:
        """Open the diagnostics report."""
        from .diagnostics import show_report_dialog

        self._diag = show_report_dialog(self, self.device_spec(),
                                        self.model_widget.filePath() or None)

    def show_help(self) -> None:
        """Open the user guide."""
        from .help import open_guide

        open_guide("the-dock-panel")

    # ------------------------------------------------------------------ running
    def output_folder(self, raster_path: str) -> Path:
        """The run folder: ``<output folder>/<stem>_<YYYYmmdd-HHMMSS>[-N]`` (never one that
        exists)."""
        base = Path(self.out_widget.filePath() or str(
            settings.default_output_base(QgsProject.instance())))
        stem = f"{Path(raster_path).stem}_{time.strftime('%Y%m%d-%H%M%S')}"
        folder, n = base / stem, 2
        while folder.exists():
            folder, n = base / f"{stem}-{n}", n + 1
        return folder

    def build_parameters(self) -> Dict[str, Any]:
        """The ``csbsr:inspectcracks`` parameters of the current widget values.

        Raises:
            ValueError: with a user message when the inputs are incomplete.
        """
        layer = self.raster_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer):
            raise ValueError("choose an orthophoto (a raster layer) first")
        problem = self.input_problem()
        if problem:
            raise ValueError(problem)
        if self.card is None:
            raise ValueError("choose a valid model (see the message under Model)")
        path = layer.source().split("|")[0]
        params: Dict[str, Any] = {
            "INPUT": path, "DEVICE": self.device_combo.currentIndex(),
            "GSD_POLICY": self.gsd_policy_combo.currentIndex(),
            "STANDARD": self.standard_combo.currentIndex(),
            "MIN_CRACK_LENGTH_CM": self.min_len_spin.value(),
            "SAVE_SR": self.sr_check.isChecked(),
            "CREATE_REPORT": self.report_check.isChecked(),
            "OUTPUT_FOLDER": str(self.output_folder(path)),
        }
        if self.axis_check.isChecked():
            params["ROAD_AZIMUTH"] = self.axis_spin.value()
        if self.model_widget.filePath():
            params["MODEL"] = self.model_widget.filePath()
        if self.threshold_spin.value() > 0:
            params["THRESHOLD"] = self.threshold_spin.value()
        if self.seed_spin.value() > 0:
            params["SEED_THRESHOLD"] = self.seed_spin.value()
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

    def _start(self, alg_id: str, params: Dict[str, Any], on_done: Any) -> Any:
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
        if algorithm is None:
            raise ValueError("the csbsr Processing provider is not registered")
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        feedback = RunFeedback()
        task = QgsProcessingAlgRunnerTask(algorithm, params, context, feedback)
        task.executed.connect(on_done)
        QgsApplication.taskManager().addTask(task)
        return algorithm, context, feedback, task

    def run(self) -> bool:
        """Start ``csbsr:inspectcracks`` as a background task; return True if started."""
        if self.task is not None:
            return False
        try:
            params = self.build_parameters()
            self.params = params
            self.save_settings()
            self.log_view.clear()
            self.progress_bar.setValue(0)
            self.status_label.setText("starting the engine...")
            self.algorithm, self.context, self.feedback, self.task = self._start(
                ALG_ID, params, self._on_executed)
        except ValueError as exc:
            self.status_label.setText(f"<span style='color:#b00'>{html.escape(str(exc))}</span>")
            return False
        self.feedback.progressChanged.connect(lambda p: self.progress_bar.setValue(int(p)))
        self.feedback.engineEvent.connect(self._engine_event)
        self.feedback.warned.connect(self.log_view.appendPlainText)
        self.cancel_button.setEnabled(True)
        self._update_run_enabled()
        return True

    def _engine_event(self, event: Dict[str, Any]) -> None:
        text = live_status(event)
        if text and self.task is not None:
            self.status_label.setText(text)

    def cancel(self) -> None:
        """Ask the running task to stop (the engine leaves no file)."""
        if self.feedback is not None:
            self.feedback.cancel()
            self.status_label.setText("cancelling...")

    def _on_executed(self, ok: bool, res: Dict[str, Any]) -> None:
        cancelled = self.feedback is not None and self.feedback.isCanceled()
        success = bool(ok and res and not cancelled)
        if success:
            layout = RunLayout.for_input(self.params["INPUT"], self.params["OUTPUT_FOLDER"])
            self.last_run = layout
            self.report_button.setEnabled(True)
            self.add_results(layout)
            self.progress_bar.setValue(100)
            device = str(res.get("DEVICE_USED") or "").split(" (")[0]
            text = (f"done: {res.get('N_SEGMENTS', 0)} crack segments, "
                    f"{res.get('TOTAL_LENGTH_M', 0.0):.2f} m in total ({device})")
            self.status_label.setText(text)
            self._announce_report(res, f"{layout.stem}: {text}")
        elif cancelled:
            self.status_label.setText("cancelled: nothing was written")
            self.progress_bar.setValue(0)
        else:
            self.status_label.setText("<span style='color:#b00'>failed: see the messages "
                                      "below</span>")
        self.task = self.context = self.feedback = self.algorithm = None
        self.cancel_button.setEnabled(False)
        self._update_run_enabled()
        self.runFinished.emit(success)

    def make_report(self) -> bool:
        """Write the PDF and HTML report of the last run in the background
        (``csbsr:crackreport``); ``reportFinished`` fires with the PDF path (None: failed)."""
        if self.last_run is None or self.report_task is not None:
            self.status_label.setText("run an inspection first")
            return False
        params = {"RUN_DIR": str(self.last_run.folder), "STEM": self.last_run.stem}
        self.status_label.setText("writing the report...")
        self.report_button.setEnabled(False)
        _alg, self._report_context, self._report_feedback, self.report_task = self._start(
            "csbsr:crackreport", params, self._report_done)
        self._report_feedback.warned.connect(self.log_view.appendPlainText)
        return True

    def _report_done(self, ok: bool, res: Dict[str, Any]) -> None:
        self.report_task = None
        self.report_button.setEnabled(True)
        pdf = res.get("REPORT_PDF") if ok else None
        if pdf:
            self._announce_report(res, f"report of {Path(pdf).stem}")
        else:
            self.status_label.setText("<span style='color:#b00'>the report failed: see the "
                                      "messages below</span>")
        self.reportFinished.emit(pdf)

    def _announce_report(self, res: Dict[str, Any], text: str) -> None:
        """Link the reports in the panel and in QGIS's message bar."""
        links = {k: str(res[key]) for k, key in (("PDF", "REPORT_PDF"), ("HTML", "REPORT_HTML"))
                 if res.get(key) and Path(str(res[key])).is_file()}
        self.last_report = links
        if not links:
            return
        anchors = " · ".join(f"<a href='{QUrl.fromLocalFile(p).toString()}'>{k} report</a>"
                             for k, p in links.items())
        self.status_label.setText(f"{html.escape(text)}<br>{anchors}")
        if self.iface is None:
            return
        bar = self.iface.messageBar()
        if getattr(self, "_bar_item", None) is not None:
            try:  # one CSBSR message at a time: the newest run's
                bar.popWidget(self._bar_item)
            except RuntimeError:  # already closed by the user
                pass
        item = bar.createMessage("CSBSR", text)
        for kind, path in links.items():
            button = QPushButton(f"Open {kind} report")
            button.clicked.connect(lambda _c=False, p=path: QDesktopServices.openUrl(
                QUrl.fromLocalFile(p)))
            item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Success, 0)
        self._bar_item = item

    def add_results(self, layout: RunLayout) -> List[Any]:
        """Add the run's outputs, styled, in a new group named after the orthophoto (earlier
        run groups are hidden)."""
        project = QgsProject.instance()
        self.last_layers = results.add_run(project, layout)
        self.last_group = results.run_group(project, layout)
        # a run's own rasters are never offered as the orthophoto (e.g. when it is removed)
        self._outputs = [i for i in getattr(self, "_outputs", []) if project.mapLayer(i)]
        self._outputs += [lyr.id() for lyr in self.last_layers]
        self.raster_combo.setExceptedLayerList(
            [project.mapLayer(i) for i in self._outputs])
        return self.last_layers

    def shutdown(self) -> None:
        """Cancel a running task (called by the plugin's ``unload``)."""
        if self.task is not None and self.feedback is not None:
            self.feedback.cancel()
        self.comparer.cancel()
        project = QgsProject.instance()
        for signal, slot in ((project.readProject, self.load_settings),
                             (project.cleared, self.load_settings)):
            try:
                signal.disconnect(slot)
            except TypeError:
                pass
