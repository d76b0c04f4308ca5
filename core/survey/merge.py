"""The survey GeoPackage: every orthophoto's crack lines in one layer, in one CRS.

Each run's ``crack_seg`` layer (``<stem>_cracks.gpkg``) is read, its geometries reprojected
(pyproj, always x/y order; vertex by vertex, so curved projections bend lines correctly at
the GSD of a crack) into the survey CRS, and written with every attribute of
:class:`~..records.SegmentRecord` plus ``source`` (the orthophoto's file name). Lengths and
widths stay as each run measured them, in metres and millimetres on the ground: a
reprojection changes coordinates, not what was measured.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..layout import SEGMENT_LAYER, SURVEY_LAYER
from ..records import FIELDS, Field

#: the field naming the orthophoto of each crack line in the survey GeoPackage
SOURCE_FIELD = Field("source", "str", "Orthophoto the crack line was found on (file name)",
                     "Orthophoto")
SURVEY_FIELDS: List[Field] = [*FIELDS, SOURCE_FIELD]


def target_crs(user_crs: Any, candidates: Sequence[Any]) -> Tuple[Any, str]:
    """The survey CRS: ``user_crs``, or the first of ``candidates`` (the inputs' CRSs in input
    order, None where unknown) that is known.

    Returns:
        (pyproj CRS or None, how it was chosen).
    """
    import pyproj

    if user_crs:
        return pyproj.CRS.from_user_input(user_crs), "--crs"
    for i, wkt in enumerate(candidates):
        if wkt:
            return pyproj.CRS.from_user_input(wkt), ("the first input's" if i == 0 else
                                                     f"input {i + 1}'s (the first with a CRS)")
    return None, "none: no input has a CRS"


def _reprojector(src_wkt: str, dst: Any) -> Any:
    """A function (N, 2) -> (N, 2) from ``src_wkt`` to ``dst``, or None when they are equal."""
    import pyproj

    src = pyproj.CRS.from_user_input(src_wkt)
    if src == dst:
        return None
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return fn


def _rows(meta: Dict[str, Any], data: Sequence[np.ndarray], source: str
          ) -> List[Dict[str, Any]]:
    names = list(meta["fields"])
    wanted = {f.name for f in FIELDS}
    cols = {n: data[i] for i, n in enumerate(names) if n in wanted}
    n = len(data[0]) if len(data) else 0
    rows = []
    for i in range(n):
        row: Dict[str, Any] = {}
        for name, col in cols.items():
            v = col[i]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            row[name] = v
        row[SOURCE_FIELD.name] = source
        rows.append(row)
    return rows


def merge_lines(runs: Sequence[Tuple[str, Path]], dst_crs: Any, out: Path) -> int:
    """Write the survey GeoPackage ``out`` (layer ``crack_seg``) from the runs' GeoPackages.

    Args:
        runs: (source name, ``<stem>_cracks.gpkg`` path) per orthophoto, in survey order.
        dst_crs: the survey CRS (pyproj CRS).
        out: the GeoPackage to write (a new file, e.g. in a staging folder).

    Returns:
        The number of crack lines written.
    """
    import shapely
    from pyogrio.raw import read

    from ..vectorize.export import write_layer

    opts = {"dataset_options": {"VERSION": "1.3"}}
    wkt = dst_crs.to_wkt()
    write_layer(out, SURVEY_LAYER, [], [], SURVEY_FIELDS, "LineString", wkt, "GPKG", False,
                **opts)
    n = 0
    for source, gpkg in runs:  # one run in memory at a time
        meta, _fids, wkb, data = read(str(gpkg), layer=SEGMENT_LAYER)
        if wkb is None or not len(wkb):
            continue
        g = shapely.from_wkb(wkb)
        fn = _reprojector(meta["crs"], dst_crs)
        if fn is not None:
            g = shapely.transform(g, fn)
        rows = _rows(meta, data, source)
        write_layer(out, SURVEY_LAYER, g.tolist(), rows, SURVEY_FIELDS, "LineString", wkt,
                    "GPKG", True)
        n += len(rows)
    return n
