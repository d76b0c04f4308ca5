"""How results are shown: severity and type labels, the one colour palette, number formats.

The map layers (QML styles), the HTML report and the PDF report all take their colours and
labels from here (``tests`` check the QML styles against it). Pure Python: the QGIS plugin
imports it.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from ..records import VALUE_MAPS
from .model import LegendItem

SEVERITIES: Tuple[str, ...] = ("H", "M", "L", "NR")


SEVERITY_LABELS: Dict[str, str] = {s: VALUE_MAPS["sev"][s] for s in SEVERITIES}


SEVERITY_COLOURS: Dict[str, str] = {"H": "#e31a1c", "M": "#ff8c00", "L": "#1fbf3f",
                                    "NR": "#4f7bd6"}


CRACK_TYPES: Tuple[str, ...] = ("long", "trans", "diag", "block", "alligator", "uncl")


TYPE_LABELS: Dict[str, str] = {t: VALUE_MAPS["ctype"][t] for t in CRACK_TYPES}


TOP_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("seg_id", "Segment id"), ("crack_id", "Crack id"), ("ctype", "Type"), ("sev", "Severity"),
    ("len_m", "Length (m)"), ("w_med_mm", "Median width (mm)"), ("w_max_mm", "Max width (mm)"),
    ("x", "X"), ("y", "Y"),
)


def fmt(value: Any, digits: int = 2) -> str:
    """Format a number for a report ("-" for None/NaN); ints stay ints."""
    if value is None:
        return "-"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


#: severity standards as a report names them (``summary["standard"]`` -> words)
STANDARD_LABELS: Dict[str, str] = {"D6433": "ASTM D6433", "LTPP": "FHWA LTPP",
                                   "CUSTOM": "custom limits"}


def standard_label(code: Any) -> str:
    """``"D6433"`` -> ``"ASTM D6433"`` (unknown codes unchanged)."""
    return STANDARD_LABELS.get(str(code or "").upper(), str(code or ""))


def _find_metric(tree: Any, names: Tuple[str, ...]) -> Optional[float]:
    """The first number under one of ``names`` in a nested metrics dict."""
    if not isinstance(tree, dict):
        return None
    for name in names:
        v = tree.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    for v in tree.values():
        found = _find_metric(v, names)
        if found is not None:
            return found
    return None


def _field_words(metrics: Any) -> str:
    """". On 300 test photos it finds about 69% of the crack length ..." from a card's field
    metrics at its recommended setting (``field_at_threshold``: line recall and precision
    within 2 cm; ``fp_m_per_m2_at_threshold``: false crack m/m² per content type), or ""."""
    if not isinstance(metrics, dict) or not isinstance(metrics.get("field_at_threshold"), dict):
        return ""
    field = metrics["field_at_threshold"]
    recall = _find_metric(field, ("recall_2cm",))
    precision = _find_metric(field, ("precision_2cm",))
    if recall is None or precision is None:
        return ""
    n = _find_metric(field, ("n_images",))
    on = f"on {int(n)} test photos" if n else "on its test photos"
    text = (f". {on.capitalize()} it finds about {recall:.0%} of the crack length within 2 cm, and "
            f"{precision:.0%} of what it draws is a crack")
    fp = metrics.get("fp_m_per_m2_at_threshold")
    values = sorted(v for v in (fp.values() if isinstance(fp, dict) else ())
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v))
    if values:
        span = f"{values[0]:.2f}" if values[0] == values[-1] else \
            f"{values[0]:.2f}-{values[-1]:.2f}"
        text += f"; on crack-free surfaces it draws {span} m of false crack per m²"
    return text


def model_in_plain_words(card: Dict[str, Any]) -> str:
    """One sentence about a model for an inspector: what it finds, on what imagery, how well.

    Args:
        card: a model card as a dict (the model's ``.json``, or the ``model`` entry of a
            ``<stem>_run.json``). Research metrics stay in that file.
    """
    model = card.get("model") or {}
    gsd = card.get("input_gsd_m")
    scale = model.get("scale")
    text = "Finds cracks in photos of pavement and concrete"
    if gsd:
        text += f" taken at about {float(gsd) * 1000:.3g} mm per pixel"
    if scale:
        text += f", looking at them {int(scale)}x sharpened"
    field = _field_words(card.get("metrics"))
    f1 = _find_metric(card.get("metrics"), ("f1_ods", "f1"))
    n = _find_metric(card.get("metrics"), ("n_images",))
    if field:
        text += field
    elif f1 is not None:
        on = f"on {int(n)} test photos " if n else "on its test photos "
        text += (f". {on.capitalize()}it agrees with cracks drawn by hand at an F1 score of "
                 f"{f1:.2f} (1 = perfect)")
    text += "."
    if "non-commercial" in str(card.get("description") or "").lower():
        text += " For research and non-commercial use."
    return text


def severity_legend(summary: Dict[str, Any]) -> List[LegendItem]:
    """The severity classes with their width limits under the run's standard (the legend of
    every map and report), e.g. ``Low: < 10 mm, ASTM D6433``."""
    th = summary.get("thresholds_mm") or []
    std = standard_label(summary.get("standard", ""))
    lim = {"L": f"< {fmt(th[0], 0)} mm", "M": f"{fmt(th[0], 0)}-{fmt(th[1], 0)} mm",
           "H": f"> {fmt(th[1], 0)} mm"} if len(th) == 2 else {}
    lim["NR"] = "narrower than the resolvable width"
    return [LegendItem(s, SEVERITY_LABELS[s], SEVERITY_COLOURS[s],
                       f"{lim.get(s, '')}{', ' + std if std and s != 'NR' else ''}")
            for s in SEVERITIES]


def severity_rule(summary: Dict[str, Any]) -> str:
    """The severity thresholds as text, e.g. ``LTPP (median width): L < 6 mm <= M <= 19 mm < H``."""
    th = summary.get("thresholds_mm") or []
    std = standard_label(summary.get("standard", "?"))
    basis = {"w_med": "median width", "w_mean": "mean width", "w_p95": "95th pct width",
             "w_max": "max width"}.get(summary.get("severity_basis", ""), "width")
    if len(th) == 2:
        return (f"{std} ({basis}): L < {fmt(th[0], 0)} mm <= M <= {fmt(th[1], 0)} mm < H; "
                "NR = narrower than the resolvable limit")
    return f"{std} ({basis})"



def nice_step(value: float) -> float:
    """The largest of 1, 2, 2.5, 5 x 10^k not above ``value`` (value > 0)."""
    exp = math.floor(math.log10(value))
    for m in (5.0, 2.5, 2.0, 1.0):
        if m * 10 ** exp <= value:
            return m * 10 ** exp
    return 10 ** exp
