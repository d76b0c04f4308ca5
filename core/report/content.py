"""The content of an inspection report, decided once (:class:`ReportContent`).

:func:`build_report` reads a run folder and decides everything a report shows: the title
block, the key figures, the tables (length by type x severity, longest and widest cracks,
zones), the zones and which get detail maps, the legend with the standard's width limits.
The HTML writer (:mod:`.html`) and the QGIS print layout (``csbsr_plugin``) only lay it out.
Lengths are metres, widths millimetres, areas square metres, coordinates CRS map units.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..layout import RunLayout
from .model import KeyFigure, ReportContent, Table, ZoneInfo
from .runfolder import RunFolder
from .style import (
    CRACK_TYPES,
    SEVERITIES,
    TOP_COLUMNS,
    TYPE_LABELS,
    fmt,
    model_in_plain_words,
    severity_legend,
    severity_rule,
)
from .zones import Zone, auto_grid, read_zones, zone_statistics


def title_block(run: RunFolder, title: Optional[str] = None,
                date: Optional[str] = None) -> List[Tuple[str, str]]:
    """The report's title block as (label, value) pairs.

    Items: Project, Orthophoto, Date, Model, Model card, Device, GSD, Severity, CRS.
    """
    r = run.run
    card = r.get("model") or {}
    arch = card.get("model") or {}
    inp = r.get("input") or {}
    cfg = r.get("config") or {}
    model_path = cfg.get("model_path") or ""
    model = arch.get("name") or run.summary.get("model") or "unknown"
    if arch.get("scale"):
        model += f" (x{arch['scale']} super-resolution)"
    if model_path:
        model += f", {Path(str(model_path)).name}"
    card_text = model_in_plain_words(card) if card else ""
    dev = (r.get("device") or {}).get("description") or "unknown"
    gsd_in = inp.get("gsd_m")
    gsd_txt = []
    if gsd_in:
        gsd_txt.append(f"orthophoto {fmt(float(gsd_in[0]) * 1000, 1)} mm/px")
    if run.summary.get("gsd_mm"):
        gsd_txt.append(f"analysed {fmt(run.summary['gsd_mm'], 1)} mm/px")
    run_json = RunLayout(run.folder, run.stem).path("run")
    when = date or _dt.date.today().isoformat()
    if run_json.is_file():
        ran = _dt.datetime.fromtimestamp(run_json.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        when = f"{when} (run {ran})"
    ortho = inp.get("path") or f"{run.stem} (orthophoto path not recorded)"
    return [
        ("Project", title or f"Crack inspection - {run.stem}"),
        ("Orthophoto", Path(str(ortho)).name),
        ("Date", when),
        ("Model", model),
        ("Model card", card_text or "not recorded"),
        ("Device", dev),
        ("GSD", ", ".join(gsd_txt) or "unknown"),
        ("Severity", severity_rule(run.summary)),
        ("CRS", str(run.summary.get("crs") or "unknown")),
    ]


def key_figures(run: RunFolder) -> List[Tuple[str, str, str]]:
    """Headline numbers as (key, label, formatted value), keys from the summary JSON."""
    s = run.summary
    return [
        ("total_len_m", "Total crack length (m)", fmt(s.get("total_len_m"), 2)),
        ("density_m_m2", "Crack density (m/m2)", fmt(s.get("density_m_m2"), 3)),
        ("area_m2", "Area analysed (m2)", fmt(s.get("area_m2"), 2)),
        ("n_segments", "Crack segments", fmt(s.get("n_segments"))),
        ("n_cracks", "Connected cracks", fmt(s.get("n_cracks"))),
        ("n_truncated", "Segments cut by the edge", fmt(s.get("n_truncated"))),
    ]


def type_severity_table(summary: Dict[str, Any]) -> Tuple[List[str], List[List[Any]]]:
    """Length (m) by crack type x severity, with row/column totals.

    Returns:
        (header, rows): header ``["Type", "H", "M", "L", "NR", "Total (m)", "Density (m/m2)"]``
        and one row per present type (display label first) plus a ``Total`` row; cells are
        floats (metres; 0.0 where none).
    """
    by = summary.get("len_by_type_sev_m") or {}
    area = summary.get("area_m2") or 0.0
    types = [t for t in CRACK_TYPES if t in by] + sorted(t for t in by if t not in CRACK_TYPES)
    header = ["Type", *SEVERITIES, "Total (m)", "Density (m/m2)"]
    rows: List[List[Any]] = []
    col_tot = {s: 0.0 for s in SEVERITIES}
    for t in types:
        vals = [float(by[t].get(s, 0.0)) for s in SEVERITIES]
        for s, v in zip(SEVERITIES, vals):
            col_tot[s] += v
        tot = sum(float(v) for v in by[t].values())
        rows.append([TYPE_LABELS.get(t, t), *vals, tot, tot / area if area > 0 else None])
    total = float(summary.get("total_len_m", sum(col_tot.values())))
    rows.append(["Total", *[col_tot[s] for s in SEVERITIES], total,
                 summary.get("density_m_m2")])
    return header, rows


def top_segments(run: RunFolder, key: str, n: int = 10) -> List[Dict[str, Any]]:
    """The ``n`` segments with the largest ``key`` (e.g. ``len_m``, ``w_max_mm``), nulls last."""
    rows = [r for r in run.segments if r.get(key) is not None]
    rows.sort(key=lambda r: (-float(r[key]), int(r.get("seg_id") or 0)))
    return rows[: max(0, int(n))]


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue()


def report_csv_tables(run: RunFolder, zones: Sequence[Zone], top_n: int = 10
                      ) -> Dict[str, Tuple[List[str], List[List[Any]]]]:
    """The report's tables as (header, rows) with raw values (m, mm, map units)."""
    header, rows = type_severity_table(run.summary)
    top_header = [k for k, _ in TOP_COLUMNS]
    return {
        "type_severity": (header, rows),
        "longest": (top_header, [[r.get(k) for k in top_header]
                                 for r in top_segments(run, "len_m", top_n)]),
        "widest": (top_header, [[r.get(k) for k in top_header]
                                for r in top_segments(run, "w_max_mm", top_n)]),
        "zones": (["zone_id", "len_m", *[f"len_{s}_m" for s in SEVERITIES], "n_seg",
                   "xmin", "ymin", "xmax", "ymax"],
                  [[z.zone_id, z.len_m, *[z.len_by_sev_m.get(s, 0.0) for s in SEVERITIES],
                    z.n_seg, *z.geometry.bounds] for z in zones]),
    }



def build_report(run: RunFolder, title: Optional[str] = None, top_n: int = 10,
                 zone_cell: Optional[float] = None, max_zones: int = 12,
                 zones_path: Optional[Any] = None, zone_field: Optional[str] = None
                 ) -> ReportContent:
    """Decide the content of the report of ``run`` (see :class:`ReportContent`).

    Args:
        run: the run folder.
        title: the project name (default "Crack inspection - <stem>").
        top_n: rows of the longest/widest tables.
        zone_cell: side of the zone grid cells in map units (None = automatic, 3 x 3 at most).
        max_zones: most zones with a detail map (the zones with most cracks win).
        zones_path: the user's zone polygons (a vector file; see :func:`.zones.read_zones`)
            instead of the grid: every zone is listed, with or without cracks.
        zone_field: the text field naming the user's zones (None = guessed).
    """
    import datetime as _dt_

    if zones_path:
        zones = zone_statistics(run, read_zones(zones_path, run, zone_field), keep_empty=True)
    else:
        zones = zone_statistics(run, auto_grid(run, zone_cell))
    extent = _box(run.bounds())
    mapped = [z for z in zones if z.geometry.intersects(extent)]  # a zone off the raster: no map
    shown = {z.zone_id for z in sorted(mapped, key=lambda z: -z.len_m)[:max(0, int(max_zones))]}
    raw = report_csv_tables(run, zones, top_n)
    tb = title_block(run, title)
    top_digits = [0, 0, 0, 0, 2, 1, 1, 2, 2]
    tables = {
        "type_severity": Table("type_severity", "Length by type and severity (m)",
                               *raw["type_severity"], digits=[0, 2, 2, 2, 2, 2, 3]),
        "longest": Table("longest", f"Longest cracks (top {top_n})", *raw["longest"],
                         digits=top_digits),
        "widest": Table("widest", f"Widest cracks (top {top_n}, by max width)",
                        *raw["widest"], digits=top_digits),
        "zones": Table("zones", "Zones (your polygons)" if zones_path else "Zones (grid)",
                       *raw["zones"],
                       digits=[0, 2, 2, 2, 2, 2, 0, 2, 2, 2, 2]),
    }
    layout = RunLayout(run.folder, run.stem)
    files = [p.name for r, p in layout.existing().items()
             if r not in ("report", "report_pdf", "report_content")]
    return ReportContent(
        title=tb[0][1], stem=run.stem, title_block=tb,
        key_figures=[KeyFigure(k, label, run.summary.get(k), text)
                     for k, label, text in key_figures(run)],
        tables=tables,
        zones=[ZoneInfo(z.zone_id, [float(v) for v in z.geometry.bounds], z.len_m,
                        dict(z.len_by_sev_m), z.n_seg, list(z.seg_ids), z.zone_id in shown,
                        None if _is_box(z.geometry) else z.geometry.wkt)
               for z in zones],
        zone_source="user" if zones_path else "grid",
        legend=severity_legend(run.summary), extent=[float(v) for v in run.bounds()],
        background=run.background, notes=list(run.notes), files=sorted(files),
        crs_wkt=run.crs_wkt, version=str(run.summary.get("version", "")),
        generated=_dt_.datetime.now().isoformat(timespec="seconds"))


def _box(bounds: Sequence[float]) -> Any:
    import shapely

    return shapely.box(*bounds)


def _is_box(geometry: Any) -> bool:
    """True when ``geometry`` is its own bounding box (a grid cell)."""
    import shapely

    return bool(geometry.equals(shapely.box(*geometry.bounds)))
