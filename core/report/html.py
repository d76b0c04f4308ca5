"""The self-contained HTML inspection report: lays out a :class:`ReportContent`.

Maps and charts come from :mod:`.render` (matplotlib's Agg canvas, embedded as base64 PNG, no
external resource); the content (title block, figures, tables, zones, legend) from
:func:`.content.build_report`. No QGIS, no torch.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import atomic
from ..errors import InvalidInputError, OutputExistsError
from ..progress import NullProgress, Progress, check_cancelled
from .content import _csv_text, build_report
from .model import ReportContent, Table
from .render import render_map, render_severity_chart, render_width_histogram
from .runfolder import load_run
from .style import SEVERITIES, SEVERITY_LABELS, TOP_COLUMNS, TYPE_LABELS, fmt

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{margin-bottom:4px}h2{border-bottom:2px solid #444;padding-bottom:3px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #bbb;padding:3px 8px}
th{background:#eee;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.kv th{width:130px}.figs{display:flex;flex-wrap:wrap;gap:12px}.fig img{max-width:100%}
.key{display:flex;flex-wrap:wrap;gap:10px}.key div{border:1px solid #bbb;border-radius:4px;
padding:8px 14px;min-width:140px}.key b{display:block;font-size:1.4em}
.note{background:#fff7d6;border:1px solid #e0c050;padding:6px 10px}
.sw{display:inline-block;width:18px;height:4px;margin-right:6px;vertical-align:middle}
footer{margin-top:30px;color:#777;font-size:.85em}
"""


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], keys: Optional[Sequence[str]]
           = None, digits: Sequence[int] = (), cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in header)
           + "</tr>"]
    for r in rows:
        cells = []
        for j, v in enumerate(r):
            d = digits[j] if j < len(digits) else 2
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            attr = f' data-key="{_esc(keys[j])}"' if keys and j < len(keys) and keys[j] else ""
            cells.append(f'<td{attr}{" class=n" if num else ""}>{_esc(fmt(v, d))}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def _img(uri: str, alt: str) -> str:
    return f'<div class="fig"><img alt="{_esc(alt)}" src="{uri}"></div>'


def _top_rows(table: Table) -> List[List[Any]]:
    """The rows of a longest/widest table with crack types in words."""
    i = table.header.index("ctype")
    return [[TYPE_LABELS.get(v, v) if j == i else v for j, v in enumerate(r)]
            for r in table.rows]



@dataclass(frozen=True)
class ReportResult:
    """What :func:`write_html_report` wrote.

    Attributes:
        html: the HTML file.
        csv: the CSV tables by name (``type_severity``, ``longest``, ``widest``, ``zones``).
        n_zones: number of zone detail maps.
    """

    html: Path
    csv: Dict[str, Path]
    n_zones: int


def write_html_report(run_dir: Any, out_html: Any, overwrite: bool = False,
                      progress: Optional[Progress] = None, stem: Optional[str] = None,
                      title: Optional[str] = None, top_n: int = 10,
                      zone_cell: Optional[float] = None, max_zones: int = 12,
                      write_csv: bool = True, content_json: Optional[Any] = None,
                      folder_label: Optional[Any] = None, zones_path: Optional[Any] = None,
                      zone_field: Optional[str] = None) -> ReportResult:
    """Write the HTML inspection report of a run folder (plus its CSV tables).

    The content is decided by :func:`.content.build_report`; this function lays it out. The
    HTML file is self-contained (inline CSS, maps and charts as base64 PNG): title block,
    key figures, overview map (background + cracks by severity, zones, scale bar), probability
    map, length by type x severity (table + chart), width histogram, the longest and widest
    cracks with ids and coordinates, and a detail map per chosen zone. CSV tables go next to
    it as ``<name>_<table>.csv``.

    Args:
        run_dir: the run folder.
        out_html: the ``.html`` file to write (its folder must exist).
        overwrite: replace existing outputs.
        progress: progress/cancel receiver.
        stem: which run when the folder holds several.
        title: the project name in the title block.
        top_n: rows of the longest/widest tables.
        zone_cell: side of the zone grid cells in map units (None = automatic, 3 x 3 at most).
        max_zones: most zone detail maps (the zones with most cracks win).
        write_csv: also write the CSV tables.
        content_json: also write the report content (:class:`ReportContent`) as JSON here
            (what the QGIS print layout lays out).
        folder_label: the folder the footer names (default: ``run_dir``).
        zones_path: the user's zone polygons (spans, lanes...) instead of the grid (a vector
            file GDAL reads; see :func:`.zones.read_zones`).
        zone_field: the text field naming those zones (None = guessed).

    Raises:
        InvalidInputError: bad run folder, output folder missing, wrong extension.
        OutputExistsError: an output exists and ``overwrite`` is False.
        Cancelled: when ``progress`` asks to stop (nothing is written then).
    """
    progress = progress if progress is not None else NullProgress()
    out = Path(out_html)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(f"report file {out} must end in .html: pass --out REPORT.html")
    if not out.parent.is_dir():
        raise InvalidInputError(f"output folder {out.parent} does not exist: create it first")
    csv_paths = {k: out.with_name(f"{out.stem}_{k}.csv")
                 for k in ("type_severity", "longest", "widest", "zones")} if write_csv else {}
    targets = [out, *csv_paths.values()] + ([Path(content_json)] if content_json else [])
    for p in targets:
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists: choose another --out or pass "
                                    "--overwrite (overwrite=True) to replace it")
    progress.set_status("reading the run folder")
    run = load_run(run_dir, stem)
    content = build_report(run, title, top_n, zone_cell, max_zones, zones_path, zone_field)
    progress.set_progress(5.0)
    check_cancelled(progress)
    progress.set_status("rendering maps")
    overview = render_map(run, zones=content.zones)
    progress.set_progress(25.0)
    check_cancelled(progress)
    prob_map = render_map(run, raster="prob", legend=False, lw=0.8) \
        if "prob" in run.rasters else None
    progress.set_progress(40.0)
    hist = render_width_histogram(run)
    chart = render_severity_chart(run.summary)
    progress.set_progress(50.0)
    detail = [z for z in content.zones if z.detail]
    details = []
    for k, z in enumerate(detail):
        check_cancelled(progress)
        x0, y0, x1, y1 = z.bounds
        details.append((z, render_map(run, (x0, y0, x1, y1), width_in=6.0, legend=False,
                                      lw=2.2)))
        progress.set_progress(50.0 + 40.0 * (k + 1) / max(1, len(detail)))
    check_cancelled(progress)
    html_text = render_html(content, overview, prob_map, chart, hist, details,
                            Path(folder_label) if folder_label is not None else run.folder)
    progress.set_status("writing the report")
    atomic.write_text(out, html_text)
    for name, path in csv_paths.items():
        t = content.tables[name]
        atomic.write_text(path, _csv_text(t.header, t.rows))
    if content_json:
        atomic.write_text(Path(content_json), json.dumps(content.to_dict(), indent=2) + "\n")
    progress.set_progress(100.0)
    return ReportResult(html=out, csv=csv_paths, n_zones=len(details))


def render_html(content: ReportContent, overview: str, prob_map: Optional[str], chart: str,
                hist: str, details: Sequence[Tuple[Any, str]], folder: Path) -> str:
    """The HTML page of ``content`` with its rendered images (data URIs)."""
    tb = content.title_block
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{_esc(content.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_esc(content.title)}</h1><p>Crack inspection report of run "
             f"<code>{_esc(content.stem)}</code></p>",
             _table(["Item", "Value"], [list(r) for r in tb[1:]], cls="kv")]
    parts += [f'<p class="note">{_esc(n)}</p>' for n in content.notes]
    parts.append('<h2>Key figures</h2><div class="key">' + "".join(
        f'<div>{_esc(k.label)}<b data-key="{k.key}">{_esc(k.text)}</b></div>'
        for k in content.key_figures) + "</div>")
    legend = " ".join(f'<span><span class="sw" style="background:{x.colour}"></span>'
                      f"{_esc(x.label)} ({_esc(x.limits)})</span>" for x in content.legend)
    parts.append(f"<h2>Overview map</h2><p>Background: {_esc(content.background or 'none')}. "
                 f"Crack centre-lines by severity: {legend}. Dashed outlines: "
                 + ("your zones" if content.zone_source == "user" else "grid zones")
                 + " (detail maps below).</p>" + _img(overview, "overview map"))
    if prob_map:
        parts.append("<h2>Crack probability</h2>" + _img(prob_map, "probability map"))
    ts = content.tables["type_severity"]
    parts.append(f"<h2>{_esc(ts.title)}</h2>"
                 + _table([*ts.header[:1], *(f"{SEVERITY_LABELS[s]} ({s})" for s in SEVERITIES),
                           *ts.header[5:]], ts.rows, digits=ts.digits)
                 + '<div class="figs">' + _img(chart, "length by severity")
                 + _img(hist, "width histogram") + "</div>")
    top_head = [h for _, h in TOP_COLUMNS]
    for key in ("longest", "widest"):
        t = content.tables[key]
        parts.append(f"<h2>{_esc(t.title)}</h2>" + _table(top_head, _top_rows(t), digits=t.digits))
    parts.append("<p>X, Y: map coordinates of the middle of the segment. Ids are the "
                 "<code>seg_id</code>/<code>crack_id</code> of the crack_seg layer.</p>")
    if content.zones:
        zt = content.tables["zones"]
        parts.append(f"<h2>{_esc(zt.title)}</h2>" + _table(
            ["Zone", "Length (m)", *(f"{s} (m)" for s in SEVERITIES), "Segments",
             "xmin", "ymin", "xmax", "ymax"], zt.rows, digits=zt.digits))
        for z, img in details:
            ids = ", ".join(str(i) for i in z.seg_ids[:20]) + (
                " ..." if len(z.seg_ids) > 20 else "")
            parts.append(f"<h3>Zone {_esc(z.zone_id)}: {fmt(z.len_m)} m of cracks in "
                         f"{z.n_seg} segments</h3><p>Segments (longest first): {_esc(ids)}</p>"
                         + _img(img, f"zone {z.zone_id}"))
    parts.append(f"<footer>Generated {_esc(content.generated)} by csbsr "
                 f"{_esc(content.version)} from {_esc(', '.join(content.files))} in "
                 f"{_esc(folder)}.</footer></body></html>")
    return "\n".join(parts)
