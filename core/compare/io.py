"""Reading inspections (run and survey folders) and writing the ``crack_change`` layer.

Every file name comes from :mod:`core.layout`. This is the only module of the package that
touches the engine's other file formats, so a move of those modules changes only here.

An *inspection* is a run folder of ``csbsr run`` (one or several runs side by side) or a survey
folder of ``csbsr survey`` (run folders under ``runs/<stem>/``). Each run gives its crack lines
(layer ``crack_seg``), the footprint of the grid they were traced on, the input orthophoto
(``input.path`` in ``<stem>_run.json``) and two GSDs: the orthophoto's (resolving) and the
line grid's (finer when the detector super-resolved).

All comparison geometry happens in a *working frame*: a projected CRS in metres (the NEW run's
CRS when it is one, else the UTM zone of the site).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError
from ..layout import SEGMENT_LAYER, RunLayout, SurveyLayout

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class RunData:
    """One run of an inspection.

    Attributes:
        layout: the run's files.
        crs_wkt: CRS of the lines and of the footprint.
        footprint: shapely Polygon of the analysed grid, in ``crs_wkt``.
        ortho: the input orthophoto, or None when it cannot be found.
        gsd_in_m: resolving GSD (the input orthophoto's), metres.
        gsd_line_m: GSD of the grid the lines were traced on, metres.
        geoms: (N,) object array of shapely LineStrings in ``crs_wkt``.
        attrs: N attribute dicts (``crack_seg`` fields).
        prob: the probability raster, or None.
        threshold: the detection threshold of the run (0-1).
    """

    layout: RunLayout
    crs_wkt: str
    footprint: Any
    ortho: Optional[Path]
    gsd_in_m: float
    gsd_line_m: float
    geoms: np.ndarray
    attrs: List[Dict[str, Any]] = field(repr=False)
    prob: Optional[Path] = None
    threshold: float = 0.5

    @property
    def name(self) -> str:
        """The run's stem."""
        return self.layout.stem


@dataclass(frozen=True)
class Inspection:
    """The runs of one inspection: ``kind`` is ``run`` or ``survey``."""

    path: Path
    kind: str
    runs: List[RunData]


def load_inspection(path: PathLike, ortho: Optional[PathLike] = None,
                    role: str = "OLD") -> Inspection:
    """Read every run of a run folder or a survey folder.

    Args:
        path: the folder.
        ortho: the orthophoto, overriding ``input.path`` (only for a single run).
        role: ``OLD`` or ``NEW``, for messages.

    Raises:
        InvalidInputError: not a folder, no run, unreadable lines, or ``ortho`` with several
            runs.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidInputError(f"{role} {folder} is not a folder: pass the output folder of "
                                "'csbsr run' or of 'csbsr survey'")
    layouts = [r for r in SurveyLayout(folder).runs() if r.path("cracks").is_file()]
    kind = "survey"
    if not layouts:
        kind = "run"
        layouts = [RunLayout(folder, s) for s in RunLayout.stems(folder)]
        layouts = [r for r in layouts if r.path("cracks").is_file()]
    if not layouts:
        raise InvalidInputError(
            f"{role} {folder} holds no finished run (no <stem>_cracks.gpkg, nor runs/<stem>/ "
            "of a survey): pass the output folder of 'csbsr run' or 'csbsr survey'")
    if ortho is not None and len(layouts) > 1:
        raise InvalidInputError(
            f"{role} {folder} holds {len(layouts)} runs, so one orthophoto cannot be given "
            "for it: drop the orthophoto option or compare single runs")
    return Inspection(folder, kind, [_load_run(r, ortho, role) for r in layouts])


def _load_run(layout: RunLayout, ortho: Optional[PathLike], role: str) -> RunData:
    import pyogrio.raw
    import shapely

    gpkg = layout.path("cracks")
    try:
        meta, _fids, wkb, cols = pyogrio.raw.read(str(gpkg), layer=SEGMENT_LAYER)
    except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError
        raise InvalidInputError(f"cannot read layer {SEGMENT_LAYER} of {role} {gpkg} ({exc}): "
                                "run 'csbsr run' again for that orthophoto") from exc
    crs = meta.get("crs")
    if not crs:
        raise InvalidInputError(f"{role} {gpkg} has no CRS: run 'csbsr run' again on a "
                                "georeferenced orthophoto")
    from pyproj import CRS

    crs_wkt = CRS.from_user_input(crs).to_wkt()
    names = list(meta["fields"])
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object)) if len(wkb) else \
        np.array([], dtype=object)
    attrs = [{n: _py(cols[k][i]) for k, n in enumerate(names)} for i in range(len(geoms))]
    keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    geoms = np.array([geoms[i] for i in keep], dtype=object)
    attrs = [attrs[i] for i in keep]
    run = _read_json(layout.path("run"))
    grid = run.get("output_grid") or {}
    footprint = _grid_footprint(grid) or _raster_footprint(layout) or _lines_footprint(geoms)
    if footprint is None:
        raise InvalidInputError(f"{role} run {layout.folder} has no grid extent (no "
                                f"{layout.path('run').name} and no mask raster) and no lines: "
                                "run 'csbsr run' again")
    line_gsd = _float(grid.get("gsd_m"))
    if line_gsd is None:
        vals = [float(a["gsd_mm"]) for a in attrs if a.get("gsd_mm")]
        line_gsd = float(np.median(vals)) / 1000.0 if vals else None
    inp = run.get("input") or {}
    in_gsd = inp.get("gsd_m")
    in_gsd = math.sqrt(in_gsd[0] * in_gsd[1]) if isinstance(in_gsd, list) and len(in_gsd) == 2 \
        else _float(in_gsd)
    if in_gsd is None and line_gsd is None:
        raise InvalidInputError(f"{role} run {layout.folder} records no GSD: run 'csbsr run' "
                                "again")
    in_gsd = in_gsd or line_gsd
    line_gsd = line_gsd or in_gsd
    ortho_path = Path(ortho) if ortho is not None else (
        Path(inp["path"]) if inp.get("path") else None)
    if ortho_path is not None and not ortho_path.is_file():
        if ortho is not None:
            raise InvalidInputError(f"{role} orthophoto {ortho_path} does not exist: pass the "
                                    "orthophoto the run was made from")
        ortho_path = None
    prob = layout.path("prob") if layout.path("prob").is_file() else None
    threshold = _float((run.get("config") or {}).get("threshold")) or 0.5
    assert in_gsd is not None and line_gsd is not None  # one of them was given (checked above)
    return RunData(layout, crs_wkt, footprint, ortho_path, float(in_gsd), float(line_gsd),
                   geoms, attrs, prob, min(threshold, 1.0))


def _py(v: Any) -> Any:
    """numpy scalar -> Python value; NaN -> None."""
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def _float(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def _read_json(path: Path) -> Dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not valid JSON ({exc}): run 'csbsr run' "
                                "again") from exc
    return data if isinstance(data, dict) else {}


def _corners(transform: Sequence[float], width: int, height: int) -> Any:
    from shapely.geometry import Polygon

    a, b, c, d, e, f = (float(v) for v in transform[:6])
    pts = [(a * x + b * y + c, d * x + e * y + f)
           for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
    return Polygon(pts)


def _grid_footprint(grid: Dict[str, Any]) -> Any:
    try:
        return _corners(grid["transform"], int(grid["width"]), int(grid["height"]))
    except (KeyError, TypeError, ValueError):
        return None


def _raster_footprint(layout: RunLayout) -> Any:
    for role in ("mask", "prob"):
        p = layout.path(role)
        if p.is_file():
            import rasterio

            with rasterio.open(p) as src:
                return _corners(tuple(src.transform), src.width, src.height)
    return None


def _lines_footprint(geoms: np.ndarray) -> Any:
    import shapely

    if not len(geoms):
        return None
    return shapely.box(*shapely.total_bounds(geoms))


# ------------------------------------------------------------------------- working frame
@dataclass(frozen=True)
class Frame:
    """The working frame: a projected CRS in metres, and conversions into and out of it."""

    crs_wkt: str

    @classmethod
    def for_run(cls, run: RunData) -> Frame:
        """The run's CRS if it is projected in metres, else the UTM zone of its footprint."""
        from pyproj import CRS

        crs = CRS.from_wkt(run.crs_wkt)
        if crs.is_projected and abs(crs.axis_info[0].unit_conversion_factor - 1.0) < 1e-12:
            return cls(run.crs_wkt)
        from pyproj import Transformer

        c = run.footprint.centroid
        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(c.x, c.y)
        zone = int((lon + 180.0) // 6.0) % 60 + 1
        return cls(CRS.from_epsg((32600 if lat >= 0 else 32700) + zone).to_wkt())

    def to_work(self, geoms: Any, crs_wkt: str) -> Any:
        """Geometries (array or one) from ``crs_wkt`` into the working frame."""
        return _reproject(geoms, crs_wkt, self.crs_wkt)

    def from_work(self, geoms: Any, crs_wkt: str) -> Any:
        """Geometries from the working frame into ``crs_wkt``."""
        return _reproject(geoms, self.crs_wkt, crs_wkt)


def _reproject(geoms: Any, src: str, dst: str) -> Any:
    import shapely
    from pyproj import CRS, Transformer

    if src == dst or CRS.from_wkt(src) == CRS.from_wkt(dst):
        return geoms
    tr = Transformer.from_crs(CRS.from_wkt(src), CRS.from_wkt(dst), always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geoms, fn)


def apply_affine(geoms: Any, matrix: np.ndarray) -> Any:
    """Apply a 2x3 (or 3x3) affine ``x' = A x + b`` to shapely geometries."""
    import shapely

    m = np.asarray(matrix, dtype=float)
    return shapely.transform(geoms, lambda xy: xy @ m[:2, :2].T + m[:2, 2])


# ------------------------------------------------------------------------- writing
def write_change_layer(path: Path, layer: str, geoms: Sequence[Any],
                       rows: Sequence[Dict[str, Any]], fields: Sequence[Tuple[str, str, str]],
                       crs_wkt: str) -> Path:
    """Write one LineString layer to a new GeoPackage (GPKG 1.3) at ``path``."""
    from ..vectorize.export import write_layer

    write_layer(path, layer, list(geoms), list(rows), fields, "LineString", crs_wkt, "GPKG",
                False, dataset_options={"VERSION": "1.3"})
    return path
