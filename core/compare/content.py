"""What a change report says: the tables and lines of a change summary, as text.

One owner of the change report content: the engine's HTML page (:mod:`.report`), the command
line and the QGIS plugin's PDF report all lay out these tables and lines; none of them formats
a figure of the summary itself. Pure Python (the QGIS plugin imports it; no numpy).

Every function takes the change summary (``change_summary.json``, written by
``compare.build_summary``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..records import VALUE_MAPS
from .schema import CLASSES, LABELS

DASH = "\u2013"  # an empty cell (en dash)


@dataclass(frozen=True)
class ChangeTable:
    """One table of a change report, as text.

    Attributes:
        key: ``totals``, ``growth``, ``registration``, ``uncertainty`` or ``largest``.
        title: the table's heading.
        header: column headings (empty: no header row).
        rows: text cells.
        row_classes: the change class of each row (its colour swatch), or None.
        left: indices of the text (left-aligned) columns.
        note: an explanation printed under the table ("" = none).
    """

    key: str
    title: str
    header: List[str]
    rows: List[List[str]]
    row_classes: List[Optional[str]] = field(default_factory=list)
    left: Tuple[int, ...] = (0,)
    note: str = ""


def num(value: Any, digits: int = 2) -> str:
    """A figure as report text (``–`` for None/NaN; thousands separated)."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:,.{digits}f}"
    return str(value)


def _pair(p: Dict[str, Any]) -> str:
    return f"{p['old']} → {p['new']}"


def _severity(code: Any) -> str:
    return VALUE_MAPS["sev"].get(str(code), str(code)) if code else "-"


def title_block(summary: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(label, text) rows: the two inspections, the compared area, the software."""
    old, new = summary["old"], summary["new"]
    return [
        ("Earlier (OLD)", f"{old['path']} ({old['kind']}, {len(old['runs'])} run(s))"),
        ("Later (NEW)", f"{new['path']} ({new['kind']}, {len(new['runs'])} run(s))"),
        ("Compared area", f"{num(float(summary['area_m2']))} m²"),
        ("Software", f"csbsr {summary['version']}"),
    ]


def key_figures(summary: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(label, text) headline figures: lines per class, then the growth."""
    t, g = summary["totals"], summary["growth"]
    out = [(LABELS[c].split(" (")[0], f"{t[c]['n']} ({num(float(t[c]['len_m']))} m)")
           for c in CLASSES]
    per = g.get("per_m2")
    out.append(("Growth", f"{num(float(g['total_m']))} m" +
                ("" if per is None else f" ({num(float(per), 3)} m/m²)")))
    return out


def change_tables(summary: Dict[str, Any], top: Optional[int] = None
                  ) -> Dict[str, ChangeTable]:
    """The report's tables, keyed as :class:`ChangeTable` says, in reading order.

    Args:
        summary: the change summary.
        top: rows of the largest-changes table (None: all the summary lists).
    """
    return {t.key: t for t in (_totals(summary), _growth(summary), _registration(summary),
                               _uncertainty(summary), _largest(summary, top))}


def _totals(s: Dict[str, Any]) -> ChangeTable:
    rows = [[LABELS[c], str(s["totals"][c]["n"]), num(float(s["totals"][c]["len_m"]))]
            for c in CLASSES]
    return ChangeTable("totals", "What changed", ["Class", "Lines", "Length (m)"], rows,
                       list(CLASSES))


def _growth(s: Dict[str, Any]) -> ChangeTable:
    g = s["growth"]
    per = None if g["per_m2"] is None else float(g["per_m2"])
    rows = [
        ["New crack length (m)", num(float(g["new_len_m"]), 3)],
        ["Added length of extended cracks (m)", num(float(g["extended_added_m"]), 3)],
        ["Crack growth (m)", num(float(g["total_m"]), 3)],
        ["Crack growth per area (m/m²)", num(per, 3)],
        ["Gone: whole lines + lost pieces (m)",
         num(float(g["gone_len_m"]) + float(g["lost_pieces_m"]), 3)],
        ["Net change (m)", num(float(g["net_m"]), 3)],
        ["Crack length OLD / NEW in the area (m)",
         f"{num(float(s['old_len_m']))} / {num(float(s['new_len_m']))}"],
    ]
    return ChangeTable("growth", "Growth", [], rows)


def _registration(s: Dict[str, Any]) -> ChangeTable:
    header = ["OLD → NEW", "Method / model", "Shift E, N (cm)", "|Shift| (cm)",
              "Rotation (°)", "Scale (ppm)", "Residual RMSE (mm)", "Transform s.e. (mm)",
              "Inliers / matches", "Grid (mm/px)"]
    rows = []
    for p in s["pairs"]:
        r = p["registration"]
        rows.append([
            _pair(p), f"{r['method']} / {r['model']}",
            f"{r['shift_cm'][0]:.2f}, {r['shift_cm'][1]:.2f}", f"{r['shift_total_cm']:.2f}",
            f"{r['rotation_deg']:.3f}", f"{r['scale_ppm']:.0f}", f"{r['rmse_mm']:.2f}",
            num(r["se_max_mm"]), f"{r['n_inliers']} / {r['n_matches']}",
            num(r["grid_gsd_mm"], 1)])
    note = ("Shift: displacement of the overlap centre from OLD to NEW. Residual RMSE: tie "
            "points after the fit (with method none: the assumed misregistration). Transform "
            "s.e.: standard error of the fitted transform at the overlap corners.")
    return ChangeTable("registration", "Registration", header, rows, left=(0, 1), note=note)


def _uncertainty(s: Dict[str, Any]) -> ChangeTable:
    header = ["Pair", "k", "GSD OLD / NEW (mm)", "U width (mm)", "U length of 1 m (mm)",
              "Tolerance (mm)", "Tip tolerance (mm)", "Min. piece (mm)"]
    rows = []
    for p in s["pairs"]:
        u = p["uncertainty"]
        rows.append([_pair(p), f"{u['k']:g}", f"{u['g_old_mm']:.1f} / {u['g_new_mm']:.1f}",
                     f"{u['u_width_mm']:.1f}", f"{u['u_len_1m_mm']:.1f}",
                     f"{u['tol_mm']:.1f}", f"{u['tip_tol_mm']:.1f}",
                     f"{u['min_piece_mm']:.0f}"])
    note = ("A width change is real only above U width (k·√2·\u03c3, \u03c3 = half a pixel of "
            "the orthophoto); a length change only above U length (1 % of the length and one "
            "pixel per tip, per inspection). Changes inside these bounds are 'unchanged'. A "
            "change smaller than one pixel of the orthophoto cannot be told from measurement "
            "noise.")
    return ChangeTable("uncertainty", "Uncertainty model", header, rows, note=note)


def _largest(s: Dict[str, Any], top: Optional[int]) -> ChangeTable:
    header = ["Class", "Run", "Segment", "Length (m)", "Δ length (m)", "± (m)", "Width (mm)",
              "Δ width (mm)", "± (mm)", "Severity OLD → NEW"]
    items = s["largest"] if top is None else s["largest"][:top]
    rows = []
    for f in items:
        new_sev = None if f["change"] == "gone" else f.get("sev")
        rows.append([
            str(f["change"]), str(f["source"]), num(f["seg_id"]), num(f["len_m"], 3),
            num(f["d_len_m"], 3), num(f["u_len_m"], 3), num(f["w_med_mm"], 1),
            num(f["d_w_med_mm"], 1), num(f["u_w_mm"], 1),
            f"{_severity(f.get('sev_old'))} → {_severity(new_sev)}"])
    note = "" if rows else "No change beyond the measurement uncertainty."
    return ChangeTable("largest", "Largest changes", header, rows,
                       [str(f["change"]) for f in items], left=(0, 1, 9), note=note)


def registration_lines(summary: Dict[str, Any]) -> List[str]:
    """One plain-text line of registration figures per compared pair."""
    out = []
    for p in summary["pairs"]:
        r = p["registration"]
        out.append(f"registration {p['old']} -> {p['new']}: {r['method']} ({r['model']}), "
                   f"shift {r['shift_cm'][0]:.2f}, {r['shift_cm'][1]:.2f} cm, rotation "
                   f"{r['rotation_deg']:.3f} deg, scale {r['scale_ppm']:.0f} ppm, residual "
                   f"{r['rmse_mm']:.1f} mm, {r['n_inliers']} inliers")
    return out


def summary_lines(summary: Dict[str, Any]) -> List[str]:
    """A few plain-text lines: registration, lines per class, growth."""
    out = registration_lines(summary)
    t = summary["totals"]
    out.append(", ".join(f"{c} {t[c]['n']} ({t[c]['len_m']:.2f} m)" for c in CLASSES))
    g = summary["growth"]
    per = "-" if g["per_m2"] is None else f"{g['per_m2']:.3f}"
    gone = g["gone_len_m"] + g["lost_pieces_m"]
    out.append(f"growth {g['total_m']:.2f} m ({per} m/m2) over {summary['area_m2']:.2f} m2; "
               f"gone {gone:.2f} m")
    return out


def legend(classes: Sequence[str] = CLASSES) -> List[Tuple[str, str]]:
    """(class, label) of the change classes, in the order of the style."""
    return [(c, LABELS[c]) for c in classes]
