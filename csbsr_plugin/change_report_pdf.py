"""The PDF change report of a comparison (``csbsr:comparesurveys`` "Create the PDF report").

The engine decides what a change report says: ``change_summary.json`` (``csbsr compare``) and
the tables and lines of ``core.compare.content``, which the engine's HTML report lays out too.
This module only places them on two pages of a QGIS print layout, as ``report_pdf.py`` does
for the inspection report:

1. title, the two inspections, key figures, the map of the change classes over the later
   orthophoto (scale bar, north arrow), the lines and length per class (with the class
   colours as the legend) and the growth;
2. the registration figures, the uncertainty model and the table of the largest changes.

The map is rendered beforehand in the algorithm's worker thread (``report_maps.render``); the
layout is built and exported on the main thread (:meth:`ChangeReportJob.write`).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsLayoutItemPage,
    QgsLayoutSize,
    QgsPrintLayout,
    QgsProcessingException,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
)

from ..core.compare.content import ChangeTable, change_tables, key_figures, title_block
from ..core.compare.schema import COLOURS
from ..core.layout import ChangeLayout
from .compare_results import open_change_layer, read_change_summary
from .report_maps import MARGIN_MM, PAGE_MM, RenderedMap, fit_extent, render
from .report_pdf import _Page, export_pdf

MAP_H_MM = 115.0
TOP_CHANGES = 20
#: relative column widths of the wide tables (they wrap inside the page width)
WEIGHTS = {"registration": (30, 27, 17, 13, 13, 12, 16, 17, 16, 13),
           "uncertainty": (32, 8, 22, 16, 20, 18, 20, 17),
           "largest": (16, 20, 13, 14, 15, 11, 12, 13, 11, 34)}


CELL_EXTRA_MM = 2 * 0.8 + 0.2  # a manual table adds its cell margins and grid to each column


def _widths(total: float, weights: Sequence[float]) -> List[float]:
    """Column widths (mm) of a table ``total`` mm wide, in proportion to ``weights``."""
    s = float(sum(weights))
    room = total - len(weights) * CELL_EXTRA_MM
    return [room * w / s for w in weights]


class ChangeReportJob:
    """One PDF change report: prepared in the worker thread, written on the main thread."""

    def __init__(self, folder: Any, out_pdf: Optional[Any] = None,
                 page_size: str = "A4") -> None:
        self.folder = Path(folder)
        self.out_pdf = Path(out_pdf) if out_pdf else ChangeLayout(self.folder).path(
            "report_pdf")
        self.page_size = page_size
        self.summary: Dict[str, Any] = {}
        self.map: Optional[RenderedMap] = None
        self.crs_wkt = ""
        self.pages = 0

    def prepare(self, feedback: Any = None, dpi: int = 200) -> bool:
        """Read the change summary and render the map. False when the user cancelled.

        Raises:
            QgsProcessingException: the folder holds no comparison.
        """
        self.summary = read_change_summary(self.folder)
        layer = open_change_layer(self.folder)
        if not self.summary or layer is None:
            raise QgsProcessingException(
                f"{self.folder} holds no comparison (change.gpkg and change_summary.json): "
                "run 'Compare two inspections' first")
        if feedback is not None:
            feedback.setProgressText("Drawing the change map")
        self.crs_wkt = layer.crs().toWkt()
        under = []
        for ortho in dict.fromkeys(str(p.get("new_ortho") or "")
                                   for p in self.summary.get("pairs", [])):
            if ortho and Path(ortho).is_file():
                raster = QgsRasterLayer(ortho, "later orthophoto", "gdal")
                if raster.isValid():
                    under.append(raster)
        extent = layer.extent()
        if extent.isEmpty() and under:
            extent = under[0].extent()
        box = (PAGE_MM[self.page_size][0] - 2 * MARGIN_MM, MAP_H_MM)
        bounds = (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
        work = Path(tempfile.mkdtemp(prefix="csbsr_change_",
                                     dir=QgsProcessingUtils.tempFolder()))
        self.map = render([layer, *under], layer.crs(), fit_extent(bounds, box), box,
                          work / "change_map.png", dpi)
        return feedback is None or not feedback.isCanceled()

    def write(self) -> Path:
        """Lay out and export the PDF (main thread)."""
        if not self.summary:
            raise QgsProcessingException("internal: the change report was not prepared")
        layout = build_change_layout(self.summary, self.map, self.crs_wkt, self.page_size)
        self.pages = layout.pageCollection().pageCount()
        return export_pdf(layout, self.out_pdf)


def _rows(t: ChangeTable, swatches: bool = False) -> List[List[Any]]:
    """The table's text rows; with ``swatches`` a first cell coloured by the row's class."""
    out: List[List[Any]] = []
    for i, row in enumerate(t.rows):
        cls = t.row_classes[i] if i < len(t.row_classes) else None
        out.append(([("", COLOURS.get(cls or "", "#ffffff"))] if swatches else []) + list(row))
    return out


def build_change_layout(summary: Dict[str, Any], rendered: Optional[RenderedMap],
                        crs_wkt: str, page_size: str = "A4") -> QgsPrintLayout:
    """The print layout of a change summary with its pre-rendered map (main thread)."""
    project = QgsProject()
    crs = QgsCoordinateReferenceSystem.fromWkt(crs_wkt) if crs_wkt else \
        QgsCoordinateReferenceSystem()
    project.setCrs(crs)
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName("CSBSR crack change report")
    pw, ph = PAGE_MM[page_size]
    pages = layout.pageCollection()
    pages.page(0).setPageSize(QgsLayoutSize(pw, ph))
    page = QgsLayoutItemPage(layout)
    page.setPageSize(QgsLayoutSize(pw, ph))
    pages.addPage(page)
    m, cw = MARGIN_MM, pw - 2 * MARGIN_MM
    tables = change_tables(summary, TOP_CHANGES)
    footer = (f"csbsr {summary.get('version', '')} - crack change report - generated "
              f"{time.strftime('%Y-%m-%d %H:%M')}")

    p = _Page(layout, 0)
    p.label("Crack change report", m, m, cw, 10, 16, True)
    y = p.table(None, [list(r) for r in title_block(summary)], m, m + 11, cw,
                _widths(cw, (28, cw - 28)))
    figures = key_figures(summary)
    y = p.table([k for k, _ in figures], [[v for _, v in figures]], m, y + 3, cw,
                bold_rows=(0,)) + 3
    if rendered is not None:
        p.map(rendered, crs, m, y, cw, MAP_H_MM, not crs.isGeographic())
        y += MAP_H_MM + 3
    totals, growth = tables["totals"], tables["growth"]
    half = (cw - 6) / 2
    p.label(totals.title, m, y, half, 5, 8.5, True)
    p.table(["", *totals.header], _rows(totals, True), m, y + 5, half,
            [6.0, *_widths(half - 6.0 - CELL_EXTRA_MM, (50, 14, 22))])
    p.label(growth.title, m + half + 6, y, half, 5, 8.5, True)
    p.table(None, _rows(growth), m + half + 6, y + 5, half, _widths(half, (70, 25)))
    p.label(f"{footer} - page 1 of 2", m, ph - m - 4, cw, 4, 6.5, colour="#666666")

    p = _Page(layout, 1)
    y = m
    for key in ("registration", "uncertainty", "largest"):
        t = tables[key]
        p.label(t.title, m, y, cw, 6, 10, True)
        y += 6
        if t.rows:
            header, rows = list(t.header), _rows(t)
            widths = _widths(cw, WEIGHTS[key])
            if key == "largest":  # the class as its colour, as on the map
                header, rows = ["", *header], _rows(t, True)
                widths = [4.0, *_widths(cw - 4.0 - CELL_EXTRA_MM, WEIGHTS[key])]
            y = p.table(header, rows, m, y, cw, widths, size=6.5) + 2
        if t.note:
            lines = 1 + len(t.note) // 150
            p.label(t.note, m, y, cw, 3.5 * lines + 1, 6.5, colour="#444444")
            y += 3.5 * lines + 2
        y += 3
    p.label(f"{footer} - page 2 of 2", m, ph - m - 4, cw, 4, 6.5, colour="#666666")
    layout._project = project  # keep the private project alive as long as the layout
    return layout
