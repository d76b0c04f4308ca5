"""Inspection reports from a run folder: the shared tables and the self-contained HTML report.

A *run folder* is what ``csbsr run ORTHO --out DIR`` writes for one orthophoto ``<stem>``:
``<stem>_cracks.gpkg`` (layers ``crack_seg``, ``crack_node``, ``crack_sum``),
``<stem>_summary.json``, ``<stem>_run.json`` (resolved config, device, model card),
``<stem>_prob.tif``, ``<stem>_mask.tif`` and optionally ``<stem>_sr.tif``. Everything in a
report comes from these files (plus the orthophoto when it is still where ``_run.json`` says,
used only as the map background), so a report can be rebuilt at any time.

:func:`load_run` reads a run folder into a :class:`RunFolder`; :func:`title_block`,
:func:`type_severity_table`, :func:`top_segments`, :func:`auto_grid` and
:func:`zone_statistics` are the tables shared by the HTML report here and the QGIS PDF report
(``csbsr:crackreport``). :func:`write_html_report` writes one HTML file (maps and charts
rendered with matplotlib's Agg canvas and embedded as base64 PNG, no external resource) and
its CSV tables. Lengths are metres, widths millimetres, areas square metres, coordinates CRS
map units.

No QGIS, no torch: matplotlib (``Figure`` + ``FigureCanvasAgg``, no pyplot state), rasterio,
pyogrio and shapely, all imported inside the functions.
"""
from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import atomic
from ..errors import InvalidInputError, OutputExistsError
from ..progress import NullProgress, Progress, check_cancelled

SEVERITIES: Tuple[str, ...] = ("H", "M", "L", "NR")
SEVERITY_LABELS: Dict[str, str] = {"H": "High", "M": "Medium", "L": "Low",
                                   "NR": "Not resolvable"}
SEVERITY_COLOURS: Dict[str, str] = {"H": "#e31a1c", "M": "#ff8c00", "L": "#1fbf3f",
                                    "NR": "#4f7bd6"}
CRACK_TYPES: Tuple[str, ...] = ("long", "trans", "diag", "block", "alligator", "uncl")
TYPE_LABELS: Dict[str, str] = {"long": "Longitudinal", "trans": "Transverse",
                               "diag": "Diagonal", "block": "Block", "alligator": "Alligator",
                               "uncl": "Unclassified"}
# columns of the longest/widest tables: (attribute, heading)
TOP_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("seg_id", "Segment id"), ("crack_id", "Crack id"), ("ctype", "Type"), ("sev", "Severity"),
    ("len_m", "Length (m)"), ("w_med_mm", "Median width (mm)"), ("w_max_mm", "Max width (mm)"),
    ("x", "X"), ("y", "Y"),
)


# ------------------------------------------------------------------------------ run folder
@dataclass
class RunFolder:
    """The contents of a run folder that a report needs.

    Attributes:
        folder: the run folder.
        stem: the orthophoto stem shared by the files.
        gpkg: the ``<stem>_cracks.gpkg``.
        summary: the run summary (``<stem>_summary.json``, else the GeoPackage's copy).
        run: the ``<stem>_run.json`` content ({} when absent).
        segments: ``crack_seg`` attribute dicts (``core.measure.FIELDS``) plus ``x``, ``y``:
            the map coordinates of the point halfway along the line.
        geometries: shapely LineStrings in the run CRS (map units), same order.
        crs_wkt: the CRS of the lines (WKT).
        rasters: existing rasters by role: ``ortho``, ``sr``, ``prob``, ``mask``.
        background: the role of the raster used as map background (``ortho``, ``sr`` or
            ``prob``), or None.
        notes: remarks for the reader (e.g. the orthophoto was not found).
    """

    folder: Path
    stem: str
    gpkg: Path
    summary: Dict[str, Any]
    run: Dict[str, Any]
    segments: List[Dict[str, Any]]
    geometries: List[Any]
    crs_wkt: str
    rasters: Dict[str, Path] = field(default_factory=dict)
    background: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    @property
    def projected(self) -> bool:
        """True when the CRS is projected (map units are linear)."""
        from pyproj import CRS

        return bool(self.crs_wkt) and not CRS.from_wkt(self.crs_wkt).is_geographic

    def bounds(self) -> Tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the analysed raster (prob/mask), else of the lines."""
        for role in ("prob", "mask", "sr"):
            if role in self.rasters:
                import rasterio

                with rasterio.open(self.rasters[role]) as src:
                    b = src.bounds
                return (b.left, b.bottom, b.right, b.top)
        if self.geometries:
            import shapely

            return tuple(shapely.total_bounds(np.array(self.geometries, dtype=object)))
        raise InvalidInputError(
            f"{self.folder}: no raster and no crack line to take the extent from: "
            "point the report at a complete run folder")


def find_stem(folder: Path, stem: Optional[str] = None) -> str:
    """Return the stem of the run in ``folder`` (the part before ``_cracks.gpkg``).

    Raises:
        InvalidInputError: no run, or several runs and no ``stem`` given.
    """
    if stem:
        if not (folder / f"{stem}_cracks.gpkg").is_file():
            raise InvalidInputError(
                f"{folder / (stem + '_cracks.gpkg')} does not exist: check --stem (the "
                "orthophoto name without extension) or the run folder")
        return stem
    stems = sorted(p.name[: -len("_cracks.gpkg")] for p in folder.glob("*_cracks.gpkg"))
    if not stems:
        raise InvalidInputError(
            f"{folder} holds no <stem>_cracks.gpkg: run `csbsr run ORTHO --out {folder}` first "
            "(or point the report at the folder of a finished run)")
    if len(stems) > 1:
        raise InvalidInputError(
            f"{folder} holds several runs ({', '.join(stems)}): pick one with --stem NAME")
    return stems[0]


def _read_segments(gpkg: Path) -> Tuple[List[Dict[str, Any]], List[Any], str]:
    import shapely
    from pyogrio import read_info
    from pyogrio.raw import read

    try:
        info = read_info(str(gpkg), layer="crack_seg")
        meta, _fids, geoms, data = read(str(gpkg), layer="crack_seg")
    except Exception as exc:  # pyogrio raises DataSourceError/DataLayerError/GDAL errors
        raise InvalidInputError(
            f"cannot read layer crack_seg of {gpkg} ({exc}): the GeoPackage is not a csbsr "
            "crack layer or is damaged; vectorize the run again") from exc
    names = [str(n) for n in meta["fields"]]
    lines = list(shapely.from_wkb(geoms)) if geoms is not None and len(geoms) else []
    rows: List[Dict[str, Any]] = []
    for i, line in enumerate(lines):
        row: Dict[str, Any] = {}
        for name, col in zip(names, data):
            v = col[i]
            if isinstance(v, (np.floating, float)):
                v = None if not math.isfinite(float(v)) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, bytes):
                v = v.decode("utf-8")
            row[name] = v
        if line is not None and not line.is_empty:
            mid = line.interpolate(0.5, normalized=True)
            row["x"], row["y"] = float(mid.x), float(mid.y)
        else:
            row["x"] = row["y"] = None
        rows.append(row)
    crs = info.get("crs") or ""
    crs_wkt = ""
    if crs:
        from pyproj import CRS

        crs_wkt = CRS.from_user_input(crs).to_wkt()
    return rows, lines, crs_wkt


def _read_summary(folder: Path, stem: str, gpkg: Path) -> Dict[str, Any]:
    path = folder / f"{stem}_summary.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from pyogrio import read_info

    meta = read_info(str(gpkg), layer="crack_sum").get("layer_metadata") or {}
    if "summary_json" in meta:
        return json.loads(meta["summary_json"])
    raise InvalidInputError(
        f"{folder} has no {stem}_summary.json and {gpkg.name} carries no summary: vectorize "
        "the run again with csbsr run/vectorize")


def load_run(run_dir: Any, stem: Optional[str] = None) -> RunFolder:
    """Read a run folder.

    Args:
        run_dir: the folder ``csbsr run`` wrote.
        stem: which run when the folder holds several (orthophoto name without extension).

    Returns:
        The :class:`RunFolder`.

    Raises:
        InvalidInputError: missing folder, GeoPackage or summary; unreadable GeoPackage.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise InvalidInputError(f"run folder {folder} does not exist: pass the --out folder "
                                "of a `csbsr run`")
    stem = find_stem(folder, stem)
    gpkg = folder / f"{stem}_cracks.gpkg"
    segments, lines, crs_wkt = _read_segments(gpkg)
    summary = _read_summary(folder, stem, gpkg)
    run_path = folder / f"{stem}_run.json"
    notes: List[str] = []
    run: Dict[str, Any] = {}
    if run_path.is_file():
        run = json.loads(run_path.read_text(encoding="utf-8"))
    else:
        notes.append(f"{run_path.name} is missing: model, device and input details are "
                     "unknown.")
    rasters: Dict[str, Path] = {}
    for role in ("sr", "prob", "mask"):
        p = folder / f"{stem}_{role}.tif"
        if p.is_file():
            rasters[role] = p
    ortho_rec = (run.get("input") or {}).get("path")
    candidates = []
    if ortho_rec:  # as recorded (absolute, or relative to where `csbsr run` ran), then here
        candidates = [Path(ortho_rec), folder / ortho_rec, folder / Path(ortho_rec).name,
                      folder.parent / Path(ortho_rec).name]
    ortho = next((c for c in candidates if c.is_file()), None)
    if ortho is not None:
        rasters["ortho"] = ortho
    elif ortho_rec:
        notes.append(f"The orthophoto {ortho_rec} was not found: the maps show the "
                     f"{'super-resolved image' if 'sr' in rasters else 'crack probability'} "
                     "instead.")
    background = next((r for r in ("ortho", "sr", "prob") if r in rasters), None)
    return RunFolder(folder=folder, stem=stem, gpkg=gpkg, summary=summary, run=run,
                     segments=segments, geometries=lines, crs_wkt=crs_wkt, rasters=rasters,
                     background=background, notes=notes)


# ------------------------------------------------------------------------------ shared tables
def fmt(value: Any, digits: int = 2) -> str:
    """Format a number for a report ("-" for None/NaN); ints stay ints."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "-" if not math.isfinite(float(value)) else f"{float(value):.{digits}f}"
    return str(value)


def severity_rule(summary: Dict[str, Any]) -> str:
    """The severity thresholds as text, e.g. ``LTPP (median width): L < 6 mm <= M <= 19 mm < H``."""
    th = summary.get("thresholds_mm") or []
    std = summary.get("standard", "?")
    basis = {"w_med": "median width", "w_mean": "mean width", "w_p95": "95th pct width",
             "w_max": "max width"}.get(summary.get("severity_basis", ""), "width")
    if len(th) == 2:
        return (f"{std} ({basis}): L < {fmt(th[0], 0)} mm <= M <= {fmt(th[1], 0)} mm < H; "
                "NR = narrower than the resolvable limit")
    return f"{std} ({basis})"


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
    card_bits = []
    if card.get("description"):
        card_bits.append(str(card["description"]))
    metrics = {k: v for k, v in (card.get("metrics") or {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if metrics:
        card_bits.append("validation " + ", ".join(
            f"{k} {fmt(v, 3)}" for k, v in sorted(metrics.items())))
    if card.get("input_gsd_m"):
        card_bits.append(f"trained for {fmt(card['input_gsd_m'] * 1000, 1)} mm/px")
    if card.get("created_utc"):
        card_bits.append(f"created {str(card['created_utc'])[:10]}")
    dev = (r.get("device") or {}).get("description") or "unknown"
    gsd_in = inp.get("gsd_m")
    gsd_txt = []
    if gsd_in:
        gsd_txt.append(f"orthophoto {fmt(float(gsd_in[0]) * 1000, 1)} mm/px")
    if run.summary.get("gsd_mm"):
        gsd_txt.append(f"analysed {fmt(run.summary['gsd_mm'], 1)} mm/px")
    run_json = run.folder / f"{run.stem}_run.json"
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
        ("Model card", "; ".join(card_bits) or "not recorded"),
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


def _nice(value: float) -> float:
    """The largest of 1, 2, 2.5, 5 x 10^k not above ``value`` (value > 0)."""
    exp = math.floor(math.log10(value))
    for m in (5.0, 2.5, 2.0, 1.0):
        if m * 10 ** exp <= value:
            return m * 10 ** exp
    return 10 ** exp


@dataclass(frozen=True)
class Zone:
    """A zone of interest and the cracks in it.

    Attributes:
        zone_id: label (e.g. ``Z01`` for grid cells, the AOI name otherwise).
        geometry: shapely polygon in the run CRS.
        len_m: crack length inside the zone (m), total and by severity (``len_by_sev_m``).
        n_seg: number of segments that touch the zone.
        seg_ids: their ids, longest first.
    """

    zone_id: str
    geometry: Any
    len_m: float
    len_by_sev_m: Dict[str, float]
    n_seg: int
    seg_ids: List[int]


def auto_grid(run: RunFolder, cell: Optional[float] = None, max_cells: int = 3
              ) -> List[Tuple[str, Any]]:
    """A regular grid of square zones over the analysed extent, in map units.

    Args:
        run: the run.
        cell: cell side in CRS map units (metres in a projected CRS); None = a round size
            that cuts the longer side into ``max_cells`` cells at most.
        max_cells: cells along the longer side when ``cell`` is None.

    Returns:
        (zone id, shapely box) pairs, row by row from the top left (``Z01``, ``Z02``...).

    Raises:
        InvalidInputError: a non-positive cell size.
    """
    from shapely.geometry import box

    x0, y0, x1, y1 = run.bounds()
    span = max(x1 - x0, y1 - y0)
    if cell is None:
        cell = span / max(1, int(max_cells))
        nice = _nice(cell)
        cell = nice if math.ceil(span / nice) <= max_cells else cell
    if not cell or cell <= 0:
        raise InvalidInputError(f"zone cell size must be > 0 map units, got {cell}: pass a "
                                "positive size or leave it empty for an automatic grid")
    nx, ny = max(1, math.ceil((x1 - x0) / cell - 1e-9)), max(1, math.ceil((y1 - y0) / cell - 1e-9))
    cells = []
    k = 0
    for j in range(ny):
        for i in range(nx):
            k += 1
            bx = box(x0 + i * cell, max(y0, y1 - (j + 1) * cell), min(x1, x0 + (i + 1) * cell),
                     y1 - j * cell)
            cells.append((f"Z{k:02d}", bx))
    return cells


def zone_statistics(run: RunFolder, zones: Sequence[Tuple[str, Any]],
                    keep_empty: bool = False) -> List[Zone]:
    """Crack length per zone (each segment's length shared by the fraction inside the zone).

    Args:
        run: the run.
        zones: (zone id, shapely polygon in the run CRS) pairs.
        keep_empty: keep zones without cracks.
    """
    import shapely

    out: List[Zone] = []
    geoms = np.array(run.geometries, dtype=object)
    tree = shapely.STRtree(geoms) if len(geoms) else None
    for zid, poly in zones:
        by = {s: 0.0 for s in SEVERITIES}
        hits: List[Tuple[float, int]] = []
        idx = tree.query(poly, predicate="intersects") if tree is not None else []
        for i in idx:
            g = geoms[i]
            seg = run.segments[int(i)]
            full = g.length
            frac = (g.intersection(poly).length / full) if full > 0 else 0.0
            part = float(seg.get("len_m") or 0.0) * frac
            by[seg.get("sev") or "NR"] = by.get(seg.get("sev") or "NR", 0.0) + part
            hits.append((float(seg.get("len_m") or 0.0), int(seg.get("seg_id") or 0)))
        hits.sort(key=lambda h: (-h[0], h[1]))
        if not hits and not keep_empty:
            continue
        out.append(Zone(str(zid), poly, float(sum(by.values())), by, len(hits),
                        [h[1] for h in hits]))
    return out


# ------------------------------------------------------------------------------ rendering
def _read_preview(path: Path, bounds: Optional[Tuple[float, float, float, float]] = None,
                  max_px: int = 1400) -> Tuple[np.ndarray, Tuple[float, float, float, float]]:
    """Read a raster (or a window in map ``bounds``) decimated to <= ``max_px`` a side.

    Returns:
        (image, extent): (H, W, 3) uint8 RGB or (H, W) float32 (nan = nodata) for one band;
        extent (left, right, bottom, top) in map units for matplotlib's ``imshow``.
    """
    import rasterio
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        win = Window(0, 0, src.width, src.height)
        if bounds is not None:
            win = from_bounds(*bounds, transform=src.transform)
            win = win.round_offsets().round_lengths()
            win = win.intersection(Window(0, 0, src.width, src.height))
        f = max(1.0, max(win.width, win.height) / max_px)
        shape = (max(1, int(round(win.height / f))), max(1, int(round(win.width / f))))
        bands = [1, 2, 3] if src.count >= 3 else [1]
        data = src.read(bands, window=win, out_shape=(len(bands), *shape), masked=True)
        b = src.window_bounds(win)
        extent = (b[0], b[2], b[1], b[3])
    if len(bands) == 3:
        arr = data.filled(0).astype(np.float32)
        valid = ~np.ma.getmaskarray(data).any(axis=0)
        if data.dtype != np.uint8:
            vals = arr[:, valid] if valid.any() else arr.reshape(3, -1)
            lo, hi = np.percentile(vals, 1), np.percentile(vals, 99)
            arr = (arr - lo) / max(hi - lo, 1e-9) * 255.0
        rgb = np.clip(arr, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        rgb[~valid] = 255
        return rgb, extent
    one = data[0].astype(np.float32).filled(np.nan)
    if np.isfinite(one).any() and float(np.nanmax(one)) > 1.5:
        one = one / 255.0  # uint8 probability x 255
    return one, extent


def _figure(w_in: float, h_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w_in, h_in), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, photo: bool = False) -> str:
    """Encode a figure as a base64 data URI: PNG for charts, JPEG (smaller) for photo maps."""
    buf = io.BytesIO()
    if photo:
        fig.savefig(buf, format="jpeg", bbox_inches="tight", pil_kwargs={"quality": 85})
        kind = "jpeg"
    else:
        fig.savefig(buf, format="png", bbox_inches="tight")
        kind = "png"
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _scale_bar(ax: Any, extent: Tuple[float, float, float, float]) -> None:
    """A metric scale bar (lower left) and a north arrow (upper right) on a map axis."""
    left, right, bottom, top = extent
    width = right - left
    length = _nice(width / 4.0)
    label = f"{fmt(length, 2 if length < 1 else 0)} m" if length < 1000 else \
        f"{fmt(length / 1000, 1)} km"
    x0 = left + 0.04 * width
    y0 = bottom + 0.05 * (top - bottom)
    h = 0.012 * (top - bottom)
    ax.add_patch(_rect(x0, y0, length / 2, h, "black"))
    ax.add_patch(_rect(x0 + length / 2, y0, length / 2, h, "white"))
    for x, text in ((x0, "0"), (x0 + length, label)):
        ax.text(x, y0 + 2.2 * h, text, ha="center", va="bottom", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.83), xycoords="axes fraction",
                ha="center", va="center", fontsize=10, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
                bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="black", linewidth=0.8)


def _draw_lines(ax: Any, run: RunFolder, lw: float, labels: Optional[bool] = None) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    handles = []
    for sev in SEVERITIES:
        segs = [np.asarray(g.coords)[:, :2] for g, a in zip(run.geometries, run.segments)
                if (a.get("sev") or "NR") == sev and g is not None and not g.is_empty]
        if segs:
            ax.add_collection(LineCollection(segs, colors=SEVERITY_COLOURS[sev], linewidths=lw,
                                             capstyle="round"))
            handles.append(Line2D([], [], color=SEVERITY_COLOURS[sev], lw=2.5,
                                  label=SEVERITY_LABELS[sev]))
    if labels and handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.005),
                  ncol=len(handles), fontsize=8, frameon=False, title="Crack severity",
                  title_fontsize=8)


def render_map(run: RunFolder, bounds: Optional[Tuple[float, float, float, float]] = None,
               raster: Optional[str] = None, width_in: float = 9.0, legend: bool = True,
               zones: Sequence[Zone] = (), lw: float = 1.6) -> str:
    """A map (data URI): background raster, crack lines by severity, scale bar, north arrow.

    Args:
        run: the run.
        bounds: (xmin, ymin, xmax, ymax) map window; None = the whole analysed extent.
        raster: the background role (``ortho``, ``sr``, ``prob``); None = ``run.background``.
        width_in: figure width in inches.
        legend: draw the severity legend.
        zones: zones to outline and label.
        lw: line width in points.
    """
    full = run.bounds()
    b = bounds or full
    role = raster or run.background
    fig = _figure(width_in, width_in * max(0.3, min(1.6, (b[3] - b[1]) / max(b[2] - b[0],
                                                                             1e-12))))
    ax = fig.add_axes([0, 0, 1, 1])
    if role is not None and role in run.rasters:
        img, extent = _read_preview(run.rasters[role], b)
        if img.ndim == 2:  # probability: its own map in magma, a background in light grey
            ax.imshow(img, extent=extent, cmap="magma" if raster == "prob" else "gray_r",
                      vmin=0.0, vmax=1.0 if raster == "prob" else 2.0,
                      interpolation="nearest")
        else:
            ax.imshow(img, extent=extent, interpolation="bilinear")
    _draw_lines(ax, run, lw, legend)
    for z in zones:
        xs, ys = z.geometry.exterior.xy
        ax.plot(xs, ys, color="#00e5ff", lw=1.0, ls="--")
        c = z.geometry.representative_point()
        ax.text(c.x, c.y, z.zone_id, color="#00323a", fontsize=9, ha="center", va="center",
                bbox={"facecolor": "#e0fbff", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    ax.set_xlim(b[0], b[2])
    ax.set_ylim(b[1], b[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if run.projected:
        _scale_bar(ax, (b[0], b[2], b[1], b[3]))
    return _png(fig, photo=role is not None)


def render_width_histogram(run: RunFolder) -> str:
    """Crack length (m) per median-width class (mm), with the severity limits (PNG data URI)."""
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    w = np.array([a["w_med_mm"] for a in run.segments if a.get("w_med_mm") is not None],
                 dtype=float)
    ln = np.array([a.get("len_m") or 0.0 for a in run.segments if a.get("w_med_mm") is not None],
                  dtype=float)
    if w.size:
        hi = max(float(np.max(w)) * 1.05, 1.0)
        ax.hist(w, bins=min(30, max(5, w.size)), range=(0, hi), weights=ln, color="#555555",
                edgecolor="white")
        for t, s, word in zip(run.summary.get("thresholds_mm") or [], ("M", "H"),
                              ("from", "above")):
            if t < hi:
                ax.axvline(t, color=SEVERITY_COLOURS[s], lw=1.5, ls="--",
                           label=f"{SEVERITY_LABELS[s]} {word} {fmt(t, 0)} mm")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no width measured", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("median width (mm)")
    ax.set_ylabel("crack length (m)")
    ax.set_title("Width distribution (length-weighted)", fontsize=10)
    return _png(fig)


def render_severity_chart(summary: Dict[str, Any]) -> str:
    """Stacked bars: length (m) by crack type, coloured by severity (PNG data URI)."""
    _header, rows = type_severity_table(summary)
    rows = rows[:-1]
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    if rows:
        names = [r[0] for r in rows]
        left = np.zeros(len(rows))
        for k, sev in enumerate(SEVERITIES):
            vals = np.array([r[1 + k] for r in rows], dtype=float)
            ax.barh(names, vals, left=left, color=SEVERITY_COLOURS[sev],
                    label=SEVERITY_LABELS[sev])
            left += vals
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no crack found", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("crack length (m)")
    ax.set_title("Length by type and severity", fontsize=10)
    return _png(fig)


# ------------------------------------------------------------------------------ HTML
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


def _top_rows(rows: List[Dict[str, Any]]) -> List[List[Any]]:
    out = []
    for r in rows:
        out.append([r.get(k) if k not in ("ctype", "sev") else
                    (TYPE_LABELS.get(r.get(k), r.get(k)) if k == "ctype" else r.get(k))
                    for k, _ in TOP_COLUMNS])
    return out


_TOP_DIGITS = (0, 0, 0, 0, 2, 1, 1, 2, 2)


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


def write_html_report(run_dir: Any, out_html: Any, overwrite: bool = False,
                      progress: Optional[Progress] = None, stem: Optional[str] = None,
                      title: Optional[str] = None, top_n: int = 10,
                      zone_cell: Optional[float] = None, max_zones: int = 12,
                      write_csv: bool = True) -> ReportResult:
    """Write the HTML inspection report of a run folder (plus its CSV tables).

    The HTML file is self-contained (inline CSS, maps and charts as base64 PNG). Contents:
    title block, headline figures, overview map (background + cracks by severity, scale bar,
    north arrow), probability map, length by type x severity (table + chart), width
    histogram, a detail map per grid zone that holds cracks, and the longest/widest cracks
    with ids and coordinates. CSV tables go next to it as ``<name>_<table>.csv``.

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
    for p in [out, *csv_paths.values()]:
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists: choose another --out or pass "
                                    "--overwrite (overwrite=True) to replace it")
    progress.set_status("reading the run folder")
    run = load_run(run_dir, stem)
    progress.set_progress(5.0)
    zones = zone_statistics(run, auto_grid(run, zone_cell))
    zones_shown = sorted(zones, key=lambda z: -z.len_m)[:max(0, int(max_zones))]
    zones_shown.sort(key=lambda z: z.zone_id)
    check_cancelled(progress)
    progress.set_status("rendering maps")
    overview = render_map(run, zones=zones)
    progress.set_progress(25.0)
    check_cancelled(progress)
    prob_map = render_map(run, raster="prob", legend=False, lw=0.8) \
        if "prob" in run.rasters else None
    progress.set_progress(40.0)
    hist = render_width_histogram(run)
    chart = render_severity_chart(run.summary)
    progress.set_progress(50.0)
    details = []
    for k, z in enumerate(zones_shown):
        check_cancelled(progress)
        x0, y0, x1, y1 = z.geometry.bounds
        details.append((z, render_map(run, (x0, y0, x1, y1), width_in=6.0, legend=False,
                                      lw=2.2)))
        progress.set_progress(50.0 + 40.0 * (k + 1) / max(1, len(zones_shown)))
    check_cancelled(progress)
    tables = report_csv_tables(run, zones, top_n)

    tb = title_block(run, title)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{_esc(tb[0][1])}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_esc(tb[0][1])}</h1><p>Crack inspection report of run "
             f"<code>{_esc(run.stem)}</code></p>",
             _table(["Item", "Value"], [list(r) for r in tb[1:]], cls="kv")]
    parts += [f'<p class="note">{_esc(n)}</p>' for n in run.notes]
    parts.append('<h2>Key figures</h2><div class="key">' + "".join(
        f'<div>{_esc(label)}<b data-key="{key}">{_esc(val)}</b></div>'
        for key, label, val in key_figures(run)) + "</div>")
    legend = " ".join(f'<span><span class="sw" style="background:{SEVERITY_COLOURS[s]}">'
                      f"</span>{SEVERITY_LABELS[s]}</span>" for s in SEVERITIES)
    parts.append(f"<h2>Overview map</h2><p>Background: {_esc(run.background or 'none')}. "
                 f"Crack centre-lines by severity: {legend}. Dashed cells: zones "
                 "(detail maps below).</p>" + _img(overview, "overview map"))
    if prob_map:
        parts.append("<h2>Crack probability</h2>" + _img(prob_map, "probability map"))
    header, rows = tables["type_severity"]
    parts.append("<h2>Length by type and severity (m)</h2>"
                 + _table([*header[:1], *(f"{SEVERITY_LABELS[s]} ({s})" for s in SEVERITIES),
                           *header[5:]], rows, digits=(0, 2, 2, 2, 2, 2, 3))
                 + '<div class="figs">' + _img(chart, "length by severity")
                 + _img(hist, "width histogram") + "</div>")
    top_head = [h for _, h in TOP_COLUMNS]
    parts.append(f"<h2>Longest cracks (top {top_n})</h2>"
                 + _table(top_head, _top_rows(top_segments(run, "len_m", top_n)),
                          digits=_TOP_DIGITS)
                 + f"<h2>Widest cracks (top {top_n}, by max width)</h2>"
                 + _table(top_head, _top_rows(top_segments(run, "w_max_mm", top_n)),
                          digits=_TOP_DIGITS)
                 + "<p>X, Y: map coordinates of the middle of the segment. Ids are the "
                   "<code>seg_id</code>/<code>crack_id</code> of the crack_seg layer.</p>")
    if zones:
        _zh, zr = tables["zones"]
        parts.append("<h2>Zones</h2>" + _table(
            ["Zone", "Length (m)", *(f"{s} (m)" for s in SEVERITIES), "Segments",
             "xmin", "ymin", "xmax", "ymax"], zr, digits=(0, 2, 2, 2, 2, 2, 0, 2, 2, 2, 2)))
        for z, img in details:
            ids = ", ".join(str(i) for i in z.seg_ids[:20]) + (
                " ..." if len(z.seg_ids) > 20 else "")
            parts.append(f"<h3>Zone {_esc(z.zone_id)}: {fmt(z.len_m)} m of cracks in "
                         f"{z.n_seg} segments</h3><p>Segments (longest first): {_esc(ids)}</p>"
                         + _img(img, f"zone {z.zone_id}"))
    files = [run.gpkg.name, f"{run.stem}_summary.json", f"{run.stem}_run.json",
             *sorted(p.name for r, p in run.rasters.items() if r != "ortho")]
    parts.append(f"<footer>Generated {_esc(_dt.datetime.now().isoformat(timespec='seconds'))} "
                 f"by csbsr {_esc(run.summary.get('version', ''))} from "
                 f"{_esc(', '.join(files))} in {_esc(run.folder)}.</footer></body></html>")
    progress.set_status("writing the report")
    atomic.write_text(out, "\n".join(parts))
    for name, path in csv_paths.items():
        h, rws = tables[name]
        atomic.write_text(path, _csv_text(h, rws))
    progress.set_progress(100.0)
    return ReportResult(html=out, csv=csv_paths, n_zones=len(details))
