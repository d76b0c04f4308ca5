"""The self-contained HTML change report (``change_report.html``).

One page, no external resource (inline CSS, figures as base64 PNG/JPEG, matplotlib's Agg
canvas without pyplot state): the totals per change class and the growth, a map of the change
classes over the later orthophoto, the registration figures (shift, rotation, scale, residual,
inliers) with a plot of the tie-point residuals, the uncertainty model in numbers, and the
table of the largest changes.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .. import atomic
from .content import ChangeTable, change_tables, title_block
from .schema import CLASSES, COLOURS, LABELS

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{margin-bottom:4px}h2{border-bottom:2px solid #444;padding-bottom:3px;margin-top:30px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:3px 8px;
font-size:13px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}
.sw{display:inline-block;width:22px;height:4px;vertical-align:middle;margin-right:6px}
.note{color:#555;font-size:13px}img{max-width:100%}
"""


def write_change_report(path: Path, summary: Dict[str, Any],
                        features: Sequence[Tuple[Any, Dict[str, Any]]], pairs: Sequence[Any],
                        crs_wkt: str) -> Path:
    """Write the HTML page to ``path`` (atomically); return ``path``.

    Args:
        path: the output file.
        summary: the change summary (``compare.build_summary``).
        features: (geometry in ``crs_wkt``, fields) of the ``crack_change`` layer.
        pairs: the compared pairs (``compare.PairResult``).
        crs_wkt: CRS of the geometries.
    """
    e = html.escape
    tables = change_tables(summary)
    head = "<br>".join(f"{e(k)}: {e(v)}" for k, v in title_block(summary))
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Crack change report"
             f"</title><style>{_CSS}</style></head><body>",
             "<h1>Crack change report</h1>", f"<p class='note'>{head}</p>",
             "<h2>What changed</h2>", _html_table(tables["totals"]),
             _html_table(tables["growth"])]
    bg = pairs[0].new.ortho if len(pairs) == 1 else None
    parts.append(f"<img src='{render_change_map(features, crs_wkt, bg)}' alt='change map'>")
    parts.append("<h2>Registration</h2>" + _html_table(tables["registration"]))
    if pairs and len(pairs[0].registration.ties):
        parts.append(f"<img src='{_residual_plot(pairs[0].registration)}' "
                     "alt='tie-point residuals' style='max-width:560px'>")
    parts.append("<h2>Uncertainty model</h2>" + _html_table(tables["uncertainty"]))
    parts.append("<h2>Largest changes</h2>" + _html_table(tables["largest"]))
    parts.append("</body></html>")
    return atomic.write_text(path, "\n".join(parts) + "\n")


def _swatch(c: str) -> str:
    style = "border-top:3px dashed" if c == "gone" else "background"
    return f"<span class='sw' style='{style}:{COLOURS[c]}'></span>"


def _html_table(t: ChangeTable) -> str:
    """A :class:`ChangeTable` as HTML: swatches on class rows, text columns left-aligned."""
    e = html.escape
    if not t.rows:
        return f"<p>{e(t.note)}</p>" if t.note else ""

    def cls(j: int) -> str:
        return " class='l'" if j in t.left else ""

    out = ["<table>"]
    if t.header:
        out.append("<tr>" + "".join(f"<th{cls(j)}>{e(h)}</th>" for j, h in enumerate(t.header))
                   + "</tr>")
    for i, row in enumerate(t.rows):
        c = t.row_classes[i] if i < len(t.row_classes) else None
        cells = [f"<td{cls(j)}>{_swatch(c) if j == 0 and c in COLOURS else ''}{e(v)}</td>"
                 for j, v in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if t.note:
        out.append(f"<p class='note'>{e(t.note)}</p>")
    return "".join(out)


# ------------------------------------------------------------------------------ figures
def _figure(w_in: float, h_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w_in, h_in), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _uri(fig: Any, photo: bool) -> str:
    buf = io.BytesIO()
    if photo:
        fig.savefig(buf, format="jpeg", bbox_inches="tight", pil_kwargs={"quality": 85})
    else:
        fig.savefig(buf, format="png", bbox_inches="tight")
    kind = "jpeg" if photo else "png"
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_change_map(features: Sequence[Tuple[Any, Dict[str, Any]]], crs_wkt: str,
                      background: Optional[Path] = None, width_in: float = 9.0,
                      out_png: Optional[Path] = None) -> str:
    """Map of the change classes (data URI), over ``background`` (an RGB raster) if given.

    Lines are drawn by class (``gone`` dashed), ``added`` pieces thicker. With ``out_png``
    the figure is also saved there (PNG, for documentation).
    """
    import shapely
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    geoms = np.array([g for g, _ in features], dtype=object)
    if not len(geoms):
        b = (0.0, 0.0, 1.0, 1.0)
    else:
        b = tuple(shapely.total_bounds(geoms))
    pad = 0.03 * max(b[2] - b[0], b[3] - b[1], 1e-9)
    b = (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)
    aspect = max(0.3, min(1.6, (b[3] - b[1]) / max(b[2] - b[0], 1e-12)))
    fig = _figure(width_in, width_in * aspect)
    ax = fig.add_axes([0, 0, 1, 1])
    photo = False
    if background is not None and Path(background).is_file():
        img, extent = _preview(Path(background), b)
        if img is not None:
            ax.imshow(img, extent=extent, interpolation="bilinear", alpha=0.85)
            photo = True
    handles = []
    for c in CLASSES:
        for part, lw in (("line", 1.4), ("lost", 1.4), ("added", 3.2)):
            segs = [np.asarray(g.coords)[:, :2] for g, f in features
                    if f["change"] == c and f["part"] == part]
            if segs:
                ax.add_collection(LineCollection(
                    segs, colors=COLOURS[c], linewidths=lw, capstyle="round",
                    linestyles="--" if c == "gone" else "-", zorder=3 if part == "added" else 2))
        handles.append(Line2D([], [], color=COLOURS[c], lw=2.5, ls="--" if c == "gone" else "-",
                              label=LABELS[c]))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.005), ncol=5,
              fontsize=8, frameon=False)
    ax.set_xlim(b[0], b[2])
    ax.set_ylim(b[1], b[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    from pyproj import CRS

    if crs_wkt and CRS.from_wkt(crs_wkt).is_projected:
        _scale_bar(ax, b)
    if out_png is not None:
        fig.savefig(str(out_png), format="png", bbox_inches="tight")
    return _uri(fig, photo)


def _preview(path: Path, b: Tuple[float, float, float, float], max_px: int = 1400
             ) -> Tuple[Optional[np.ndarray], Tuple[float, float, float, float]]:
    """(H, W, 3) uint8 RGB of the raster inside bounds ``b``, decimated; None if outside."""
    import rasterio
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        win = from_bounds(*b, transform=src.transform).round_offsets().round_lengths()
        try:
            win = win.intersection(Window(0, 0, src.width, src.height))
        except WindowError:  # the bounds do not intersect the raster: no background
            return None, b
        f = max(1.0, max(win.width, win.height) / max_px)
        shape = (max(1, int(round(win.height / f))), max(1, int(round(win.width / f))))
        bands = [1, 2, 3] if src.count >= 3 else [1, 1, 1]
        data = src.read(bands, window=win, out_shape=(3, *shape)).astype(np.float32)
        wb = src.window_bounds(win)
    if data.max() > 255 or data.dtype != np.uint8:
        lo, hi = np.percentile(data, [1, 99])
        data = (data - lo) / max(hi - lo, 1e-9) * 255.0
    img = np.clip(data, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return img, (wb[0], wb[2], wb[1], wb[3])


def _scale_bar(ax: Any, b: Tuple[float, float, float, float]) -> None:
    width = b[2] - b[0]
    raw = width / 4.0
    p = 10 ** math.floor(math.log10(raw))
    length = max(m * p for m in (1, 2, 5) if m * p <= raw)
    x0, y0 = b[0] + 0.04 * width, b[1] + 0.05 * (b[3] - b[1])
    ax.plot([x0, x0 + length], [y0, y0], color="black", lw=4, solid_capstyle="butt")
    ax.plot([x0, x0 + length / 2], [y0, y0], color="white", lw=2, solid_capstyle="butt")
    label = f"{length * 100:g} cm" if length < 1 else f"{length:g} m"
    ax.text(x0 + length / 2, y0 + 0.015 * (b[3] - b[1]), label, ha="center", va="bottom",
            fontsize=8, bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none",
                              "pad": 1})


def _residual_plot(reg: Any) -> str:
    """Tie-point residuals after the fit: positions and residual vectors (mm, exaggerated)."""
    t = reg.ties
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    res_mm = np.hypot(t[:, 2], t[:, 3]) * 1000.0
    span = max(float(np.ptp(t[:, 0])), float(np.ptp(t[:, 1])), 1e-9)
    gain = 0.05 * span / max(float(np.percentile(res_mm, 95)) / 1000.0, 1e-9)
    x, y = t[:, 0] - t[:, 0].min(), t[:, 1] - t[:, 1].min()
    ax.quiver(x, y, t[:, 2] * gain, t[:, 3] * gain, res_mm, angles="xy",
              scale_units="xy", scale=1, cmap="viridis", width=0.004)
    ax.set_aspect("equal")
    ax.set_xlabel("east (m)", fontsize=8)
    ax.set_ylabel("north (m)", fontsize=8)
    ax.set_title(f"{len(t)} inlier tie points, residual RMSE {reg.rmse_m * 1000:.1f} mm "
                 f"(arrows x{gain:.0f})", fontsize=9)
    ax.tick_params(labelsize=7)
    return _uri(fig, False)
