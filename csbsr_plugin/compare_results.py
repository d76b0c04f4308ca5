"""Showing a comparison of two inspections (``csbsr:comparesurveys``) in a project.

The ``crack_change`` layer of the comparison's ``change.gpkg``, styled by change class
(``resources/styles/crack_change.qml``: new red, extended orange, widened magenta, unchanged
grey, gone blue dashed), named after the two inspections and added at the top of the layer
tree. Used by the algorithm (Processing loads the layer when it ends: toolbox, batch) and by
the dock; both name and style it the same way. Everything here runs on the main thread.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsVectorLayer,
)

from ..core.layout import CHANGE_LAYER, ChangeLayout
from .styling import apply_style

CHANGE_STYLE = "crack_change"
_KEEP: List[Any] = []  # QGIS holds post-processors by C++ pointer only


def change_source(folder: Any) -> str:
    """The OGR source of the ``crack_change`` layer of a comparison folder."""
    return f"{ChangeLayout(Path(folder)).path('change')}|layername={CHANGE_LAYER}"


def read_change_summary(folder: Any) -> Dict[str, Any]:
    """The comparison's ``change_summary.json`` ({} when absent or unreadable)."""
    try:
        data = json.loads(ChangeLayout(Path(folder)).path("summary").read_text(
            encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _side(summary: Dict[str, Any], role: str) -> str:
    side = summary.get(role) or {}
    runs = side.get("runs") or []
    if len(runs) == 1:
        return str(runs[0])
    return Path(str(side.get("path") or role)).name


def change_layer_name(summary: Dict[str, Any]) -> str:
    """E.g. ``"crack changes site_2021 → site_2024"``."""
    return f"crack changes {_side(summary, 'old')} → {_side(summary, 'new')}"


def style_change_layer(layer: Any, summary: Optional[Dict[str, Any]] = None) -> None:
    """Style ``layer`` by change class and name it after the two inspections."""
    apply_style(layer, CHANGE_STYLE)
    if summary:
        layer.setName(change_layer_name(summary))


def open_change_layer(folder: Any) -> Optional[QgsVectorLayer]:
    """The comparison's ``crack_change`` layer, styled and named (None: absent/invalid)."""
    if not ChangeLayout(Path(folder)).path("change").is_file():
        return None
    summary = read_change_summary(folder)
    layer = QgsVectorLayer(change_source(folder), change_layer_name(summary), "ogr")
    if not layer.isValid():
        return None
    style_change_layer(layer, summary)
    return layer


def add_changes(project: QgsProject, folder: Any) -> Optional[QgsVectorLayer]:
    """Add the comparison's change layer at the top of the layer tree; return it."""
    layer = open_change_layer(folder)
    if layer is None:
        return None
    project.addMapLayer(layer, False)
    project.layerTreeRoot().insertLayer(0, layer)
    return layer


class ChangeLayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles and names the change layer Processing loaded (toolbox, batch)."""

    def __init__(self, folder: Any) -> None:
        super().__init__()
        self.folder = Path(folder)

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:
        style_change_layer(layer, read_change_summary(self.folder))
        if self in _KEEP:
            _KEEP.remove(self)


def load_changes_on_completion(context: QgsProcessingContext, folder: Any,
                               output: str = "") -> None:
    """Ask Processing to load the change layer when the algorithm ends (styled, named);
    nothing without a project (``qgis_process``) or file."""
    if context.project() is None or not ChangeLayout(Path(folder)).path("change").is_file():
        return
    details = QgsProcessingContext.LayerDetails(
        change_layer_name(read_change_summary(folder)), context.project(), output)
    details.forceName = True
    post = ChangeLayerPostProcessor(folder)
    _KEEP.append(post)
    details.setPostProcessor(post)
    context.addLayerToLoadOnCompletion(change_source(folder), details)
