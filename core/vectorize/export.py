"""Write a :class:`~csbsr.core.records.CrackNetwork` to GeoPackage, Shapefile, CSV and JSON.

No QGIS: GDAL through pyogrio. Every writer is atomic: it writes under a temporary name in the
destination folder and renames at the end, so a failed run leaves no half-written file, and it
refuses to replace an existing file unless ``overwrite=True`` (CLI ``--overwrite``).

* GeoPackage (``.gpkg``, GPKG 1.3 for QGIS 3.22): layers ``crack_seg`` (LineString),
  ``crack_node`` (Point) and the attribute table ``crack_sum`` (length by type x severity;
  the full JSON summary in its layer metadata ``summary_json``).
* ESRI Shapefile (``.shp``): ``NAME.shp`` (segments) and ``NAME_nodes.shp`` (nodes), each with
  ``.shx``, ``.dbf``, ``.prj`` and a UTF-8 ``.cpg``.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from .. import atomic
from ..errors import InvalidInputError, OutputExistsError
from ..layout import NODE_LAYER, SEGMENT_LAYER, SUMMARY_LAYER
from ..records import FIELDS, NODE_FIELDS, SUMMARY_FIELDS

PathLike = Union[str, "os.PathLike[str]"]
SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _check_target(paths: Sequence[Path], overwrite: bool) -> None:
    for p in paths:
        if p.exists() and not overwrite:
            raise OutputExistsError(
                f"{p} already exists: choose another output name or pass --overwrite "
                "(overwrite=True) to replace it"
            )
    parent = paths[0].parent
    if not parent.exists():
        raise InvalidInputError(f"output folder {parent} does not exist: create it first")


def _columns(rows: Sequence[Dict[str, Any]], fields: Sequence[Any]
             ) -> Tuple[List[np.ndarray], List[Any]]:
    """Return (arrays, masks) for pyogrio: ints int64, floats float64, strings object."""
    data, masks = [], []
    for f in fields:
        name, ftype = f[0], f[1]  # a records.Field or any (name, type, ...) tuple
        vals = [r.get(name) for r in rows]
        null = np.array([v is None for v in vals], dtype=bool)
        if ftype == "int":
            arr = np.array([0 if v is None else int(v) for v in vals], dtype=np.int64)
        elif ftype == "float":
            arr = np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        else:
            arr = np.array(["" if v is None else str(v) for v in vals], dtype=object)
        data.append(arr)
        masks.append(null if null.any() else None)
    return data, masks


def write_layer(path: Path, layer: str, geoms: Sequence[Any], rows: Sequence[Dict[str, Any]],
                fields: Sequence[Any], geometry_type: Any, crs: Any,
                driver: str, append: bool, **kwargs: Any) -> None:
    """Write one layer (shapely ``geoms``, ``rows`` of attributes by field name; None =
    null; ``fields`` of :class:`~csbsr.core.records.Field` or (name, type, ...) tuples) with
    pyogrio; ``geometry_type`` None = an attribute table."""
    import shapely
    from pyogrio.raw import write

    data, masks = _columns(rows, fields)
    names = [f[0] for f in fields]
    geometry = None
    if geometry_type is not None:
        geometry = np.array(shapely.to_wkb(np.array(geoms, dtype=object)), dtype=object) \
            if geoms else np.array([], dtype=object)
    field_mask = masks if any(m is not None for m in masks) else None
    write(str(path), geometry, data, names, field_mask=field_mask, layer=layer, driver=driver,
          geometry_type=geometry_type, crs=crs, encoding="UTF-8", append=append, **kwargs)


def write_network(network: Any, out_path: PathLike, overwrite: bool = False) -> Path:
    """Write the network as GeoPackage or Shapefile, chosen by the extension.

    Args:
        network: a :class:`~csbsr.core.vectorize.CrackNetwork`.
        out_path: ``*.gpkg`` or ``*.shp``.
        overwrite: replace existing outputs.

    Returns:
        The written path.

    Raises:
        InvalidInputError: unknown extension or missing folder.
        OutputExistsError: an output exists and ``overwrite`` is False.
    """
    out = Path(out_path)
    ext = out.suffix.lower()
    segs = [s.attributes for s in network.segments]
    sgeo = [s.geometry for s in network.segments]
    nodes = [n.attributes for n in network.nodes]
    ngeo = [n.geometry for n in network.nodes]
    if ext == ".gpkg":
        _check_target([out], overwrite)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".tmp.gpkg",
                                        dir=str(out.parent))
        os.close(fd)
        tmp = Path(tmp_name)
        tmp.unlink()
        try:
            opts = {"dataset_options": {"VERSION": "1.3"}}
            write_layer(tmp, SEGMENT_LAYER, sgeo, segs, FIELDS, "LineString",
                         network.crs_wkt, "GPKG", False, **opts)
            write_layer(tmp, NODE_LAYER, ngeo, nodes, NODE_FIELDS, "Point",
                         network.crs_wkt, "GPKG", True)
            rows = [r.__dict__ for r in network.summary.rows()]
            write_layer(tmp, SUMMARY_LAYER, [], rows, SUMMARY_FIELDS, None, None, "GPKG", True,
                         layer_metadata={"summary_json": json.dumps(network.summary.as_dict())})
            os.replace(tmp, out)
        finally:
            for extra in (tmp, Path(str(tmp) + "-journal"), Path(str(tmp) + "-wal")):
                if extra.exists():
                    extra.unlink()
        return out
    if ext == ".shp":
        node_out = out.with_name(out.stem + "_nodes.shp")
        finals = [out.with_suffix(s) for s in SHP_PARTS] + [
            node_out.with_suffix(s) for s in SHP_PARTS]
        _check_target(finals, overwrite)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", dir=str(out.parent)))
        try:
            t_seg = tmpdir / out.name
            t_node = tmpdir / node_out.name
            write_layer(t_seg, out.stem, sgeo, segs, FIELDS, "LineString",
                         network.crs_wkt, "ESRI Shapefile", False)
            write_layer(t_node, node_out.stem, ngeo, nodes, NODE_FIELDS, "Point",
                         network.crs_wkt, "ESRI Shapefile", False)
            for base, final in ((t_seg, out), (t_node, node_out)):
                cpg = base.with_suffix(".cpg")
                if not cpg.exists():
                    cpg.write_text("UTF-8", encoding="ascii")
                for s in SHP_PARTS:
                    part = base.with_suffix(s)
                    if part.exists():
                        os.replace(part, final.with_suffix(s))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        return out
    raise InvalidInputError(
        f"unsupported output extension {out.suffix!r} for {out}: use .gpkg (GeoPackage) or "
        ".shp (ESRI Shapefile)"
    )


def _atomic_text(path: Path, text: str, overwrite: bool) -> Path:
    _check_target([path], overwrite)
    return atomic.write_text(path, text)


def write_summary_json(network: Any, path: PathLike, overwrite: bool = False) -> Path:
    """Write ``network.summary`` (plus the CRS WKT) as indented UTF-8 JSON; return the path."""
    data = network.summary.as_dict()
    data["crs_wkt"] = network.crs_wkt
    return _atomic_text(Path(path), json.dumps(data, indent=2, sort_keys=True) + "\n", overwrite)


def write_csv(network: Any, path: PathLike, overwrite: bool = False) -> Path:
    """Write one CSV row per segment: every ``FIELDS`` column plus ``wkt`` (geometry)."""
    import io

    buf = io.StringIO()
    names = [f.name for f in FIELDS]
    w = csv.writer(buf)
    w.writerow([*names, "wkt"])
    for s in network.segments:
        a = s.attributes
        w.writerow([*("" if a.get(n) is None else a.get(n) for n in names), s.geometry.wkt])
    return _atomic_text(Path(path), buf.getvalue(), overwrite)
