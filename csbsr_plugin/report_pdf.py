"""The PDF inspection report: a QGIS print layout that lays out a :class:`ReportContent`.

The engine decides what a report says (``<stem>_report.json``, written by ``csbsr run`` and
``csbsr report --content-json``; the HTML report lays out the same object). This module only
places it on pages:

1. title, title block, key figures, overview map (orthophoto + cracks by severity + zones)
   with scale bar and north arrow, the severity legend with its width limits and standard,
   and the length by type and severity;
2. the longest and widest cracks (ids, type, severity, widths, X/Y) and the zones;
3. one page per detail zone: its map with the segment ids, and its figures.

The maps are images rendered beforehand off the main thread (``report_maps.py``); a layer-less
map item over each picture carries the scale bar. Exporting (main thread, as every print
layout) then takes a fraction of a second.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemLabel,
    QgsLayoutItemManualTable,
    QgsLayoutItemMap,
    QgsLayoutItemPage,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutMultiFrame,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLayoutTable,
    QgsLayoutTableColumn,
    QgsLayoutUtils,
    QgsPrintLayout,
    QgsProcessingException,
    QgsProject,
    QgsRectangle,
    QgsRenderContext,
    QgsScaleBarSettings,
    QgsTableCell,
    QgsTextFormat,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QFont

from ..core.report.model import ReportContent, Table
from ..core.report.style import (
    SEVERITY_LABELS,
    TOP_COLUMNS,
    TYPE_LABELS,
    fmt,
    nice_step,
)
from .report_maps import MARGIN_MM, PAGE_MM, RenderedMap, map_boxes

ROW_MM = 4.6  # height of a table row at 7.5 pt with its margins
HEADINGS = {**dict(TOP_COLUMNS), "zone_id": "Zone", "len_m": "Length (m)", "n_seg": "Segments",
            **{f"len_{s}_m": f"{SEVERITY_LABELS[s]} (m)" for s in SEVERITY_LABELS},
            **{s: f"{SEVERITY_LABELS[s]} (m)" for s in SEVERITY_LABELS},
            "xmin": "X min", "ymin": "Y min", "xmax": "X max", "ymax": "Y max"}


def _text_format(size: float, bold: bool = False, colour: str = "#202020") -> QgsTextFormat:
    tf = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(bold)
    tf.setFont(font)
    tf.setSize(size)
    tf.setSizeUnit(QgsUnitTypes.RenderPoints)
    tf.setColor(QColor(colour))
    return tf


class _Page:
    """Places items on one page of a layout (mm from the page's top left)."""

    def __init__(self, layout: QgsPrintLayout, index: int) -> None:
        self.layout, self.index = layout, index

    def place(self, item: Any, x: float, y: float, w: float, h: float) -> Any:
        item.attemptMove(QgsLayoutPoint(x, y), page=self.index)
        item.attemptResize(QgsLayoutSize(w, h))
        return item

    def label(self, text: str, x: float, y: float, w: float, h: float, size: float = 8.0,
              bold: bool = False, colour: str = "#202020") -> QgsLayoutItemLabel:
        lab = QgsLayoutItemLabel(self.layout)
        lab.setText(text)
        font = QFont("DejaVu Sans")
        font.setPointSizeF(size)
        font.setBold(bold)
        lab.setFont(font)
        lab.setFontColor(QColor(colour))
        lab.setVAlign(Qt.AlignTop)
        self.layout.addLayoutItem(lab)
        return self.place(lab, x, y, w, h)

    def table(self, header: Optional[Sequence[str]], rows: Sequence[Sequence[Any]], x: float,
              y: float, w: float, widths: Optional[Sequence[float]] = None,
              size: float = 7.0, bold_rows: Sequence[int] = ()) -> float:
        """A manual table; cells are text or (text, background colour). Returns its bottom."""
        table = QgsLayoutItemManualTable.create(self.layout)
        table.setHeaderTextFormat(_text_format(size, True))
        table.setContentTextFormat(_text_format(size))
        table.setCellMargin(0.8)
        table.setGridStrokeWidth(0.15)
        table.setGridColor(QColor("#9a9a9a"))
        table.setWrapBehavior(QgsLayoutTable.WrapText)
        table.setResizeMode(QgsLayoutMultiFrame.UseExistingFrames)
        contents = []
        for row in rows:
            cells = []
            for v in row:
                text, colour = v if isinstance(v, tuple) else (v, None)
                cell = QgsTableCell(str(text))
                if len(contents) in bold_rows:
                    cell.setTextFormat(_text_format(size + 1.5, True))
                if colour:
                    cell.setBackgroundColor(QColor(colour))
                cells.append(cell)
            contents.append(cells)
        table.setTableContents(contents)
        if header:
            table.setIncludeTableHeader(True)
            table.setHeaders([QgsLayoutTableColumn(str(h)) for h in header])
        if widths:
            table.setColumnWidths([float(v) for v in widths])
        self.layout.addMultiFrame(table)
        frame = QgsLayoutFrame(self.layout, table)
        self.layout.addLayoutItem(frame)
        height = _table_height(header, rows, widths, size, 0.8) + 0.6
        self.place(frame, x, y, w, height)
        table.addFrame(frame)
        return y + height

    def map(self, rendered: RenderedMap, crs: Any, x: float, y: float, w: float, h: float,
            projected: bool) -> None:
        """The map picture, a layer-less map item over it (frame, scale bar) and a north
        arrow."""
        pic = QgsLayoutItemPicture(self.layout)
        pic.setPicturePath(str(rendered.png))
        pic.setResizeMode(QgsLayoutItemPicture.Stretch)
        self.layout.addLayoutItem(pic)
        self.place(pic, x, y, w, h)
        mp = QgsLayoutItemMap(self.layout)
        mp.setBackgroundEnabled(False)
        mp.setFrameEnabled(True)
        mp.setCrs(crs)
        mp.setLayers([])
        mp.setKeepLayerSet(True)
        self.layout.addLayoutItem(mp)
        self.place(mp, x, y, w, h)
        mp.setExtent(QgsRectangle(*rendered.extent))
        mp.attemptResize(QgsLayoutSize(w, h))
        bar = QgsLayoutItemScaleBar(self.layout)
        bar.setStyle("Single Box")
        bar.setLinkedMap(mp)
        bar.setUnits(QgsUnitTypes.DistanceMeters)
        bar.setUnitLabel("m")
        bar.setTextFormat(_text_format(7))
        bar.setHeight(2.0)
        bar.setBackgroundEnabled(True)
        bar.setBackgroundColor(QColor(255, 255, 255, 210))
        width = rendered.extent[2] - rendered.extent[0]
        if projected and width > 0:
            bar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeFixed)
            bar.setUnitsPerSegment(nice_step(width / 8.0))
        bar.setNumberOfSegments(2)
        bar.setNumberOfSegmentsLeft(0)
        self.layout.addLayoutItem(bar)
        bar.attemptMove(QgsLayoutPoint(x + 2, y + h - 9), page=self.index)
        bar.update()
        svg = _north_arrow()
        if svg:
            arrow = QgsLayoutItemPicture(self.layout)
            arrow.setPicturePath(svg)
            self.layout.addLayoutItem(arrow)
            self.place(arrow, x + w - 10, y + 2, 8, 12)


def _table_height(header: Optional[Sequence[str]], rows: Sequence[Sequence[Any]],
                  widths: Optional[Sequence[float]], size: float, margin: float) -> float:
    """The height (mm) a manual table needs: one text line per cell, more where a fixed
    column width wraps it."""
    font = QFont("DejaVu Sans")
    font.setPointSizeF(size)
    line = QgsLayoutUtils.fontHeightMM(font)
    total = 0.0
    for k, row in enumerate(([header] if header else []) + list(rows)):
        lines = 1
        for j, v in enumerate(row):
            if widths and j < len(widths) and widths[j] > 2 * margin:
                text = str(v[0] if isinstance(v, tuple) else v)
                width = QgsLayoutUtils.textWidthMM(font, text) * (1.1 if k == 0 and header
                                                                  else 1.0)
                lines = max(lines, int(math.ceil(width / (widths[j] - 2 * margin) - 1e-9)))
        total += lines * line + 2 * margin + 0.3
    return total


def _north_arrow() -> Optional[str]:
    for base in QgsApplication.svgPaths():
        p = Path(base) / "arrows" / "NorthArrow_02.svg"
        if p.is_file():
            return str(p)
    return None


def _cells(table: Table) -> List[List[str]]:
    """The rows of a content table as text: codes in words, numbers with their digits."""
    keys = table.header
    out = []
    for row in table.rows:
        cells = []
        for j, v in enumerate(row):
            key = keys[j] if j < len(keys) else ""
            if key == "ctype":
                v = TYPE_LABELS.get(v, v)
            elif key == "sev":
                v = SEVERITY_LABELS.get(v, v)
            cells.append(fmt(v, table.digits[j] if j < len(table.digits) else 2))
        out.append(cells)
    return out


def _header(table: Table) -> List[str]:
    return [HEADINGS.get(h, h) for h in table.header]


def build_layout(content: ReportContent, maps: Dict[str, RenderedMap],
                 page_size: str = "A4") -> QgsPrintLayout:
    """The print layout of ``content`` with the pre-rendered ``maps`` (main thread)."""
    project = QgsProject()
    crs = QgsCoordinateReferenceSystem.fromWkt(content.crs_wkt) if content.crs_wkt else \
        QgsCoordinateReferenceSystem()
    project.setCrs(crs)
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName(f"CSBSR inspection report - {content.stem}")
    pw, ph = PAGE_MM[page_size]
    details = [z for z in content.zones if z.detail and f"zone:{z.zone_id}" in maps]
    pages = layout.pageCollection()
    pages.page(0).setPageSize(QgsLayoutSize(pw, ph))
    for _ in range(1 + len(details)):
        page = QgsLayoutItemPage(layout)
        page.setPageSize(QgsLayoutSize(pw, ph))
        pages.addPage(page)
    m, cw = MARGIN_MM, pw - 2 * MARGIN_MM
    projected = not crs.isGeographic()
    footer = (f"csbsr {content.version} - {content.stem} - generated {content.generated[:16]}"
              .replace("T", " "))
    n_pages = 2 + len(details)

    p = _Page(layout, 0)
    p.label(content.title, m, m, cw, 10, 16, True)
    y = p.table(None, [[k, v] for k, v in content.title_block[1:]], m, m + 11, cw, [28, cw - 28])
    y = p.table([k.label for k in content.key_figures], [[k.text for k in content.key_figures]],
                m, y + 3, cw, bold_rows=(0,)) + 3
    box = map_boxes(page_size)["overview"]
    if "overview" in maps:
        p.map(maps["overview"], crs, m, y, box[0], box[1], projected)
        y += box[1] + 3
    legend_rows = [[("", item.colour), f"{item.label}: {item.limits}"]
                   for item in content.legend]
    p.label("Crack severity (median width)", m, y, 100, 5, 8.5, True)
    y = p.table(None, legend_rows, m, y + 5, 100, [8, 92]) + 4
    ts = content.tables.get("type_severity")
    if ts is not None:
        p.label(ts.title, m, y, cw, 5, 8.5, True)
        p.table(_header(ts), _cells(ts), m, y + 5, cw)
    p.label(f"{footer} - page 1 of {n_pages}", m, ph - m - 4, cw, 4, 6.5, colour="#666666")

    p = _Page(layout, 1)
    y = m
    for key in ("longest", "widest", "zones"):
        t = content.tables.get(key)
        if t is None:
            continue
        p.label(t.title, m, y, cw, 6, 10, True)
        cells = _cells(t)
        if key == "zones":  # the zone bounds are for GIS use (CSV), not for reading
            cells = [r[:7] for r in cells]
        y = p.table(_header(t)[:7] if key == "zones" else _header(t), cells, m, y + 6, cw) + 5
    notes = [*content.notes, "X/Y: map coordinates (run CRS) of the middle of each segment; "
             "ids are the seg_id / crack_id of the crack lines layer."]
    p.label("\n".join(notes), m, y, cw, ph - m - 8 - y, 7, colour="#444444")
    p.label(f"{footer} - page 2 of {n_pages}", m, ph - m - 4, cw, 4, 6.5, colour="#666666")

    zbox = map_boxes(page_size)["zone"]
    for i, z in enumerate(details):
        p = _Page(layout, 2 + i)
        p.label(f"Zone {z.zone_id} - {content.stem}", m, m, cw, 9, 14, True)
        by = ", ".join(f"{SEVERITY_LABELS[s]} {fmt(v)} m" for s, v in z.len_by_sev_m.items()
                       if v)
        ids = ", ".join(str(sid) for sid in z.seg_ids[:40]) + (" ..." if len(z.seg_ids) > 40
                                                           else "")
        p.label(f"Crack length in the zone: {fmt(z.len_m)} m ({by or 'none'}); "
                f"{z.n_seg} segments.\nSegment ids (longest first; labelled on the map): "
                f"{ids}", m, m + 10, cw, 14, 8)
        p.map(maps[f"zone:{z.zone_id}"], crs, m, m + 26, zbox[0], zbox[1], projected)
        p.table(None, legend_rows, m, m + 28 + zbox[1], 100, [8, 92])
        p.label(f"{footer} - page {3 + i} of {n_pages}", m, ph - m - 4, cw, 4, 6.5,
                colour="#666666")
    layout._project = project  # keep the private project alive as long as the layout
    return layout


def export_pdf(layout: QgsPrintLayout, out_pdf: Any, dpi: int = 200) -> Path:
    """Export ``layout`` to ``out_pdf`` (written under a temporary name, then renamed)."""
    out = Path(out_pdf)
    settings = QgsLayoutExporter.PdfExportSettings()
    settings.dpi = dpi
    settings.rasterizeWholeImage = False
    settings.exportMetadata = True
    settings.textRenderFormat = QgsRenderContext.TextFormatAlwaysText
    tmp = out.with_name(f".{out.stem}.partial.pdf")
    try:
        result = QgsLayoutExporter(layout).exportToPdf(str(tmp), settings)
        if result != QgsLayoutExporter.Success:
            raise QgsProcessingException(f"the PDF report could not be written ({result}): "
                                         f"check that {out.parent} is writable")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
