"""Boilerplate shared by the CSBSR Processing algorithms.

``tr``, ``createInstance``, group, help URL, ``canExecute`` (missing engine dependencies are
explained instead of failing at import time) and ``call_core`` (maps ``CsbsrError`` to
``QgsProcessingException`` and ``Cancelled`` to ``None``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ...core.errors import Cancelled, CsbsrError, OutputExistsError
from .. import deps
from ..paths import ICON_PATH

HELP_URL = "https://example.invalid/csbsr#qgis-plugin"


class CsbsrAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses define name/displayName/initAlgorithm/processAlgorithm."""

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
        return HELP_URL

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def canExecute(self) -> Tuple[bool, str]:
        message = deps.missing_message()
        return (not message, message)

    def check_dependencies(self) -> None:
        """Raise QgsProcessingException with the install instructions if something is missing.

        ``qgis_process`` does not call ``canExecute``, so ``processAlgorithm`` calls this first.
        It also isolates the wheels' native libraries from QGIS's (see ``native_libs``).
        """
        message = deps.missing_message()
        if message:
            raise QgsProcessingException(message)
        from .. import native_libs

        native_libs.isolate()
        clash = native_libs.check()
        if clash:
            raise QgsProcessingException(clash)

    def call_core(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Optional[Any]:
        """Run a core function; return its result, or None when the user cancelled.

        Raises:
            QgsProcessingException: for every ``CsbsrError`` (its message names the fix).
        """
        try:
            return fn(*args, **kwargs)
        except Cancelled:
            return None
        except OutputExistsError as exc:
            raise QgsProcessingException(
                f"{exc} (in QGIS: tick 'Replace existing outputs' or choose another folder)"
            ) from exc
        except CsbsrError as exc:
            raise QgsProcessingException(str(exc)) from exc
