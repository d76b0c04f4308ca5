"""Boilerplate shared by the CSBSR Processing algorithms.

``tr``, ``createInstance``, group, help (the user guide shipped with the plugin),
``canExecute`` (is an engine set up?), :meth:`CsbsrAlgorithm.input_raster` (the orthophoto,
opened without writing beside it) and :meth:`CsbsrAlgorithm.call_engine` (the engine as a
subprocess, see ``csbsr_plugin/engine.py``; a cancel removes the output folder the run created
and is reported as a cancel, not a failure).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

from qgis.core import QgsProcessingAlgorithm
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from .. import engine
from ..gdal_aux import no_aux_files
from ..help import guide_url
from ..paths import ICON_PATH


class CsbsrAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses define name/displayName/initAlgorithm/processAlgorithm."""

    #: anchor of the algorithm's section in the user guide
    help_anchor = "reference"

    def tr(self, text: str) -> str:
        """Translate ``text`` in the plugin's context."""
        return QCoreApplication.translate("CsbsrAlgorithm", text)

    def createInstance(self) -> CsbsrAlgorithm:
        return type(self)()

    def group(self) -> str:
        return self.tr("Crack inspection")

    def groupId(self) -> str:
        return "crackinspection"

    def helpUrl(self) -> str:
        return guide_url(self.help_anchor)

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def canExecute(self) -> Tuple[bool, str]:
        found = engine.find_engine() is not None
        return (found, "" if found else engine.not_found_message())

    def checkParameterValues(self, parameters: Any, context: Any) -> Tuple[bool, str]:
        """Processing's checks, with the input rasters opened without writing beside them."""
        with no_aux_files():
            return super().checkParameterValues(parameters, context)

    def input_raster(self, parameters: Any, name: str, context: Any) -> Any:
        """The raster layer of parameter ``name``, opened without writing beside it."""
        with no_aux_files():
            return self.parameterAsRasterLayer(parameters, name, context)

    def call_engine(self, args: Sequence[Any], feedback: Any, out_dir: Optional[Any] = None,
                    span: tuple = (0.0, 100.0)) -> Optional[engine.EngineResult]:
        """Run the engine; return its result, or None when the user cancelled.

        Args:
            args: the engine sub-command and its arguments.
            feedback: the algorithm's feedback.
            out_dir: the output folder of the run: when the run is cancelled or fails,
                the folders it created (and that stayed empty) are removed.
            span: the share of the progress bar this call fills.

        Raises:
            QgsProcessingException: the engine's error (its message names the fix).
        """
        created = _missing_ancestor(Path(out_dir)) if out_dir else None
        try:
            res = engine.run_engine(args, feedback, span=span) if not feedback.isCanceled() \
                else engine.EngineResult(cancelled=True)
        except BaseException:
            _remove_empty(Path(out_dir), created) if out_dir else None
            raise
        if res.cancelled:
            if out_dir:
                _remove_empty(Path(out_dir), created)
            feedback.pushWarning(self.tr("Cancelled by the user: nothing was written (earlier "
                                         "results in the output folder are unchanged)."))
            return None
        return res


def _missing_ancestor(folder: Path) -> Optional[Path]:
    """The highest folder on the way to ``folder`` that does not exist yet (None: it exists)."""
    top = None
    for p in (folder, *folder.parents):
        if p.exists():
            break
        top = p
    return top


def _remove_empty(folder: Path, top: Optional[Path]) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    if top is None:
        return
    p = folder
    while True:
        try:
            p.rmdir()
        except OSError:
            return
        if p == top or p.parent == p:
            return
        p = p.parent
