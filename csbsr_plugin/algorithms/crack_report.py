"""``csbsr:crackreport``: a multi-page PDF inspection report of a run folder (QGIS print layout).

Pages:

1. title block (project, orthophoto, date, model and its card, device, GSD, severity rule),
   headline figures, overview map (orthophoto + crack lines by severity, zone outlines),
   legend, scale bar, north arrow, and the length by type x severity table;
2. the longest and widest cracks (ids, type, severity, length, widths, X/Y of their middle)
   so that a field crew can find them, and the zone index;
3. one detail page per zone (an atlas over the user's AOI polygons or an automatic grid)
   with the cracks of the zone labelled by ``seg_id`` and their table.

Pages 1-2 come from a layout that can be saved as / loaded from a ``.qpt`` template
(``resources/report_template.qpt``: edit it in the layout designer, keeping the item ids
listed in :data:`ITEM_IDS`); the zone pages from an atlas layout built in code. Both are
exported into one PDF by ``QgsLayoutExporter.exportToPdf`` through a chained layout iterator.
Tables and numbers come from ``core.report`` (the same as the HTML report).

Entry point for other code (e.g. the dock's "Report" button): :func:`build_report_pdf`.
"""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from qgis.core import (
    Qgis,
    QgsAbstractLayoutIterator,
    QgsCategorizedSymbolRenderer,
    QgsContrastEnhancement,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsFillSymbol,
    QgsGeometry,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemAttributeTable,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemPage,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLayoutTableColumn,
    QgsLegendRenderer,
    QgsLegendStyle,
    QgsLineSymbol,
    QgsPalLayerSettings,
    QgsPrintLayout,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsProject,
    QgsRasterLayer,
    QgsReadWriteContext,
    QgsRenderContext,
    QgsRendererCategory,
    QgsScaleBarSettings,
    QgsSingleBandGrayRenderer,
    QgsSingleSymbolRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsUnitTypes,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import Qt, QVariant
from qgis.PyQt.QtGui import QColor, QFont
from qgis.PyQt.QtXml import QDomDocument

from ..paths import RESOURCES
from .base import CsbsrAlgorithm

RUN_DIR = "RUN_DIR"
ZONES = "ZONES"
ZONE_CELL = "ZONE_CELL"
PAGE_SIZE = "PAGE_SIZE"
TITLE = "TITLE"
TOP_N = "TOP_N"
TEMPLATE = "TEMPLATE"
OUTPUT = "OUTPUT"
PAGES = "PAGES"
N_ZONES = "N_ZONES"

PAGE_SIZES = ("A4", "Letter")
PAGE_MM = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
TEMPLATE_PATH = RESOURCES / "report_template.qpt"
MARGIN = 12.0
# ids of the items the report fills in a (user-edited) template
ITEM_IDS = ("title", "title_block", "key_figures", "overview_map", "legend", "scalebar",
            "north_arrow", "type_severity_table", "longest_table", "widest_table",
            "zones_table", "notes", "footer")
NORTH_ARROW_SVG = "/usr/share/qgis/svg/arrows/NorthArrow_02.svg"


# ------------------------------------------------------------------------------ helpers
def _font(size: float, bold: bool = False) -> QFont:
    f = QFont("DejaVu Sans")
    f.setPointSizeF(size)
    f.setBold(bold)
    return f


def _text_format(size: float, bold: bool = False) -> QgsTextFormat:
    fmt = QgsTextFormat()
    fmt.setFont(_font(size, bold))
    fmt.setSize(size)
    fmt.setSizeUnit(QgsUnitTypes.RenderPoints)
    return fmt


def _place(item: Any, x: float, y: float, w: float, h: float, page: int = 0) -> None:
    item.attemptMove(QgsLayoutPoint(x, y), page=page)
    item.attemptResize(QgsLayoutSize(w, h))


def _label(layout: QgsPrintLayout, item_id: str, x: float, y: float, w: float, h: float,
           size: float = 9.0, bold: bool = False, page: int = 0) -> QgsLayoutItemLabel:
    lab = QgsLayoutItemLabel(layout)
    lab.setId(item_id)
    lab.setText(item_id)
    lab.setFont(_font(size, bold))
    lab.setVAlign(Qt.AlignTop)
    layout.addLayoutItem(lab)
    _place(lab, x, y, w, h, page)
    return lab


def _table(layout: QgsPrintLayout, frame_id: str, x: float, y: float, w: float, h: float,
           page: int = 0) -> QgsLayoutItemAttributeTable:
    table = QgsLayoutItemAttributeTable.create(layout)
    table.setHeaderTextFormat(_text_format(7.5, True))
    table.setContentTextFormat(_text_format(7.5))
    table.setCellMargin(0.8)
    table.setEmptyTableBehavior(QgsLayoutItemAttributeTable.ShowMessage)
    table.setEmptyTableMessage("none")
    layout.addMultiFrame(table)
    frame = QgsLayoutFrame(layout, table)
    frame.setId(frame_id)
    layout.addLayoutItem(frame)
    _place(frame, x, y, w, h, page)
    table.addFrame(frame)
    return table


def _new_layout(project: QgsProject, name: str, page_size: str, n_pages: int
                ) -> QgsPrintLayout:
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName(name)
    w, h = PAGE_MM[page_size]
    pages = layout.pageCollection()
    pages.page(0).setPageSize(QgsLayoutSize(w, h))
    for _ in range(n_pages - 1):
        page = QgsLayoutItemPage(layout)
        page.setPageSize(QgsLayoutSize(w, h))
        pages.addPage(page)
    return layout


def _scalebar(layout: QgsPrintLayout, item_id: str, x: float, y: float, page: int = 0
              ) -> QgsLayoutItemScaleBar:
    bar = QgsLayoutItemScaleBar(layout)
    bar.setId(item_id)
    bar.setStyle("Single Box")
    bar.setUnits(QgsUnitTypes.DistanceMeters)
    bar.setUnitLabel("m")
    bar.setNumberOfSegments(2)
    bar.setNumberOfSegmentsLeft(0)
    bar.setTextFormat(_text_format(7.5))
    bar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeFitWidth)
    bar.setMinimumBarWidth(20.0)
    bar.setMaximumBarWidth(45.0)
    bar.setHeight(2.5)
    layout.addLayoutItem(bar)
    bar.attemptMove(QgsLayoutPoint(x, y), page=page)
    return bar


def _style_legend(legend: QgsLayoutItemLegend, layer: QgsVectorLayer) -> None:
    """Small fonts, no layer title: the severity classes only."""
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.removeAllChildren()
    node = root.addLayer(layer)
    QgsLegendRenderer.setNodeLegendStyle(node, QgsLegendStyle.Hidden)
    legend.rstyle(QgsLegendStyle.Title).setFont(_font(9, True))
    legend.rstyle(QgsLegendStyle.SymbolLabel).setFont(_font(8))
    legend.setSplitLayer(True)
    legend.setEqualColumnWidth(True)
    legend.setColumnCount(2)
    legend.setSymbolWidth(8.0)
    legend.setSymbolHeight(3.0)
    legend.adjustBoxSize()


def _north_arrow(layout: QgsPrintLayout, item_id: str, x: float, y: float, page: int = 0
                 ) -> QgsLayoutItemPicture:
    pic = QgsLayoutItemPicture(layout)
    pic.setId(item_id)
    if os.path.isfile(NORTH_ARROW_SVG):
        pic.setPicturePath(NORTH_ARROW_SVG)
    layout.addLayoutItem(pic)
    _place(pic, x, y, 10.0, 14.0, page)
    return pic


def build_summary_skeleton(project: QgsProject, page_size: str = "A4") -> QgsPrintLayout:
    """The two summary pages with every item (ids in :data:`ITEM_IDS`) and no content.

    This is what ``resources/report_template.qpt`` holds (A4).
    """
    layout = _new_layout(project, "CSBSR inspection report", page_size, 2)
    w, h = PAGE_MM[page_size]
    m = MARGIN
    cw = w - 2 * m
    _label(layout, "title", m, m, cw, 10, 17, True)
    _label(layout, "title_block", m, m + 11, cw, 40, 8)
    _label(layout, "key_figures", m, m + 52, cw, 10, 9, True)
    map_top, map_h = m + 64, h * 0.42
    mp = QgsLayoutItemMap(layout)
    mp.setId("overview_map")
    mp.setFrameEnabled(True)
    layout.addLayoutItem(mp)
    _place(mp, m, map_top, cw, map_h)
    below = map_top + map_h + 2
    _scalebar(layout, "scalebar", m, below)
    _north_arrow(layout, "north_arrow", m + cw - 10, map_top + 2)
    legend = QgsLayoutItemLegend(layout)
    legend.setId("legend")
    legend.setTitle("Crack severity")
    legend.setAutoUpdateModel(False)
    layout.addLayoutItem(legend)
    legend.attemptMove(QgsLayoutPoint(m + cw * 0.45, below))
    _label(layout, "tst_heading", m, below + 17, cw, 6, 10, True).setText(
        "Crack length by type and severity (m)")
    _table(layout, "type_severity_table", m, below + 23, cw, h - below - 23 - m - 8)
    _label(layout, "footer", m, h - m - 4, cw, 5, 7)
    # page 2
    _label(layout, "longest_heading", m, m, cw, 6, 11, True, page=1).setText(
        "Longest cracks")
    _table(layout, "longest_table", m, m + 7, cw, 80, page=1)
    _label(layout, "widest_heading", m, m + 90, cw, 6, 11, True, page=1).setText(
        "Widest cracks (by maximum width)")
    _table(layout, "widest_table", m, m + 97, cw, 80, page=1)
    _label(layout, "zones_heading", m, m + 180, cw, 6, 11, True, page=1).setText(
        "Zones (detail pages follow)")
    _table(layout, "zones_table", m, m + 187, cw, h - m - 187 - m - 12, page=1)
    _label(layout, "notes", m, h - m - 10, cw, 10, 7, page=1)
    return layout


def save_template(path: Any, page_size: str = "A4") -> Path:
    """Write the summary-page skeleton as a ``.qpt`` template; return its path."""
    project = QgsProject()
    layout = build_summary_skeleton(project, page_size)
    if not layout.saveAsTemplate(str(path), QgsReadWriteContext()):
        raise QgsProcessingException(f"could not write the layout template {path}")
    return Path(path)


def load_template(project: QgsProject, path: Any) -> QgsPrintLayout:
    """Load a ``.qpt`` summary-page template (see :data:`ITEM_IDS`)."""
    text = Path(path).read_text(encoding="utf-8")
    doc = QDomDocument()
    if not doc.setContent(text):
        raise QgsProcessingException(
            f"{path} is not a QGIS layout template (.qpt): pick a .qpt saved from the layout "
            "designer or leave the template empty")
    layout = QgsPrintLayout(project)
    _items, ok = layout.loadFromTemplate(doc, QgsReadWriteContext())
    if not ok:
        raise QgsProcessingException(f"QGIS could not load the layout template {path}")
    layout.setName("CSBSR inspection report")
    return layout


def _frame_table(layout: QgsPrintLayout, frame_id: str) -> Optional[QgsLayoutItemAttributeTable]:
    for mf in layout.multiFrames():
        for i in range(mf.frameCount()):
            if mf.frame(i).id() == frame_id and isinstance(mf, QgsLayoutItemAttributeTable):
                return mf
    return None


def _columns(spec: Sequence[Tuple[str, str]]) -> List[QgsLayoutTableColumn]:
    cols = []
    for expr, heading in spec:
        c = QgsLayoutTableColumn(heading)
        c.setAttribute(expr)
        c.setHeading(heading)
        cols.append(c)
    return cols


def _sort(expr: str) -> List[QgsLayoutTableColumn]:
    c = QgsLayoutTableColumn()
    c.setAttribute(expr)
    c.setSortOrder(Qt.DescendingOrder)
    return [c]


SEG_COLUMNS = (('"seg_id"', "Seg. id"), ('"crack_id"', "Crack id"), ('"ctype"', "Type"),
               ('"sev"', "Sev."), ('format_number("len_m", 2)', "Length (m)"),
               ('format_number("w_med_mm", 1)', "Med. width (mm)"),
               ('format_number("w_max_mm", 1)', "Max width (mm)"),
               ('format_number(x(line_interpolate_point($geometry, length($geometry) / 2)), 2)',
                "X (middle)"),
               ('format_number(y(line_interpolate_point($geometry, length($geometry) / 2)), 2)',
                "Y (middle)"))


# ------------------------------------------------------------------------------ layers
@dataclass
class ReportLayers:
    """The layers of one report (kept in a private project)."""

    cracks: QgsVectorLayer
    background: Optional[QgsRasterLayer]
    zones: QgsVectorLayer
    summary: QgsVectorLayer


def _crack_layer(run: Any) -> QgsVectorLayer:
    from ...core.report.style import SEVERITIES, SEVERITY_COLOURS, SEVERITY_LABELS

    layer = QgsVectorLayer(f"{run.gpkg}|layername=crack_seg", "Cracks", "ogr")
    if not layer.isValid():
        raise QgsProcessingException(f"cannot open the crack_seg layer of {run.gpkg}")
    cats = []
    for sev in SEVERITIES:
        sym = QgsLineSymbol.createSimple({"line_color": SEVERITY_COLOURS[sev],
                                          "line_width": "0.7", "capstyle": "round"})
        cats.append(QgsRendererCategory(sev, sym, f"{SEVERITY_LABELS[sev]} ({sev})"))
    layer.setRenderer(QgsCategorizedSymbolRenderer("sev", cats))
    return layer


def _light_probability(layer: QgsRasterLayer) -> None:
    """Probability as background: white (0) to mid grey (1), so the crack colours read."""
    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    renderer.setGradient(QgsSingleBandGrayRenderer.WhiteToBlack)
    ce = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    floating = layer.dataProvider().dataType(1) in (Qgis.Float32, Qgis.Float64)
    stats_max = 1.0 if floating else 255.0
    ce.setMinimumValue(0.0)
    ce.setMaximumValue(stats_max * 2.0)
    renderer.setContrastEnhancement(ce)
    layer.setRenderer(renderer)


def _label_segments(layer: QgsVectorLayer) -> None:
    pal = QgsPalLayerSettings()
    pal.fieldName = "seg_id"
    pal.placement = QgsPalLayerSettings.Line
    tf = _text_format(7, True)
    buf = QgsTextBufferSettings()
    buf.setEnabled(True)
    buf.setSize(0.8)
    buf.setColor(QColor("white"))
    tf.setBuffer(buf)
    pal.setFormat(tf)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(pal))
    layer.setLabelsEnabled(True)


def _zones_layer(zones: Sequence[Any], crs: Any) -> QgsVectorLayer:
    from ...core.report.style import SEVERITIES, fmt

    layer = QgsVectorLayer(f"Polygon?crs={crs.authid() or 'EPSG:4326'}", "Zones", "memory")
    if not crs.authid():
        layer.setCrs(crs)
    fields = [QgsField("zone_id", QVariant.String), QgsField("len_m", QVariant.String),
              *[QgsField(f"len_{s}", QVariant.String) for s in SEVERITIES],
              QgsField("n_seg", QVariant.Int), QgsField("segs", QVariant.String)]
    pr = layer.dataProvider()
    pr.addAttributes(fields)
    layer.updateFields()
    feats = []
    for z in zones:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(z.geometry.wkt))
        segs = ", ".join(str(i) for i in z.seg_ids[:24]) + (" ..." if len(z.seg_ids) > 24
                                                            else "")
        f.setAttributes([z.zone_id, fmt(z.len_m), *[fmt(z.len_by_sev_m.get(s, 0.0))
                                                    for s in SEVERITIES], z.n_seg, segs])
        feats.append(f)
    pr.addFeatures(feats)
    layer.updateExtents()
    sym_layer = {"color": "0,0,0,0", "outline_color": "0,150,190,255", "outline_width": "0.5",
                 "outline_style": "dash"}
    layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(sym_layer)))
    pal = QgsPalLayerSettings()
    pal.fieldName = "zone_id"
    pal.placement = QgsPalLayerSettings.OverPoint
    tf = _text_format(9, True)
    tf.setColor(QColor(0, 90, 120))
    buf = QgsTextBufferSettings()
    buf.setEnabled(True)
    buf.setSize(1.0)
    buf.setColor(QColor(255, 255, 255, 220))
    tf.setBuffer(buf)
    pal.setFormat(tf)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(pal))
    layer.setLabelsEnabled(True)
    return layer


def _summary_layer(summary: Dict[str, Any]) -> QgsVectorLayer:
    from ...core.report.content import type_severity_table
    from ...core.report.style import SEVERITIES, SEVERITY_LABELS, fmt

    _header, rows = type_severity_table(summary)
    layer = QgsVectorLayer("None", "Length by type and severity", "memory")
    names = ["ctype", *[f"len_{s}" for s in SEVERITIES], "total", "density"]
    layer.dataProvider().addAttributes([QgsField(n, QVariant.String) for n in names])
    layer.updateFields()
    feats = []
    for r in rows:
        f = QgsFeature(layer.fields())
        f.setAttributes([r[0], *[fmt(v) for v in r[1:5]], fmt(r[5]), fmt(r[6], 3)])
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    layer.setCustomProperty("csbsr_headings", [
        "Type", *[f"{SEVERITY_LABELS[s]} ({s})" for s in SEVERITIES], "Total (m)",
        "Density (m/m2)"])
    return layer


def _transform_zones(source: Any, crs: Any, context: Any) -> List[Tuple[str, Any]]:
    """User AOI polygons -> (zone id, shapely polygon in the run CRS)."""
    import shapely

    xform = QgsCoordinateTransform(source.sourceCrs() if hasattr(source, "sourceCrs")
                                   else source.crs(), crs, context.transformContext()
                                   if context is not None else QgsProject.instance()
                                   .transformContext())
    names = [f.name() for f in source.fields()]
    key = next((n for n in ("zone_id", "name", "id", "label") if n in names), None)
    out = []
    for k, feat in enumerate(source.getFeatures(QgsFeatureRequest()), start=1):
        g = QgsGeometry(feat.geometry())
        if g.isEmpty():
            continue
        g.transform(xform)
        zid = str(feat[key]) if key and feat[key] not in (None, "") else f"A{k:02d}"
        out.append((zid, shapely.from_wkt(g.asWkt())))
    return out


# ------------------------------------------------------------------------------ fill
def _fill_summary(layout: QgsPrintLayout, run: Any, layers: ReportLayers, zones: Sequence[Any],
                  title: Optional[str], top_n: int) -> None:
    from ...core.report.content import key_figures, title_block

    def item(item_id: str) -> Any:
        return layout.itemById(item_id)

    tb = title_block(run, title)
    w_mm = layout.pageCollection().page(0).pageSize().width() - 2 * MARGIN
    width_chars = int(w_mm / 1.55)
    if item("title") is not None:
        item("title").setText(tb[0][1])
    if item("title_block") is not None:
        lines = []
        for label, value in tb[1:]:
            lines += textwrap.wrap(f"{label}: {value}", width_chars,
                                   subsequent_indent="      ") or [label]
        item("title_block").setText("\n".join(lines))
    if item("key_figures") is not None:
        kf = key_figures(run)
        item("key_figures").setText("   |   ".join(f"{label}: {val}" for _k, label, val
                                                    in kf[:3]) + "\n" + "   |   ".join(
            f"{label}: {val}" for _k, label, val in kf[3:]))
    map_layers = [layers.zones, layers.cracks] + ([layers.background] if layers.background
                                                   else [])
    mp = item("overview_map")
    if mp is not None:
        mp.setCrs(layers.cracks.crs())
        mp.setLayers(map_layers)
        mp.setKeepLayerSet(True)
        ext = _run_extent(run)
        _zoom(mp, ext.buffered(0.02 * max(ext.width(), ext.height())))
    leg = item("legend")
    if leg is not None:
        _style_legend(leg, layers.cracks)
        if mp is not None:
            leg.setLinkedMap(mp)
    bar = item("scalebar")
    if bar is not None and mp is not None:
        bar.setLinkedMap(mp)
        _fix_scalebar(bar, mp.extent().width(), run.projected)
    tst = _frame_table(layout, "type_severity_table")
    if tst is not None:
        tst.setVectorLayer(layers.summary)
        heads = layers.summary.customProperty("csbsr_headings")
        tst.setColumns(_columns([(f'"{f.name()}"', h) for f, h in
                                 zip(layers.summary.fields(), heads)]))
    for frame_id, key in (("longest_table", "len_m"), ("widest_table", "w_max_mm")):
        t = _frame_table(layout, frame_id)
        if t is not None:
            t.setVectorLayer(layers.cracks)
            t.setColumns(_columns(SEG_COLUMNS))
            t.setSortColumns(_sort(f'"{key}"'))
            t.setFeatureFilter(f'"{key}" IS NOT NULL')
            t.setFilterFeatures(True)
            t.setMaximumNumberOfFeatures(int(top_n))
    zt = _frame_table(layout, "zones_table")
    if zt is not None:
        zt.setVectorLayer(layers.zones)
        zt.setColumns(_columns([('"zone_id"', "Zone"), ('"len_m"', "Length (m)"),
                                ('"len_H"', "High (m)"), ('"len_M"', "Medium (m)"),
                                ('"len_L"', "Low (m)"), ('"len_NR"', "NR (m)"),
                                ('"n_seg"', "Segments")]))
        zt.setMaximumNumberOfFeatures(max(1, len(zones)))
    if item("notes") is not None:
        notes = [*run.notes,
                 "X/Y: map coordinates of the middle of each segment in the run CRS. Ids are "
                 f"seg_id / crack_id of the crack_seg layer of {run.gpkg.name}."]
        item("notes").setText("\n".join(textwrap.fill(n, width_chars) for n in notes))
    if item("footer") is not None:
        item("footer").setText(f"csbsr {run.summary.get('version', '')} - run {run.stem} - "
                               f"{run.folder}")


def _zoom(mp: QgsLayoutItemMap, extent: Any) -> None:
    """Show ``extent`` in the map item without changing the item's size.

    ``zoomToExtent`` alone leaves a map whose extent was never set empty (QGIS 3.22), and
    ``setExtent`` resizes the item to the extent's aspect: set, restore the size, then zoom.
    """
    size = mp.sizeWithUnits()
    mp.setExtent(extent)
    mp.attemptResize(size)
    mp.zoomToExtent(extent)


def _fix_scalebar(bar: QgsLayoutItemScaleBar, map_width: float, projected: bool) -> None:
    """Two segments of a round length (1, 2, 2.5, 5 x 10^k m) about 1/8 of the map width.

    ``map_width`` is the width the map shows, in map units (metres when ``projected``);
    geographic maps keep the fit-to-width mode.
    """
    from ...core.report.style import nice_step as _nice

    if not projected or not map_width or map_width <= 0:
        return
    bar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeFixed)
    bar.setUnitsPerSegment(_nice(map_width / 8.0))
    bar.setNumberOfSegments(2)
    bar.setNumberOfSegmentsLeft(0)
    bar.update()


def _run_extent(run: Any) -> Any:
    from qgis.core import QgsRectangle

    x0, y0, x1, y1 = run.bounds()
    return QgsRectangle(x0, y0, x1, y1)


def build_zone_atlas(project: QgsProject, layers: ReportLayers, page_size: str, run: Any,
                     zones: Sequence[Any] = ()) -> QgsPrintLayout:
    """The zone detail page: an atlas over the zones layer (one page per zone)."""
    layout = _new_layout(project, "CSBSR zones", page_size, 1)
    w, h = PAGE_MM[page_size]
    m = MARGIN
    cw = w - 2 * m
    _label(layout, "zone_title", m, m, cw, 9, 15, True).setText(
        f'Zone [% "zone_id" %] - {run.stem}')
    _label(layout, "zone_stats", m, m + 10, cw, 10, 9).setText(
        'Crack length in the zone: [% "len_m" %] m  (High [% "len_H" %] m, Medium '
        '[% "len_M" %] m, Low [% "len_L" %] m, Not resolvable [% "len_NR" %] m)\n'
        'Segments: [% "n_seg" %]   Ids (longest first): [% "segs" %]')
    mp = QgsLayoutItemMap(layout)
    mp.setId("zone_map")
    mp.setFrameEnabled(True)
    layout.addLayoutItem(mp)
    map_h = h * 0.5
    _place(mp, m, m + 22, cw, map_h)
    mp.setCrs(layers.cracks.crs())
    mp.setLayers([layers.zones, layers.cracks] + ([layers.background] if layers.background
                                                  else []))
    mp.setKeepLayerSet(True)
    _zoom(mp, _run_extent(run))
    mp.setAtlasDriven(True)
    mp.setAtlasScalingMode(QgsLayoutItemMap.Auto)
    mp.setAtlasMargin(0.05)
    below = m + 22 + map_h + 2
    bar = _scalebar(layout, "zone_scalebar", m, below)
    bar.setLinkedMap(mp)
    aspect = cw / map_h
    shown = max((max(z.geometry.bounds[2] - z.geometry.bounds[0],
                     (z.geometry.bounds[3] - z.geometry.bounds[1]) * aspect)
                 for z in zones), default=0.0) * 1.1
    _fix_scalebar(bar, shown, run.projected)
    _north_arrow(layout, "zone_north_arrow", m + cw - 10, m + 24)
    legend = QgsLayoutItemLegend(layout)
    legend.setId("zone_legend")
    legend.setTitle("Crack severity (labels: seg_id)")
    layout.addLayoutItem(legend)
    _style_legend(legend, layers.cracks)
    legend.attemptMove(QgsLayoutPoint(m + cw * 0.45, below))
    _label(layout, "zone_table_heading", m, below + 17, cw, 6, 10, True).setText(
        "Cracks in the zone (longest first)")
    table = _table(layout, "zone_table", m, below + 23, cw, h - below - 23 - m)
    table.setVectorLayer(layers.cracks)
    table.setColumns(_columns(SEG_COLUMNS))
    table.setSortColumns(_sort('"len_m"'))
    table.setFilterToAtlasFeature(True)
    table.setMaximumNumberOfFeatures(25)
    atlas = layout.atlas()
    atlas.setCoverageLayer(layers.zones)
    atlas.setPageNameExpression('"zone_id"')
    atlas.setSortFeatures(True)
    atlas.setSortExpression('"zone_id"')
    atlas.setEnabled(True)
    return layout


class _ChainedLayouts(QgsAbstractLayoutIterator):
    """Iterates static layouts (one step each) and atlas layouts (one step per feature)."""

    def __init__(self, layouts: Sequence[QgsPrintLayout]) -> None:
        super().__init__()
        self._layouts = list(layouts)
        self._index = 0
        self._in_atlas = False
        self._done_static = False
        self._current: Optional[QgsPrintLayout] = None

    def count(self) -> int:
        return sum(lay.atlas().count() if lay.atlas().enabled() else 1
                   for lay in self._layouts)

    def beginRender(self) -> bool:
        self._index, self._in_atlas, self._done_static = 0, False, False
        return True

    def endRender(self) -> bool:
        if self._in_atlas:
            self._layouts[self._index].atlas().endRender()
            self._in_atlas = False
        return True

    def next(self) -> bool:
        while self._index < len(self._layouts):
            lay = self._layouts[self._index]
            atlas = lay.atlas()
            if atlas.enabled():
                if not self._in_atlas:
                    atlas.beginRender()
                    self._in_atlas = True
                if atlas.next():
                    self._current = lay
                    return True
                atlas.endRender()
                self._in_atlas = False
            elif not self._done_static:
                self._done_static = True
                self._current = lay
                return True
            self._index += 1
            self._done_static = False
        return False

    def layout(self) -> QgsPrintLayout:
        return self._current or self._layouts[0]

    def filePath(self, base_file_path: str, extension: str) -> str:
        return base_file_path


@dataclass(frozen=True)
class PdfReport:
    """What :func:`build_report_pdf` wrote.

    Attributes:
        pdf: the PDF file.
        pages: number of pages (2 summary pages + one per zone).
        n_zones: number of zone pages.
    """

    pdf: Path
    pages: int
    n_zones: int


def build_report_pdf(run_dir: Any, out_pdf: Any, page_size: str = "A4",
                     title: Optional[str] = None, zones: Optional[Sequence[Tuple[str, Any]]]
                     = None, zone_cell: Optional[float] = None, top_n: int = 15,
                     template: Any = None, overwrite: bool = False, stem: Optional[str] = None,
                     feedback: Any = None, dpi: int = 200) -> PdfReport:
    """Write the PDF inspection report of a run folder.

    Runs in the calling thread (print layouts are not thread-safe): call it from the main
    thread (the algorithm has ``FlagNoThreading``).

    Args:
        run_dir: the run folder (``csbsr run --out``).
        out_pdf: the PDF to write; its folder must exist.
        page_size: "A4" or "Letter".
        title: project name in the title block (None = "Crack inspection - <stem>").
        zones: (zone id, shapely polygon in the run CRS) pairs; None = automatic grid.
        zone_cell: grid cell side in map units (None = automatic, 3 cells on the long side).
        top_n: rows of the longest/widest tables.
        template: a ``.qpt`` for the summary pages (None = built in code, same as
            ``resources/report_template.qpt`` at the chosen page size).
        overwrite: replace an existing PDF.
        stem: which run when the folder holds several.
        feedback: optional QgsFeedback (progress, cancel).
        dpi: resolution of the raster parts (map images).

    Raises:
        CsbsrError: bad run folder or output (from ``core.report``).
        QgsProcessingException: template or export failure.
    """
    from ...core.errors import InvalidInputError, OutputExistsError
    from ...core.report.content import auto_grid, zone_statistics
    from ...core.report.runfolder import load_run

    out = Path(out_pdf)
    if page_size not in PAGE_MM:
        raise InvalidInputError(f"page size {page_size!r} is not one of {', '.join(PAGE_MM)}")
    if out.suffix.lower() != ".pdf":
        raise InvalidInputError(f"report file {out} must end in .pdf: choose a .pdf name")
    if not out.parent.is_dir():
        raise InvalidInputError(f"output folder {out.parent} does not exist: create it first")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists: choose another file or pass "
                                "overwrite=True to replace it")
    run = load_run(run_dir, stem)
    project = QgsProject()
    cracks = _crack_layer(run)
    crs = cracks.crs()
    project.setCrs(crs)
    background = None
    if run.background is not None:
        background = QgsRasterLayer(str(run.rasters[run.background]), "Background", "gdal")
        if not background.isValid():
            background = None
        elif run.background == "prob":
            _light_probability(background)
    zone_list = zone_statistics(run, zones if zones is not None else auto_grid(run, zone_cell))
    layers = ReportLayers(cracks=cracks, background=background,
                          zones=_zones_layer(zone_list, crs), summary=_summary_layer(run.summary))
    zone_cracks = cracks.clone()
    zone_cracks.setName("Cracks")
    _label_segments(zone_cracks)
    for lay in (layers.zones, cracks, zone_cracks, layers.summary, background):
        if lay is not None:
            project.addMapLayer(lay, False)
    if feedback is not None:
        feedback.setProgress(20)
    summary_layout = load_template(project, template) if template else \
        build_summary_skeleton(project, page_size)
    _fill_summary(summary_layout, run, layers, zone_list, title, top_n)
    parts = [summary_layout]
    if zone_list:
        zl = ReportLayers(zone_cracks, background, layers.zones, layers.summary)
        parts.append(build_zone_atlas(project, zl, page_size, run, zone_list))
    settings = QgsLayoutExporter.PdfExportSettings()
    settings.dpi = dpi
    settings.rasterizeWholeImage = False
    settings.forceVectorOutput = False
    settings.appendGeoreference = False
    settings.exportMetadata = True
    settings.textRenderFormat = QgsRenderContext.TextFormatAlwaysText  # searchable text
    tmp = out.with_name(f".{out.stem}.partial.pdf")
    chain = _ChainedLayouts(parts)
    pages = summary_layout.pageCollection().pageCount() + len(zone_list)
    try:
        result, error = QgsLayoutExporter.exportToPdf(chain, str(tmp), settings, feedback)
        if feedback is not None and feedback.isCanceled():
            from ...core.errors import Cancelled

            raise Cancelled("report cancelled")
        if result != QgsLayoutExporter.Success:
            raise QgsProcessingException(f"PDF export failed ({error or result}): check that "
                                         f"{out.parent} is writable")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return PdfReport(pdf=out, pages=pages, n_zones=len(zone_list))


# ------------------------------------------------------------------------------ algorithm
class CrackReportAlgorithm(CsbsrAlgorithm):
    """Multi-page PDF inspection report of a finished run (print layout + atlas)."""

    def name(self) -> str:
        return "crackreport"

    def displayName(self) -> str:
        return self.tr("Crack inspection report (PDF)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Builds a PDF inspection report from a run folder (the output folder of 'Detect "
            "cracks' / csbsr run): title block (project, orthophoto, date, model, device, "
            "GSD), overview map with the cracks by severity, legend, scale bar and north "
            "arrow, length by type and severity, crack density, area analysed, the longest "
            "and widest cracks with their ids and coordinates, and one detail page per zone "
            "(your polygons, or an automatic grid). The first two pages can follow an "
            "edited copy of resources/report_template.qpt.")

    def flags(self) -> Any:
        return super().flags() | self.FlagNoThreading

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            RUN_DIR, self.tr("Run folder"), behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterString(
            TITLE, self.tr("Project name (title)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            PAGE_SIZE, self.tr("Page size"), options=list(PAGE_SIZES), defaultValue=0))
        self.addParameter(QgsProcessingParameterVectorLayer(
            ZONES, self.tr("Zones of interest (polygons; empty = automatic grid)"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            ZONE_CELL, self.tr("Automatic grid cell size (map units; empty = 3 cells on the "
                               "long side)"), type=QgsProcessingParameterNumber.Double,
            optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            TOP_N, self.tr("Rows in the longest / widest crack tables"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=15, minValue=1,
            maxValue=40))
        self.addParameter(QgsProcessingParameterFile(
            TEMPLATE, self.tr("Layout template for the summary pages (.qpt; empty = built in)"),
            extension="qpt", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT, self.tr("PDF report"), fileFilter="PDF files (*.pdf)"))
        self.addOutput(QgsProcessingOutputNumber(PAGES, self.tr("Number of pages")))
        self.addOutput(QgsProcessingOutputNumber(N_ZONES, self.tr("Number of zone pages")))

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        from ...core.report.runfolder import find_stem

        run_dir = self.parameterAsFile(parameters, RUN_DIR, context)
        out = self.parameterAsFileOutput(parameters, OUTPUT, context)
        page = PAGE_SIZES[self.parameterAsEnum(parameters, PAGE_SIZE, context)]
        title = self.parameterAsString(parameters, TITLE, context) or None
        template = self.parameterAsFile(parameters, TEMPLATE, context) or None
        cell = parameters.get(ZONE_CELL)
        cell = self.parameterAsDouble(parameters, ZONE_CELL, context) \
            if cell not in (None, "") else None
        top_n = self.parameterAsInt(parameters, TOP_N, context)
        zones = None
        source = self.parameterAsVectorLayer(parameters, ZONES, context)
        if source is not None:
            stem = self.call_core(find_stem, Path(run_dir))
            lines = QgsVectorLayer(f"{Path(run_dir) / (stem + '_cracks.gpkg')}|layername="
                                   "crack_seg", "c", "ogr")
            zones = _transform_zones(source, lines.crs(), context)
            if not zones:
                raise QgsProcessingException(self.tr(
                    "The zones layer has no polygon: pick a polygon layer or leave it empty "
                    "for an automatic grid"))
        # Processing has already asked whether to replace the destination file
        res = self.call_core(build_report_pdf, run_dir, out, page, title, zones,
                             cell if cell else None, top_n, template, True, None, feedback)
        if res is None:
            feedback.reportError(self.tr("Cancelled: no report was written."), False)
            return {}
        feedback.pushInfo(f"report: {res.pages} pages ({res.n_zones} zone pages) -> {res.pdf}")
        return {OUTPUT: str(res.pdf), PAGES: res.pages, N_ZONES: res.n_zones}
