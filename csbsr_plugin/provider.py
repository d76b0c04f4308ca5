"""``CsbsrProvider``: the Processing provider ``csbsr`` with an explicit algorithm list, and its
Processing setting "CSBSR engine" (the ``csbsr`` executable the algorithms run; see
``engine.py``).
"""
from __future__ import annotations

import logging

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import engine
from .gdal_aux import off_for_qgis_process
from .paths import ICON_PATH

log = logging.getLogger(__name__)


class CsbsrProvider(QgsProcessingProvider):
    """Provider id ``csbsr``: ``detectcracks``, ``vectorizecracks``, ``inspectcracks``,
    ``crackreport``, ``comparesurveys``. Loading it imports nothing of the engine's native
    wheels."""

    def id(self) -> str:
        return "csbsr"

    def name(self) -> str:
        return "CSBSR crack inspection"

    def longName(self) -> str:
        from ..core import __version__

        return f"CSBSR crack inspection {__version__}"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def load(self) -> bool:
        """Register the "CSBSR engine" setting (Settings > Options > Processing >
        Providers), then the algorithms. Under ``qgis_process run csbsr:...`` the input is
        opened before the algorithm runs: GDAL's ``.aux.xml`` files are turned off first."""
        if off_for_qgis_process():
            log.debug("qgis_process: no .aux.xml beside the inputs")
        try:
            from processing.core.ProcessingConfig import ProcessingConfig, Setting
        except ImportError:  # Processing's Python plugin is not loaded
            log.debug("no ProcessingConfig: the engine setting is read from QgsSettings")
        else:
            ProcessingConfig.settingIcons[self.name()] = self.icon()
            ProcessingConfig.addSetting(Setting(
                self.name(), engine.SETTING,
                "CSBSR engine: the csbsr executable of the Python environment that runs the "
                "model (empty = the environment the CSBSR panel set up, or $CSBSR_ENGINE)",
                "", valuetype=Setting.FILE))
            ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        try:
            from processing.core.ProcessingConfig import ProcessingConfig
        except ImportError:
            return
        if engine.SETTING in ProcessingConfig.settings:  # unload may come twice (at exit)
            ProcessingConfig.removeSetting(engine.SETTING)

    def loadAlgorithms(self) -> None:
        from .algorithms.compare_surveys import CompareSurveysAlgorithm
        from .algorithms.crack_report import CrackReportAlgorithm
        from .algorithms.detect_cracks import DetectCracksAlgorithm
        from .algorithms.inspect_cracks import InspectCracksAlgorithm
        from .algorithms.vectorize_cracks import VectorizeCracksAlgorithm

        for alg in (DetectCracksAlgorithm(), VectorizeCracksAlgorithm(),
                    InspectCracksAlgorithm(), CrackReportAlgorithm(),
                    CompareSurveysAlgorithm()):
            self.addAlgorithm(alg)
