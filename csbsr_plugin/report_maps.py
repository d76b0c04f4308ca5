"""The maps of the PDF report, rendered to PNG files off the main thread.

A print layout must be exported on the main thread, and rendering its map items is what took
QGIS ~6 s to write a report (the GUI froze meanwhile). So the maps are drawn here, in the
algorithm's worker thread, with ``QgsMapRendererCustomPainterJob.renderSynchronously`` (QGIS
renders maps in threads all the time); the layout (``report_pdf.py``) only places the images,
which is fast. Each map's extent is fitted to the aspect of its box on the page, so a
layer-less map item over the picture gives the scale bar the same extent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from qgis.core import (
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsField,
    QgsFillSymbol,
    QgsGeometry,
    QgsMapRendererCustomPainterJob,
    QgsMapSettings,
    QgsPalLayerSettings,
    QgsRasterLayer,
    QgsRectangle,
    QgsSingleSymbolRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import QSize, QVariant
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter

from ..core.layout import SEGMENT_LAYER, RunLayout
from ..core.report.model import ReportContent
from .styling import apply_style

#: page sizes (mm) and the boxes of the maps on them (mm): the layout uses the same numbers
PAGE_MM = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
MARGIN_MM = 12.0
OVERVIEW_H_MM = 100.0
ZONE_H_MM = 150.0


def map_boxes(page_size: str) -> Dict[str, Tuple[float, float]]:
    """(width, height) in mm of the overview map and of a zone map on ``page_size``."""
    w = PAGE_MM[page_size][0] - 2 * MARGIN_MM
    return {"overview": (w, OVERVIEW_H_MM), "zone": (w, ZONE_H_MM)}


@dataclass(frozen=True)
class RenderedMap:
    """A map image and the extent (map units, fitted to the image's aspect) it shows."""

    png: Path
    extent: Tuple[float, float, float, float]


def fit_extent(bounds: Sequence[float], box_mm: Tuple[float, float], pad: float = 0.03
               ) -> Tuple[float, float, float, float]:
    """``bounds`` grown by ``pad`` and then to the aspect of ``box_mm`` (centred)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    aspect = box_mm[0] / box_mm[1]
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def background_path(layout: RunLayout, role: Optional[str]) -> Optional[Tuple[str, str]]:
    """(path, role) of the map background: the orthophoto the run recorded, else SR, else
    probability (None when there is none)."""
    order = [role] if role else []
    order += [r for r in ("ortho", "sr", "prob") if r not in order]
    for r in order:
        if r == "ortho":
            try:
                rec = json.loads(layout.path("run").read_text(encoding="utf-8"))
                path = Path(str((rec.get("input") or {}).get("path") or ""))
            except (OSError, ValueError):
                continue
        else:
            path = layout.path(r)
        if str(path) and path.is_file():
            return str(path), r
    return None


def _labels(layer: QgsVectorLayer, field: str, size: float, colour: str) -> None:
    pal = QgsPalLayerSettings()
    pal.fieldName = field
    pal.placement = QgsPalLayerSettings.Line if layer.geometryType() == 1 else \
        QgsPalLayerSettings.OverPoint
    fmt = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(True)
    fmt.setFont(font)
    fmt.setSize(size)
    fmt.setColor(QColor(colour))
    buf = QgsTextBufferSettings()
    buf.setEnabled(True)
    buf.setSize(0.8)
    buf.setColor(QColor(255, 255, 255, 230))
    fmt.setBuffer(buf)
    pal.setFormat(fmt)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(pal))
    layer.setLabelsEnabled(True)


def _zones_layer(content: ReportContent, crs: Any) -> QgsVectorLayer:
    layer = QgsVectorLayer("Polygon", "zones", "memory")
    layer.setCrs(crs)
    layer.dataProvider().addAttributes([QgsField("zone_id", QVariant.String)])
    layer.updateFields()
    feats = []
    for z in content.zones:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(z.outline) if z.outline
                      else QgsGeometry.fromRect(QgsRectangle(*z.bounds)))
        f.setAttributes([z.zone_id])
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple({
        "color": "0,0,0,0", "outline_color": "0,150,190,255", "outline_width": "0.5",
        "outline_style": "dash"})))
    _labels(layer, "zone_id", 10, "#005a78")
    return layer


def render(layers: List[Any], crs: Any, extent: Tuple[float, float, float, float],
           box_mm: Tuple[float, float], png: Path, dpi: int) -> RenderedMap:
    """Render ``layers`` (top first) over ``extent`` into ``png`` at ``dpi`` for a box of
    ``box_mm`` (runs in the calling thread)."""
    size = QSize(int(round(box_mm[0] / 25.4 * dpi)), int(round(box_mm[1] / 25.4 * dpi)))
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setTransformContext(QgsCoordinateTransformContext())
    settings.setOutputSize(size)
    settings.setOutputDpi(dpi)
    settings.setExtent(QgsRectangle(*extent))
    settings.setBackgroundColor(QColor(255, 255, 255))
    image = QImage(size, QImage.Format_ARGB32_Premultiplied)
    image.setDotsPerMeterX(int(dpi / 0.0254))
    image.setDotsPerMeterY(int(dpi / 0.0254))
    image.fill(QColor(255, 255, 255))
    painter = QPainter(image)
    job = QgsMapRendererCustomPainterJob(settings, painter)
    job.renderSynchronously()
    painter.end()
    image.save(str(png), "PNG")
    shown = settings.visibleExtent()
    return RenderedMap(png, (shown.xMinimum(), shown.yMinimum(), shown.xMaximum(),
                             shown.yMaximum()))


def render_report_maps(content: ReportContent, layout: RunLayout, out_dir: Path,
                       page_size: str = "A4", dpi: int = 200, feedback: Any = None
                       ) -> Dict[str, RenderedMap]:
    """Render the overview map and one map per detail zone of ``content`` into ``out_dir``.

    Returns:
        {"overview": ..., "zone:<id>": ...}; empty when the run has no crack layer.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cracks = QgsVectorLayer(f"{layout.path('cracks')}|layername={SEGMENT_LAYER}", "cracks",
                            "ogr")
    if not cracks.isValid():
        return {}
    apply_style(cracks, "crack_lines")
    cracks.setLabelsEnabled(False)
    crs = cracks.crs()
    back = background_path(layout, content.background)
    background = None
    if back is not None:
        background = QgsRasterLayer(back[0], "background", "gdal")
        if not background.isValid():
            background = None
        elif back[1] == "prob":
            apply_style(background, "crack_prob")
    under = [background] if background is not None else []
    boxes = map_boxes(page_size)
    maps = {"overview": render([_zones_layer(content, crs), cracks, *under], crs,
                               fit_extent(content.extent, boxes["overview"]),
                               boxes["overview"], out_dir / "overview.png", dpi)}
    labelled = cracks.clone()
    _labels(labelled, "seg_id", 8, "#000000")
    detail = [z for z in content.zones if z.detail]
    for i, z in enumerate(detail):
        if feedback is not None:
            if feedback.isCanceled():
                break
            feedback.setProgress(100.0 * (i + 1) / (len(detail) + 1))
        maps[f"zone:{z.zone_id}"] = render(
            [labelled, *under], crs, fit_extent(z.bounds, boxes["zone"], 0.05), boxes["zone"],
            out_dir / f"zone_{z.zone_id}.png", dpi)
    return maps
