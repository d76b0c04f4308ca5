"""The diagnostics report: QGIS, engine package versions, GPU, chosen device, model card.

Used by the "CSBSR diagnostics" menu action and the dock's Diagnostics button; the engine part
is ``core.commands.diagnose.collect`` (the same lines as ``csbsr diagnose``).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

from qgis.core import Qgis

from . import deps, native_libs
from .paths import ROOT


def report_lines(device: str = "auto", model: Optional[str] = None) -> List[Tuple[str, str]]:
    """(label, value) lines of the report; never raises for a missing package."""
    from osgeo import gdal

    lines: List[Tuple[str, str]] = [
        ("qgis", f"{Qgis.QGIS_VERSION} (GDAL {gdal.__version__}, GEOS {Qgis.geosVersion()})"),
        ("plugin", str(ROOT)),
    ]
    missing = deps.missing_modules()
    if missing:
        lines.append(("missing", ", ".join(missing)))
        lines.append(("install", " | ".join(deps.install_commands(missing))))
        return lines
    too_late = native_libs.isolate()
    lines.append(("isolation", "native libraries isolated from QGIS's" if not too_late else
                  f"imported before isolation: {', '.join(too_late)}"))
    from ..core.commands.diagnose import collect

    return lines + collect(device, model)


def report_text(device: str = "auto", model: Optional[str] = None) -> str:
    """The report as aligned text."""
    from ..core.commands.diagnose import format_lines

    return format_lines(report_lines(device, model))


def show_report_dialog(parent: Any = None, device: str = "auto",
                       model: Optional[str] = None) -> Any:
    """Show the report in a dialog with a Copy button; return the dialog."""
    from qgis.PyQt.QtGui import QFont, QGuiApplication
    from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout

    text = report_text(device, model)
    dlg = QDialog(parent)
    dlg.setWindowTitle("CSBSR diagnostics")
    layout = QVBoxLayout(dlg)
    view = QPlainTextEdit(text)
    view.setReadOnly(True)
    view.setFont(QFont("monospace"))
    layout.addWidget(view)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    copy = buttons.addButton("Copy", QDialogButtonBox.ActionRole)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.resize(720, 420)
    dlg.show()
    return dlg
