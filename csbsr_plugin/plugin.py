"""``CsbsrPlugin``: registers the Processing provider; in the desktop adds the dock and menu
(panel, "Load sample orthophoto", diagnostics, user guide).

Nothing here (nor anywhere in the plugin) imports torch or the engine's other wheels: the
engine runs in its own Python environment (``engine.py``), so QGIS's Python needs none of them.
``__init__`` and ``initProcessing`` never touch the GUI, so ``qgis_process`` (where ``iface`` is
None and only ``initProcessing`` is called) loads the plugin.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog

from .provider import CsbsrProvider

LOG_TAG = "CSBSR"


class _MessageLogHandler(logging.Handler):
    """Sends the engine's ``logging`` records to the QGIS message log (tab "CSBSR")."""

    def emit(self, record: logging.LogRecord) -> None:
        level = (Qgis.Critical if record.levelno >= logging.ERROR
                 else Qgis.Warning if record.levelno >= logging.WARNING else Qgis.Info)
        QgsMessageLog.logMessage(self.format(record), LOG_TAG, level)


class CsbsrPlugin:
    """The plugin object QGIS creates through ``classFactory``."""

    def __init__(self, iface: Optional[Any]) -> None:
        self.iface = iface
        self.provider: Optional[CsbsrProvider] = None
        self.dock: Any = None
        self.actions: List[Any] = []
        self.menu_name = "&CSBSR crack inspection"
        self._log_handler: Optional[logging.Handler] = None

    # ----------------------------------------------------------------- headless part
    def initProcessing(self) -> None:
        """Register the ``csbsr`` Processing provider (no GUI, no torch)."""
        if self.provider is None:
            self.provider = CsbsrProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    # ----------------------------------------------------------------- desktop part
    def initGui(self) -> None:
        """Provider, dock panel, menu/toolbar actions and the message-log handler."""
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        from .paths import ICON_PATH

        self.initProcessing()
        self._log_handler = _MessageLogHandler()
        self._log_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("csbsr")
        logger.addHandler(self._log_handler)
        logger.setLevel(logging.INFO)
        if self.iface is None:
            return
        icon = QIcon(str(ICON_PATH))
        show = QAction(icon, "CSBSR crack inspection panel", self.iface.mainWindow())
        show.setCheckable(True)
        show.triggered.connect(self.toggle_dock)
        sample = QAction("Load sample orthophoto", self.iface.mainWindow())
        sample.triggered.connect(self.load_sample)
        diag = QAction("CSBSR diagnostics (engine, GPU)...", self.iface.mainWindow())
        diag.triggered.connect(self.show_diagnostics)
        guide = QAction("CSBSR user guide", self.iface.mainWindow())
        guide.triggered.connect(self.show_guide)
        for action in (show, sample, diag, guide):
            self.iface.addPluginToRasterMenu(self.menu_name, action)
            self.actions.append(action)
        self.iface.addToolBarIcon(show)

    def _ensure_dock(self) -> Any:
        if self.dock is None:
            from qgis.PyQt.QtCore import Qt

            from .dock import CsbsrDock

            self.dock = CsbsrDock(self.iface)
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
            if self.actions:
                self.dock.visibilityChanged.connect(self.actions[0].setChecked)
        return self.dock

    def toggle_dock(self, checked: bool = True) -> None:
        """Show or hide the dock panel (built on first use)."""
        dock = self._ensure_dock()
        dock.setVisible(bool(checked))

    def show_diagnostics(self) -> None:
        """Show the diagnostics report in a dialog."""
        from .diagnostics import show_report_dialog

        self._diag = show_report_dialog(self.iface.mainWindow() if self.iface else None)

    def show_guide(self) -> None:
        """Open the user guide shipped with the plugin."""
        from .help import open_guide

        open_guide()

    def load_sample(self) -> Any:
        """Add the shipped sample orthophoto (a copy in the results folder, so QGIS never
        writes beside the plugin's files), zoom to it and choose it in the panel."""
        import shutil

        from qgis.core import QgsProject, QgsRasterLayer

        from .paths import SAMPLE_ORTHO
        from .settings import default_output_base

        target = default_output_base(QgsProject.instance()) / "sample" / SAMPLE_ORTHO.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLE_ORTHO, target)
        layer = QgsRasterLayer(str(target), "sample orthophoto", "gdal")
        if not layer.isValid():
            return None
        QgsProject.instance().addMapLayer(layer)
        if self.iface is not None:
            self.iface.mapCanvas().setExtent(layer.extent())
            self.iface.mapCanvas().refresh()
        dock = self._ensure_dock()
        dock.raster_combo.setLayer(layer)
        dock.setVisible(True)
        return layer

    def unload(self) -> None:
        """Undo everything: running task, dock, actions, provider, log handler."""
        if self.dock is not None:
            self.dock.shutdown()
            if self.iface is not None:
                self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginRasterMenu(self.menu_name, action)
                self.iface.removeToolBarIcon(action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self._log_handler is not None:
            logging.getLogger("csbsr").removeHandler(self._log_handler)
            self._log_handler = None
