"""The report content model: what an inspection report shows, as plain dataclasses.

Pure Python (no numpy, no GDAL): the QGIS plugin reads ``<stem>_report.json`` into a
:class:`ReportContent` and lays it out in a print layout; the engine's HTML writer lays out
the same object. Neither decides content: :func:`csbsr.core.report.content.build_report`
does.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass
class Table:
    """One report table: raw values (metres, millimetres, map units) and display digits."""

    key: str
    title: str
    header: List[str]
    rows: List[List[Any]]
    digits: List[int] = field(default_factory=list)
    note: str = ""


@dataclass
class KeyFigure:
    """A headline number: summary key, label, raw value and its display text."""

    key: str
    label: str
    value: Any
    text: str


@dataclass
class ZoneInfo:
    """A zone of the report: id, bounds (xmin, ymin, xmax, ymax in map units), crack length
    in it (m, total and by severity), its segments (longest first), whether it gets a
    detail map, and its outline as WKT in the run CRS when it is not its bounding box (the
    user's polygons; None for grid cells)."""

    zone_id: str
    bounds: List[float]
    len_m: float
    len_by_sev_m: Dict[str, float]
    n_seg: int
    seg_ids: List[int]
    detail: bool = False
    outline: Optional[str] = None


@dataclass
class LegendItem:
    """One severity class as every map and the report show it."""

    code: str
    label: str
    colour: str
    limits: str


@dataclass
class ReportContent:
    """What an inspection report contains, decided once for the HTML and the PDF renderers.

    Written beside the run as ``<stem>_report.json`` (:meth:`to_dict`), so the QGIS plugin
    lays out the same content in a print layout without recomputing any of it.
    """

    title: str
    stem: str
    title_block: List[Tuple[str, str]]
    key_figures: List[KeyFigure]
    tables: Dict[str, Table]
    zones: List[ZoneInfo]
    legend: List[LegendItem]
    extent: List[float]
    background: Optional[str]
    notes: List[str]
    files: List[str]
    crs_wkt: str
    version: str
    generated: str
    #: "grid" (automatic square cells) or "user" (the user's zone polygons)
    zone_source: str = "grid"

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_default))

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> ReportContent:
        """Read :meth:`to_dict` output back."""
        return cls(
            title=d["title"], stem=d["stem"],
            title_block=[tuple(x) for x in d["title_block"]],
            key_figures=[KeyFigure(**k) for k in d["key_figures"]],
            tables={k: Table(**t) for k, t in d["tables"].items()},
            zones=[ZoneInfo(**z) for z in d["zones"]],
            legend=[LegendItem(**x) for x in d["legend"]], extent=list(d["extent"]),
            background=d.get("background"), notes=list(d.get("notes", [])),
            files=list(d.get("files", [])), crs_wkt=d.get("crs_wkt", ""),
            version=d.get("version", ""), generated=d.get("generated", ""),
            zone_source=d.get("zone_source", "grid"))


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
