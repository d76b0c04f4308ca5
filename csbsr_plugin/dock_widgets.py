"""The widgets of the dock panel, built in code (no .ui file: nothing to patch for Qt6).

:func:`build` creates them as attributes of the dock (``raster_combo``, ``gsd_label``,
``run_button``...); the dock connects and drives them.
"""
from __future__ import annotations

from typing import Any

from qgis.core import QgsMapLayerProxyModel
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .algorithms.detect_cracks import DEVICE_LABELS, GSD_POLICY_LABELS
from .algorithms.vectorize_cracks import STANDARD_LABELS
from .engine_panel import EnginePanel

AREAS = ("Whole layer", "Map canvas extent", "Selected polygons")


def _probability(form: QFormLayout, label: str, step: float) -> QDoubleSpinBox:
    """A probability field (0-0.99) whose 0 means "the model's recommended"."""
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 0.99)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setSpecialValueText("model's recommended")
    form.addRow(label, spin)
    return spin


def _note(form: QFormLayout) -> QLabel:
    """A wrapping, selectable note under the previous row."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    form.addRow("", label)
    return label


def build(dock: Any) -> None:
    """Create the panel's widgets on ``dock`` (a QgsDockWidget)."""
    body = QWidget()
    layout = QVBoxLayout(body)
    dock.engine_panel = EnginePanel()
    layout.addWidget(dock.engine_panel)
    form = QFormLayout()
    dock.raster_combo = QgsMapLayerComboBox()
    dock.raster_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
    form.addRow("Orthophoto", dock.raster_combo)
    dock.gsd_label = _note(form)
    dock.area_combo = QComboBox()
    dock.area_combo.addItems(AREAS)
    form.addRow("Area", dock.area_combo)
    dock.aoi_combo = QgsMapLayerComboBox()
    dock.aoi_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
    form.addRow("Polygons", dock.aoi_combo)
    dock.model_widget = QgsFileWidget()
    dock.model_widget.setFilter("CSBSR model (*.safetensors)")
    dock.model_widget.lineEdit().setPlaceholderText("shipped model")
    form.addRow("Model", dock.model_widget)
    dock.card_label = _note(form)
    dock.gsd_policy_combo = QComboBox()
    dock.gsd_policy_combo.addItems(GSD_POLICY_LABELS)
    form.addRow("GSD policy", dock.gsd_policy_combo)
    dock.standard_combo = QComboBox()
    dock.standard_combo.addItems([x.split(" (")[0] for x in STANDARD_LABELS])
    dock.standard_combo.setToolTip("\n".join(STANDARD_LABELS))
    form.addRow("Severity standard", dock.standard_combo)
    axis = QHBoxLayout()
    dock.axis_check = QCheckBox("Road / structure axis")
    dock.axis_spin = QDoubleSpinBox()
    dock.axis_spin.setRange(0.0, 180.0)
    dock.axis_spin.setDecimals(1)
    dock.axis_spin.setSuffix("°")
    dock.axis_spin.setToolTip("Degrees clockwise from north (0-180): cracks along it are "
                              "longitudinal, across it transverse")
    axis.addWidget(dock.axis_check)
    axis.addWidget(dock.axis_spin)
    form.addRow("Crack types", axis)
    dock.axis_label = _note(form)
    dock.min_len_spin = QDoubleSpinBox()
    dock.min_len_spin.setRange(0.0, 1000.0)
    dock.min_len_spin.setDecimals(1)
    dock.min_len_spin.setSuffix(" cm")
    dock.min_len_spin.setToolTip("Cracks shorter than this are not reported")
    form.addRow("Minimum crack length", dock.min_len_spin)
    dock.device_combo = QComboBox()
    dock.device_combo.addItems(DEVICE_LABELS)
    form.addRow("Device", dock.device_combo)
    dock.device_label = _note(form)
    dock.device_label.setText("device: checked when the panel opens")
    dock.threshold_spin = _probability(form, "Threshold", 0.05)
    dock.seed_spin = _probability(form, "Line confidence", 0.01)
    dock.out_widget = QgsFileWidget()
    dock.out_widget.setStorageMode(QgsFileWidget.GetDirectory)
    form.addRow("Output folder", dock.out_widget)
    dock.sr_check = QCheckBox("Also write the super-resolved image")
    form.addRow("", dock.sr_check)
    dock.report_check = QCheckBox("Create report (PDF and HTML)")
    form.addRow("", dock.report_check)
    layout.addLayout(form)
    buttons = QHBoxLayout()
    dock.run_button = QPushButton("Run")
    dock.cancel_button = QPushButton("Cancel")
    dock.cancel_button.setEnabled(False)
    dock.report_button = QPushButton("Report")
    dock.report_button.setToolTip("PDF and HTML report of the last run")
    dock.report_button.setEnabled(False)
    dock.diag_button = QPushButton("Diagnostics")
    dock.help_button = QPushButton("Help")
    for b in (dock.run_button, dock.cancel_button, dock.report_button, dock.diag_button,
              dock.help_button):
        buttons.addWidget(b)
    layout.addLayout(buttons)
    dock.compare_button = QPushButton("Compare with an earlier inspection…")
    dock.compare_button.setToolTip("What changed since an earlier inspection of the same site "
                                   "(new, extended, widened, gone cracks): pick its folder; "
                                   "the current result is the later one")
    layout.addWidget(dock.compare_button)
    dock.progress_bar = QProgressBar()
    dock.progress_bar.setRange(0, 100)
    layout.addWidget(dock.progress_bar)
    dock.status_label = QLabel("")
    dock.status_label.setWordWrap(True)
    dock.status_label.setOpenExternalLinks(True)
    layout.addWidget(dock.status_label)
    dock.log_view = QPlainTextEdit()
    dock.log_view.setReadOnly(True)
    dock.log_view.setMaximumHeight(90)
    layout.addWidget(dock.log_view)
    layout.addStretch(1)
    for combo in body.findChildren(QComboBox):  # long items must not widen the panel
        combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
    scroll = QScrollArea()  # docked small, the panel scrolls instead of squeezing
    scroll.setWidgetResizable(True)
    scroll.setWidget(body)
    dock.setWidget(scroll)

