"""``CsbsrProvider``: the Processing provider ``csbsr`` with an explicit algorithm list."""
from __future__ import annotations

import logging

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .paths import ICON_PATH

log = logging.getLogger(__name__)


class CsbsrProvider(QgsProcessingProvider):
    """Provider id ``csbsr``: ``detectcracks``, ``vectorizecracks``, ``inspectcracks``
    (and ``crackreport`` when its module is present).

    Loading the algorithms imports neither torch nor the engine's heavy modules.
    """

    def id(self) -> str:
        return "csbsr"

    def name(self) -> str:
        return "CSBSR crack inspection"

    def longName(self) -> str:
        from ..core import __version__

        return f"CSBSR crack inspection {__version__}"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def loadAlgorithms(self) -> None:
        from .algorithms.detect_cracks import DetectCracksAlgorithm
        from .algorithms.inspect_cracks import InspectCracksAlgorithm
        from .algorithms.vectorize_cracks import VectorizeCracksAlgorithm

        algs = [DetectCracksAlgorithm(), VectorizeCracksAlgorithm(), InspectCracksAlgorithm()]
        try:  # the PDF report (csbsr:crackreport) ships with its own module
            from .algorithms.crack_report import CrackReportAlgorithm
        except ImportError as exc:
            log.warning("csbsr:crackreport is unavailable: %s", exc)
        else:
            algs.append(CrackReportAlgorithm())
        for alg in algs:
            self.addAlgorithm(alg)
