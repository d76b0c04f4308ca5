"""Adding a run's outputs to a project: one layer group per run, named after the orthophoto,
at the top of the layer tree; earlier runs' groups are hidden and collapsed.

Used by the dock (:func:`add_run`) and, for toolbox/batch runs, by the post-processor Processing
calls on each loaded layer (:class:`RunLayerPostProcessor`): both paths name, style and group
the layers the same way. Everything here runs on the main thread.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsLayerTreeGroup,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..core.layout import NODE_LAYER, SEGMENT_LAYER, RunLayout
from .styling import ROLES, layer_name, style_layer

RUN_KEY = "csbsr/run"  # custom property of a run's group: its run folder and stem
_KEEP: List[Any] = []  # QGIS holds post-processors by C++ pointer only


def read_summary(layout: RunLayout) -> Dict[str, Any]:
    """The run's ``<stem>_summary.json`` ({} when absent or unreadable)."""
    try:
        return json.loads(layout.path("summary").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_key(layout: RunLayout) -> str:
    """The identity of a run's group."""
    return f"{layout.folder}|{layout.stem}"


def run_group(project: QgsProject, layout: RunLayout) -> QgsLayerTreeGroup:
    """The layer group of the run (created at the top, earlier run groups hidden)."""
    root = project.layerTreeRoot()
    key = run_key(layout)
    for group in root.findGroups():
        if group.customProperty(RUN_KEY) == key:
            return group
    for group in root.findGroups():
        if group.customProperty(RUN_KEY):
            group.setItemVisibilityChecked(False)
            group.setExpanded(False)
    group = root.insertGroup(0, f"{layout.stem} - cracks {time.strftime('%H:%M')}")
    group.setCustomProperty(RUN_KEY, key)
    return group


def put_in_group(project: QgsProject, layer: Any, group: QgsLayerTreeGroup,
                 visible: bool = True) -> None:
    """Add ``layer`` to ``group`` (moving it there if it is already in the tree)."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        if project.mapLayer(layer.id()) is None:
            project.addMapLayer(layer, False)
        node = group.addLayer(layer)
    elif node.parent() is not group:
        clone = node.clone()
        group.addChildNode(clone)
        node.parent().removeChildNode(node)
        node = clone
    node.setItemVisibilityChecked(visible)
    node.setExpanded(isinstance(layer, QgsVectorLayer) and visible)


def open_output(layout: RunLayout, role: str, name: str) -> Optional[Any]:
    """The run output of ``role`` as a layer (None when the file is absent or invalid)."""
    if role in ("cracks", "nodes"):
        path = layout.path("cracks")
        sub = SEGMENT_LAYER if role == "cracks" else NODE_LAYER
        layer = QgsVectorLayer(f"{path}|layername={sub}", name, "ogr") if path.is_file() \
            else None
    else:
        path = layout.path(role)
        layer = QgsRasterLayer(str(path), name, "gdal") if path.is_file() else None
    return layer if layer is not None and layer.isValid() else None


def add_run(project: QgsProject, layout: RunLayout,
            roles: tuple = ("cracks", "nodes", "prob", "mask", "sr")) -> List[Any]:
    """Add a finished run's outputs, styled, in the run's group; return the layers."""
    summary = read_summary(layout)
    group = run_group(project, layout)
    layers = []
    for role in roles:
        layer = open_output(layout, role, layer_name(layout.stem, role))
        if layer is None:
            continue
        style_layer(layer, role, layout.stem, summary)
        put_in_group(project, layer, group, ROLES[role][2])
        layers.append(layer)
    return layers


class RunLayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles, names and groups one layer Processing loaded from a run (toolbox, batch)."""

    def __init__(self, layout: RunLayout, role: str) -> None:
        super().__init__()
        self.layout, self.role = layout, role

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:
        project = context.project()
        style_layer(layer, self.role, self.layout.stem, read_summary(self.layout))
        if project is not None:
            put_in_group(project, layer, run_group(project, self.layout), ROLES[self.role][2])
        if self in _KEEP:
            _KEEP.remove(self)


def load_on_completion(context: QgsProcessingContext, layout: RunLayout, role: str,
                       output: str = "") -> None:
    """Ask Processing to load the run file of ``role`` when the algorithm ends (styled,
    named, grouped); nothing without a project (``qgis_process``) or file."""
    path = layout.path("cracks" if role == "nodes" else role)
    if context.project() is None or not Path(path).is_file():
        return
    source = str(path)
    if role in ("cracks", "nodes"):
        source = f"{path}|layername={SEGMENT_LAYER if role == 'cracks' else NODE_LAYER}"
    details = QgsProcessingContext.LayerDetails(layer_name(layout.stem, role),
                                                context.project(), output)
    details.forceName = True
    post = RunLayerPostProcessor(layout, role)
    _KEEP.append(post)
    details.setPostProcessor(post)
    context.addLayerToLoadOnCompletion(source, details)


def style_sink_on_completion(context: QgsProcessingContext, dest_id: str, layout: RunLayout,
                             role: str) -> None:
    """Style, name and group a feature-sink output that Processing will load."""
    if dest_id and context.willLoadLayerOnCompletion(dest_id):
        details = context.layerToLoadOnCompletionDetails(dest_id)
        details.name = layer_name(layout.stem, role)
        details.forceName = True
        post = RunLayerPostProcessor(layout, role)
        _KEEP.append(post)
        details.setPostProcessor(post)
