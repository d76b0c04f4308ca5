"""Diagnostics: which engine, which Python, which torch and which device a run will use, next
to QGIS's own versions.

QGIS's part is read here; the engine's part is ``csbsr diagnose`` run by the engine itself
(the same lines as on the command line), in the background for the dialog.
"""
from __future__ import annotations

import sys
from typing import Any, List, Optional, Tuple

from qgis.core import Qgis, QgsProcessingException

from ..core import __version__
from . import engine
from .paths import ROOT


def qgis_lines() -> List[Tuple[str, str]]:
    """QGIS, its Python and the plugin."""
    from osgeo import gdal

    return [
        ("qgis", f"{Qgis.QGIS_VERSION} (GDAL {gdal.__version__}, GEOS {Qgis.geosVersion()})"),
        ("qgis python", sys.version.split()[0]),
        ("plugin", f"{ROOT} (csbsr {__version__})"),
    ]


def engine_lines(device: str = "auto", model: Optional[str] = None) -> List[Tuple[str, str]]:
    """The engine in use and its ``csbsr diagnose`` lines (never raises)."""
    exe = engine.find_engine()
    if exe is None:
        return [("engine", "NOT SET UP - " + engine.not_found_message())]
    lines = [("engine", f"{exe} ({engine.engine_source()})")]
    version = engine.engine_version(exe)
    if version and version != f"csbsr {__version__}":
        lines.append(("engine version", f"{version}: differs from the plugin's csbsr "
                                        f"{__version__}; set the engine up again"))
    try:
        diag = engine.probe_engine(exe, device, model)
    except QgsProcessingException as exc:
        return [*lines, ("engine error", str(exc))]
    return lines + [(k if k != "python" else "engine python", v) for k, v in diag.items()]


def report_lines(device: str = "auto", model: Optional[str] = None) -> List[Tuple[str, str]]:
    """Every line of the report."""
    return qgis_lines() + engine_lines(device, model)


def format_lines(lines: List[Tuple[str, str]]) -> str:
    """Align (label, value) lines as text."""
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)


def report_text(device: str = "auto", model: Optional[str] = None) -> str:
    """The report as aligned text (runs the engine: call it off the main thread)."""
    return format_lines(report_lines(device, model))


def show_report_dialog(parent: Any = None, device: str = "auto",
                       model: Optional[str] = None) -> Any:
    """Show the report in a dialog with a Copy button; the engine's part is filled in by a
    background task. Returns the dialog."""
    from qgis.core import QgsApplication, QgsTask
    from qgis.PyQt.QtGui import QFont, QGuiApplication
    from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout

    dlg = QDialog(parent)
    dlg.setWindowTitle("CSBSR diagnostics")
    layout = QVBoxLayout(dlg)
    view = QPlainTextEdit(format_lines([*qgis_lines(), ("engine", "checking...")]))
    view.setReadOnly(True)
    view.setFont(QFont("monospace"))
    layout.addWidget(view)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    copy = buttons.addButton("Copy", QDialogButtonBox.ActionRole)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(view.toPlainText()))
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.resize(760, 440)

    def work(_task: Any) -> str:
        return format_lines(qgis_lines() + engine_lines(device, model))

    def done(exception: Any, text: Optional[str] = None) -> None:
        if text:
            view.setPlainText(text)
        elif exception is not None:
            view.appendPlainText(f"diagnostics failed: {exception}")

    dlg.task = QgsTask.fromFunction("CSBSR diagnostics", work, on_finished=done)
    QgsApplication.taskManager().addTask(dlg.task)
    dlg.show()
    return dlg
