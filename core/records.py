"""The crack records: one typed definition of every attribute a crack line, node or summary
carries, from vectorization to the GeoPackage/Shapefile schema, the QML styles, the reports
and the QGIS attribute table.

Each record is a dataclass whose fields carry their schema in ``metadata`` (type, description,
the alias an inspector reads, display precision, whether the field is technical). ``FIELDS``,
``NODE_FIELDS`` and ``SUMMARY_FIELDS`` are derived from the dataclasses, so a field is added,
renamed or described in exactly one place. Field names are at most 10 characters (Shapefile).

Pure Python (no numpy, no GDAL): the QGIS plugin reads the schema without the engine's wheels.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Type


class Field(NamedTuple):
    """The schema of one attribute.

    Attributes:
        name: column name (<= 10 characters).
        type: "int", "float" or "str".
        description: what it means, with units.
        alias: the column title an inspector reads (e.g. "Length (m)").
        precision: decimals shown for floats (0 for other types).
        technical: hidden from the inspector's form and table by default.
    """

    name: str
    type: str
    description: str
    alias: str
    precision: int = 0
    technical: bool = False


def _f(typ: str, description: str, alias: str, precision: int = 0,
       technical: bool = False) -> Any:
    return field(default=None, metadata={"type": typ, "description": description,
                                         "alias": alias, "precision": precision,
                                         "technical": technical})


def schema(record: Type[Any]) -> List[Field]:
    """The ordered :class:`Field` list of a record dataclass."""
    return [Field(f.name, f.metadata["type"], f.metadata["description"], f.metadata["alias"],
                  f.metadata["precision"], f.metadata["technical"])
            for f in dataclasses.fields(record)]


@dataclass
class SegmentRecord:
    """The attributes of one measured crack segment (an edge of the pruned crack graph)."""

    seg_id: Optional[int] = _f("int", "Segment id (one pruned graph edge)", "Segment")
    crack_id: Optional[int] = _f("int", "Connected crack network id", "Crack")
    node_from: Optional[int] = _f("int", "Start node id (crack_node layer)", "From node",
                                  technical=True)
    node_to: Optional[int] = _f("int", "End node id (crack_node layer)", "To node",
                                technical=True)
    br_type: Optional[int] = _f("int", "Branch type: 0 tip-tip, 1 tip-junction, "
                                "2 junction-junction, 3 cycle", "Branch type", technical=True)
    len_m: Optional[float] = _f("float", "Length in metres (smoothed centre-line, free tips "
                                "extended)", "Length (m)", 3)
    chord_m: Optional[float] = _f("float", "End-to-end distance in metres", "Chord (m)", 3,
                                  technical=True)
    sinuos: Optional[float] = _f("float", "Sinuosity: length / chord", "Sinuosity", 2,
                                 technical=True)
    w_mean_mm: Optional[float] = _f("float", "Mean width in mm (profile, junctions excluded)",
                                    "Mean width (mm)", 1)
    w_med_mm: Optional[float] = _f("float", "Median width in mm", "Median width (mm)", 1)
    w_p95_mm: Optional[float] = _f("float", "95th percentile width in mm",
                                   "Width P95 (mm)", 1, technical=True)
    w_max_mm: Optional[float] = _f("float", "Maximum width in mm", "Max width (mm)", 1)
    w_std_mm: Optional[float] = _f("float", "Standard deviation of width in mm",
                                   "Width std (mm)", 1, technical=True)
    w_n: Optional[int] = _f("int", "Number of width samples used", "Width samples",
                            technical=True)
    w_src: Optional[str] = _f("str", "Width measured on: prob (probability map) or mask "
                              "(binary)", "Width source", technical=True)
    w_resolv: Optional[int] = _f("int", "1 if the median width is resolvable "
                                 "(>= resolvable_px pixels)", "Width resolvable")
    azimuth: Optional[float] = _f("float", "Axial orientation, degrees clockwise from grid "
                                  "north (0-180)", "Orientation (deg)", 0)
    rel_ang: Optional[float] = _f("float", "Angle to the road axis in degrees (0 = parallel); "
                                  "null without axis", "Angle to axis (deg)", 0, technical=True)
    ctype: Optional[str] = _f("str", "Crack type: long, trans, diag, block, alligator, uncl",
                              "Type")
    sev_std: Optional[str] = _f("str", "Severity standard: D6433, LTPP or CUSTOM",
                                "Standard", technical=True)
    sev: Optional[str] = _f("str", "Severity: L, M, H, or NR (width not resolvable)",
                            "Severity")
    sev_basis: Optional[str] = _f("str", "Width statistic used for severity",
                                  "Severity basis", technical=True)
    edge_trunc: Optional[int] = _f("int", "1 if it touches the raster/AOI/nodata edge (length "
                                   "is a bound)", "At edge", technical=True)
    conf: Optional[float] = _f("float", "Mean model probability along the centre-line (0-1)",
                               "Confidence", 2)
    gsd_mm: Optional[float] = _f("float", "Ground sampling distance in mm per pixel",
                                 "GSD (mm/px)", 2, technical=True)
    model_ver: Optional[str] = _f("str", "Model that produced the probability map", "Model",
                                  technical=True)
    proc_ver: Optional[str] = _f("str", "Software version that measured the crack",
                                 "Software", technical=True)

    def as_dict(self) -> Dict[str, Any]:
        """The attributes by field name, in schema order."""
        return dataclasses.asdict(self)


@dataclass
class NodeRecord:
    """The attributes of one crack graph node (tip, junction, border or loop point)."""

    node_id: Optional[int] = _f("int", "Node id", "Node")
    crack_id: Optional[int] = _f("int", "Connected crack network id", "Crack")
    degree: Optional[int] = _f("int", "Number of segment ends at the node", "Degree")
    n_kind: Optional[str] = _f("str", "tip, junc (junction), border (raster/AOI/nodata edge) "
                               "or loop", "Kind")
    r_mm: Optional[float] = _f("float", "Local crack half-width (inscribed radius) in mm",
                               "Half-width (mm)", 1)

    def as_dict(self) -> Dict[str, Any]:
        """The attributes by field name, in schema order."""
        return dataclasses.asdict(self)


@dataclass
class SummaryRow:
    """One row of the ``crack_sum`` table: totals of one crack type x severity."""

    ctype: Optional[str] = _f("str", "Crack type (ALL = every type)", "Type")
    sev: Optional[str] = _f("str", "Severity (ALL = every severity)", "Severity")
    len_m: Optional[float] = _f("float", "Total length in metres", "Length (m)", 2)
    n_seg: Optional[int] = _f("int", "Number of segments", "Segments")
    dens_m_m2: Optional[float] = _f("float", "Crack density: length per analysed area (m/m2)",
                                    "Density (m/m²)", 3)


FIELDS: List[Field] = schema(SegmentRecord)
NODE_FIELDS: List[Field] = schema(NodeRecord)
SUMMARY_FIELDS: List[Field] = schema(SummaryRow)

#: words for the coded values of the segment layer: the attribute table's value maps, the
#: legends, the HTML and PDF reports (``core.report.style`` takes its labels from here)
VALUE_MAPS: Dict[str, Dict[str, str]] = {
    "sev": {"L": "Low", "M": "Medium", "H": "High", "NR": "Not resolvable"},
    "ctype": {"long": "Longitudinal", "trans": "Transverse", "diag": "Diagonal",
              "block": "Block", "alligator": "Alligator", "uncl": "Unclassified"},
}


@dataclass
class CrackSummary:
    """The totals of one vectorized run (``<stem>_summary.json``).

    Lengths in metres, areas in m², widths in mm. ``len_by_type_sev_m`` maps crack type ->
    severity -> metres; ``n_by_type_sev`` the segment counts likewise.
    """

    total_len_m: float = 0.0
    len_by_type_sev_m: Dict[str, Dict[str, float]] = field(default_factory=dict)
    n_by_type_sev: Dict[str, Dict[str, int]] = field(default_factory=dict)
    area_m2: float = 0.0
    density_m_m2: Optional[float] = None
    n_segments: int = 0
    n_cracks: int = 0
    n_nodes: int = 0
    n_tips: int = 0
    n_junctions: int = 0
    n_truncated: int = 0
    gsd_mm: Optional[float] = None
    standard: str = ""
    thresholds_mm: Tuple[float, ...] = ()
    severity_basis: str = "w_med"
    threshold: float = 0.5
    seed_threshold: Optional[float] = None
    min_crack_length_m: float = 0.0
    min_elongation: float = 0.0
    length_mode: str = "grid"
    road_azimuth_deg: Optional[float] = None
    width_source: str = "prob"
    raster_size: Tuple[int, ...] = ()
    crs: str = ""
    crs_wkt: str = ""
    window_px: int = 0
    overlap_px: int = 0
    model: str = ""
    software: str = "csbsr"
    version: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> CrackSummary:
        """Read a summary dict back (unknown keys are ignored: older or newer files)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw: Dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                              for k, v in data.items() if k in names}
        return cls(**kw)

    def rows(self) -> List[SummaryRow]:
        """The ``crack_sum`` table: one row per type x severity plus ALL/ALL."""
        area = self.area_m2 or 0.0
        out = []
        for t in sorted(self.len_by_type_sev_m):
            for s in sorted(self.len_by_type_sev_m[t]):
                ln = self.len_by_type_sev_m[t][s]
                out.append(SummaryRow(t, s, ln, self.n_by_type_sev.get(t, {}).get(s, 0),
                                      ln / area if area > 0 else None))
        out.append(SummaryRow("ALL", "ALL", self.total_len_m, self.n_segments,
                              self.density_m_m2))
        return out


@dataclass(frozen=True)
class CrackSegment:
    """One measured crack segment: a shapely LineString in the raster CRS and its record."""

    geometry: Any
    record: SegmentRecord

    @property
    def attributes(self) -> Dict[str, Any]:
        """The record as a dict (field name -> value)."""
        return self.record.as_dict()


@dataclass(frozen=True)
class CrackNode:
    """A crack graph node: a shapely Point in the raster CRS and its record."""

    geometry: Any
    record: NodeRecord

    @property
    def attributes(self) -> Dict[str, Any]:
        """The record as a dict (field name -> value)."""
        return self.record.as_dict()


@dataclass(frozen=True)
class CrackNetwork:
    """The result of vectorization: segments, nodes, the summary and the CRS (WKT)."""

    segments: List[CrackSegment]
    nodes: List[CrackNode]
    summary: CrackSummary
    crs_wkt: str
