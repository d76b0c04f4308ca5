"""The ``crack_change`` layer: change classes, feature parts and the attribute schema.

Pure Python: shared by the engine, the HTML report, the QML style in
``resources/styles/crack_change.qml`` and (later) the QGIS plugin's feature sinks.

One feature is one crack line of the later inspection (NEW) with its change class, or one line
of the earlier inspection (OLD) that was not found again (``gone``), or a piece of a line:

========== ========================================================================
``part``   what the geometry is
========== ========================================================================
``line``   a whole crack segment (of NEW; of OLD, registered into NEW, for ``gone``)
``added``  the added piece of an ``extended`` segment (also in its ``line`` feature)
``lost``   a piece of an OLD segment that NEW no longer has (the rest was found)
========== ========================================================================

Totals over ``part == "line"`` features count every crack once; ``added`` pieces locate the
growth of ``extended`` lines, ``lost`` pieces the partial repairs.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

#: change classes, in the order of precedence (a line that grew and widened is ``extended``)
CLASSES: Tuple[str, ...] = ("new", "extended", "widened", "unchanged", "gone")
PARTS: Tuple[str, ...] = ("line", "added", "lost")

#: colours of the QML style and of the report maps (RGB hex)
COLOURS: Dict[str, str] = {
    "new": "#e31a1c",  # red
    "extended": "#ff7f00",  # orange
    "widened": "#d100d1",  # magenta
    "unchanged": "#8c8c8c",  # grey
    "gone": "#1f5fd6",  # blue, dashed
}

LABELS: Dict[str, str] = {
    "new": "New crack",
    "extended": "Extended (longer)",
    "widened": "Widened",
    "unchanged": "Unchanged",
    "gone": "Gone (repaired, sealed or missed)",
}

#: ``(name <= 10 chars, type, description)``, types as ``core.records.FIELDS``
CHANGE_FIELDS: List[Tuple[str, str, str]] = [
    ("change", "str", "Change class: new, extended, widened, unchanged, gone"),
    ("part", "str", "line (whole segment), added (grown piece), lost (piece not found again)"),
    ("source", "str", "Run (orthophoto stem) the geometry comes from: NEW, or OLD for gone"),
    ("old_src", "str", "OLD run compared with"),
    ("seg_id", "int", "Segment id in the source run"),
    ("crack_id", "int", "Crack network id in the source run"),
    ("old_segs", "str", "Matched OLD segment ids (comma separated)"),
    ("len_m", "float", "Length of this geometry in metres (inside the compared overlap)"),
    ("len_old_m", "float", "Length of the OLD line matched to it, metres"),
    ("d_len_m", "float", "Length change NEW - OLD, metres (added piece: its length)"),
    ("u_len_m", "float", "Uncertainty (k sigma) of the length change, metres"),
    ("sig_len", "int", "1 if the length change exceeds its uncertainty"),
    ("w_med_mm", "float", "Median width, mm (NEW; OLD for gone)"),
    ("w_old_mm", "float", "Median width of the matched OLD line(s), mm"),
    ("d_w_med_mm", "float", "Median width change NEW - OLD, mm"),
    ("u_w_mm", "float", "Uncertainty (k sigma) of the width change, mm"),
    ("sig_w", "int", "1 if the width change exceeds its uncertainty"),
    ("cover", "float", "Fraction of the length matched by the other inspection (0-1)"),
    ("evid", "float", "Median crack probability of the other inspection along it (0-1)"),
    ("sev", "str", "Severity (NEW; OLD for gone)"),
    ("sev_old", "str", "Severity of the matched OLD line"),
    ("ctype", "str", "Crack type of the source line"),
    ("azimuth", "float", "Axial orientation, degrees clockwise from grid north (0-180)"),
    ("gsd_mm", "float", "GSD of the grid the source line was traced on, mm"),
    ("edge", "int", "1 if cut by the border of the compared overlap"),
]

FIELD_NAMES: Tuple[str, ...] = tuple(f[0] for f in CHANGE_FIELDS)
