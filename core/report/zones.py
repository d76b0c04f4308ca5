"""Zones of a report: an automatic grid, or the user's own polygons (spans, lanes, bays), and
the crack length in each.

An inspector reports per structural element ("span 2", "lane 1, km 3.2-3.4"), so the report
takes a polygon file (GeoPackage, Shapefile, GeoJSON...: anything GDAL/OGR reads) whose
polygons become the zones, named by a text field; without one, a regular grid of square
cells covers the analysed extent. Lengths are metres, coordinates the run CRS's map units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError
from .runfolder import RunFolder
from .style import SEVERITIES, nice_step

#: text fields tried, in order, for a zone's name when none is given
NAME_FIELDS = ("name", "zone", "zone_id", "label", "id", "element", "span")
#: at most this many user zones (each may get a detail page)
MAX_USER_ZONES = 500


@dataclass(frozen=True)
class Zone:
    """A zone of interest and the cracks in it.

    Attributes:
        zone_id: label (``Z01``... for grid cells, the user's name otherwise).
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
        nice = nice_step(cell)
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


def read_zones(path: Union[str, Path], run: RunFolder, name_field: Optional[str] = None,
               layer: Optional[str] = None) -> List[Tuple[str, Any]]:
    """The user's zone polygons, in the run CRS, clipped to nothing (whole polygons).

    Args:
        path: a vector file GDAL/OGR reads (GeoPackage, Shapefile, GeoJSON...).
        run: the run (its CRS and extent).
        name_field: the text field naming each zone; None = the first of
            :data:`NAME_FIELDS` present (case-insensitive), else ``Z01``, ``Z02``... by order.
        layer: the layer of a multi-layer file (default: the first).

    Returns:
        (zone name, shapely polygon in the run CRS) pairs, in file order; duplicate names get
        a ``#2``, ``#3`` suffix.

    Raises:
        InvalidInputError: unreadable file, no polygons, unknown field, no CRS where the run
            has one, or no zone overlapping the analysed extent (each with the fix).
    """
    import pyogrio
    import shapely
    from pyproj import CRS, Transformer

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"zones file {p} does not exist: pass a polygon file "
                                "(GeoPackage, Shapefile, GeoJSON) of the zones")
    try:
        meta, _, geoms, fields = pyogrio.raw.read(p, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError/DataLayerError and others
        raise InvalidInputError(f"cannot read the zones file {p} ({exc}): pass a polygon "
                                "file GDAL reads (GeoPackage, Shapefile, GeoJSON)") from exc
    polys = shapely.from_wkb(geoms) if geoms is not None else np.array([])
    names = [str(n) for n in meta.get("fields", [])]
    keep = [i for i, g in enumerate(polys) if g is not None and not g.is_empty
            and g.geom_type in ("Polygon", "MultiPolygon")]
    if not keep:
        raise InvalidInputError(f"the zones file {p} holds no polygons: draw the zones as "
                                "polygons (a line or point layer cannot be used)")
    if len(keep) > MAX_USER_ZONES:
        raise InvalidInputError(f"the zones file {p} holds {len(keep)} polygons (at most "
                                f"{MAX_USER_ZONES}): merge or select the zones to report")
    column = _name_column(names, name_field, p)
    src_crs = meta.get("crs")
    if run.crs_wkt:
        if not src_crs:
            raise InvalidInputError(f"the zones file {p} has no CRS: assign its CRS (the "
                                    "orthophoto's, most likely) and save it again")
        src, dst = CRS.from_user_input(src_crs), CRS.from_wkt(run.crs_wkt)
        if not src.equals(dst):
            tr = Transformer.from_crs(src, dst, always_xy=True)
            polys = shapely.transform(polys, lambda xy: np.column_stack(
                tr.transform(xy[:, 0], xy[:, 1])))
    out: List[Tuple[str, Any]] = []
    seen: Dict[str, int] = {}
    for k, i in enumerate(keep, start=1):
        raw = fields[column][i] if column is not None else None
        name = str(raw).strip() if raw is not None and str(raw).strip() else f"Z{k:02d}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} #{seen[name]}"
        poly = polys[i]
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
        out.append((name, poly))
    extent = shapely.box(*run.bounds())
    if not any(poly.intersects(extent) for _, poly in out):
        raise InvalidInputError(f"no zone of {p} overlaps the analysed extent "
                                f"{tuple(round(v, 2) for v in run.bounds())}: check that the "
                                "zones are drawn over this orthophoto and in a known CRS")
    return out


def _name_column(names: Sequence[str], name_field: Optional[str], path: Path
                 ) -> Optional[int]:
    lower = [n.lower() for n in names]
    if name_field:
        if name_field.lower() not in lower:
            raise InvalidInputError(f"the zones file {path} has no field {name_field!r} "
                                    f"(fields: {', '.join(names) or 'none'}): pick one of them")
        return lower.index(name_field.lower())
    for cand in NAME_FIELDS:
        if cand in lower:
            return lower.index(cand)
    return None


def zone_statistics(run: RunFolder, zones: Sequence[Tuple[str, Any]],
                    keep_empty: bool = False) -> List[Zone]:
    """Crack length per zone (each segment's length shared by the fraction inside the zone).

    Args:
        run: the run.
        zones: (zone id, shapely polygon in the run CRS) pairs.
        keep_empty: keep zones without cracks (user zones: "no crack in span 3" is a finding).
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
