"""QML styles of the outputs, applied when Processing (or the dock) loads them.

Processing loads result layers after the algorithm has finished; a layer post-processor
applies ``resources/styles/<name>.qml`` then. QGIS keeps only a C++ pointer to the
post-processor, so Python references are kept here until the layer is styled.
"""
from __future__ import annotations

from typing import Any, List

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface

from .paths import style_path

_KEEP: List[StyleOnLoad] = []


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies one QML style to a layer Processing just loaded."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:
        apply_style(layer, self.style)
        if self in _KEEP:
            _KEEP.remove(self)


def apply_style(layer: Any, style: str) -> bool:
    """Load ``resources/styles/<style>.qml`` into ``layer``; return True on success."""
    path = style_path(style)
    if layer is None or not path.is_file():
        return False
    _msg, ok = layer.loadNamedStyle(str(path))
    layer.triggerRepaint()
    return bool(ok)


def load_on_completion(context: QgsProcessingContext, path: str, name: str, output: str,
                       style: str) -> None:
    """Ask Processing to load ``path`` as ``name`` when the run ends, styled with ``style``.

    Does nothing without a project (``qgis_process``).
    """
    if context.project() is None:
        return
    details = QgsProcessingContext.LayerDetails(name, context.project(), output)
    post = StyleOnLoad(style)
    _KEEP.append(post)
    details.setPostProcessor(post)
    context.addLayerToLoadOnCompletion(path, details)


def style_sink_on_completion(context: QgsProcessingContext, dest_id: str, style: str) -> None:
    """Attach a style to a feature-sink output that Processing will load."""
    if dest_id and context.willLoadLayerOnCompletion(dest_id):
        post = StyleOnLoad(style)
        _KEEP.append(post)
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(post)
