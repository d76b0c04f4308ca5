"""Maps and charts of a report as PNG data URIs (matplotlib's Agg canvas, no pyplot state).

Maps show the background raster (the orthophoto when it is still where the run recorded it,
else the super-resolved image or the probability), the crack centre-lines by severity in the
palette of :mod:`.style`, zones, a scale bar and a north arrow.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .content import type_severity_table
from .runfolder import RunFolder
from .style import SEVERITIES, SEVERITY_COLOURS, SEVERITY_LABELS, fmt, nice_step


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
    import warnings

    with warnings.catch_warnings():
        # The reports draw no 3D axes; where QGIS's system matplotlib toolkits shadow the
        # venv's (a --system-site-packages venv), matplotlib warns it cannot offer them.
        warnings.filterwarnings("ignore", message="Unable to import Axes3D")
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
    length = nice_step(width / 4.0)
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
               zones: Sequence[Any] = (), lw: float = 1.6) -> str:
    """A map (data URI): background raster, crack lines by severity, scale bar, north arrow.

    Args:
        run: the run.
        bounds: (xmin, ymin, xmax, ymax) map window; None = the whole analysed extent.
        raster: the background role (``ortho``, ``sr``, ``prob``); None = ``run.background``.
        width_in: figure width in inches.
        legend: draw the severity legend.
        zones: zones to outline and label (objects with ``zone_id`` and ``bounds``).
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
        x0, y0, x1, y1 = z.bounds
        for xs, ys in _zone_rings(z):
            ax.plot(xs, ys, color="#00e5ff", lw=1.0, ls="--")
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, z.zone_id, color="#00323a", fontsize=9,
                ha="center", va="center",
                bbox={"facecolor": "#e0fbff", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    ax.set_xlim(b[0], b[2])
    ax.set_ylim(b[1], b[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if run.projected:
        _scale_bar(ax, (b[0], b[2], b[1], b[3]))
    return _png(fig, photo=role is not None)


def _zone_rings(zone: Any) -> List[Tuple[List[float], List[float]]]:
    """The outline of a zone as (xs, ys) rings: its polygon (``outline`` WKT) or its box."""
    x0, y0, x1, y1 = zone.bounds
    if not getattr(zone, "outline", None):
        return [([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])]
    import shapely

    geom = shapely.from_wkt(zone.outline)
    rings = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            xs, ys = ring.xy
            rings.append((list(xs), list(ys)))
    return rings


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

