"""Read a run folder (the files ``csbsr run`` wrote, named by :mod:`csbsr.core.layout`) for
a report: segments and their geometries, the summary, the run record, the rasters.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError
from ..layout import SEGMENT_LAYER, SUMMARY_LAYER, RunLayout


@dataclass
class RunFolder:
    """The contents of a run folder that a report needs.

    Attributes:
        folder: the run folder.
        stem: the orthophoto stem shared by the files.
        gpkg: the ``<stem>_cracks.gpkg``.
        summary: the run summary (``<stem>_summary.json``, else the GeoPackage's copy).
        run: the ``<stem>_run.json`` content ({} when absent).
        segments: ``crack_seg`` attribute dicts (``core.records.FIELDS``) plus ``x``, ``y``:
            the map coordinates of the point halfway along the line.
        geometries: shapely LineStrings in the run CRS (map units), same order.
        crs_wkt: the CRS of the lines (WKT).
        rasters: existing rasters by role: ``ortho``, ``sr``, ``prob``, ``mask``.
        background: the role of the raster used as map background (``ortho``, ``sr`` or
            ``prob``), or None.
        notes: remarks for the reader (e.g. the orthophoto was not found).
    """

    folder: Path
    stem: str
    gpkg: Path
    summary: Dict[str, Any]
    run: Dict[str, Any]
    segments: List[Dict[str, Any]]
    geometries: List[Any]
    crs_wkt: str
    rasters: Dict[str, Path] = field(default_factory=dict)
    background: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    @property
    def projected(self) -> bool:
        """True when the CRS is projected (map units are linear)."""
        from pyproj import CRS

        return bool(self.crs_wkt) and not CRS.from_wkt(self.crs_wkt).is_geographic

    def bounds(self) -> Tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the analysed raster (prob/mask), else of the lines."""
        for role in ("prob", "mask", "sr"):
            if role in self.rasters:
                import rasterio

                with rasterio.open(self.rasters[role]) as src:
                    b = src.bounds
                return (b.left, b.bottom, b.right, b.top)
        if self.geometries:
            import shapely

            return tuple(shapely.total_bounds(np.array(self.geometries, dtype=object)))
        raise InvalidInputError(
            f"{self.folder}: no raster and no crack line to take the extent from: "
            "point the report at a complete run folder")


def find_stem(folder: Path, stem: Optional[str] = None) -> str:
    """Return the stem of the run in ``folder`` (the orthophoto name shared by its files).

    Raises:
        InvalidInputError: no finished run (no crack layer), or several and no ``stem``.
    """
    stems = [s for s in RunLayout.stems(folder) if RunLayout(folder, s).path("cracks").is_file()]
    if stem:
        if stem not in stems:
            raise InvalidInputError(
                f"{RunLayout(folder, stem).path('cracks')} does not exist: check --stem (the "
                "orthophoto name without extension) or the run folder")
        return stem
    if not stems:
        raise InvalidInputError(
            f"{folder} holds no finished run (no crack layer): run `csbsr run ORTHO --out "
            f"{folder}` first (or point the report at the folder of a finished run)")
    if len(stems) > 1:
        raise InvalidInputError(
            f"{folder} holds several runs ({', '.join(stems)}): pick one with --stem NAME")
    return stems[0]


def _read_segments(gpkg: Path) -> Tuple[List[Dict[str, Any]], List[Any], str]:
    import shapely
    from pyogrio import read_info
    from pyogrio.raw import read

    try:
        info = read_info(str(gpkg), layer=SEGMENT_LAYER)
        meta, _fids, geoms, data = read(str(gpkg), layer=SEGMENT_LAYER)
    except Exception as exc:  # pyogrio raises DataSourceError/DataLayerError/GDAL errors
        raise InvalidInputError(
            f"cannot read layer crack_seg of {gpkg} ({exc}): the GeoPackage is not a csbsr "
            "crack layer or is damaged; vectorize the run again") from exc
    names = [str(n) for n in meta["fields"]]
    lines = list(shapely.from_wkb(geoms)) if geoms is not None and len(geoms) else []
    rows: List[Dict[str, Any]] = []
    for i, line in enumerate(lines):
        row: Dict[str, Any] = {}
        for name, col in zip(names, data):
            v = col[i]
            if isinstance(v, (np.floating, float)):
                v = None if not math.isfinite(float(v)) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, bytes):
                v = v.decode("utf-8")
            row[name] = v
        if line is not None and not line.is_empty:
            mid = line.interpolate(0.5, normalized=True)
            row["x"], row["y"] = float(mid.x), float(mid.y)
        else:
            row["x"] = row["y"] = None
        rows.append(row)
    crs = info.get("crs") or ""
    crs_wkt = ""
    if crs:
        from pyproj import CRS

        crs_wkt = CRS.from_user_input(crs).to_wkt()
    return rows, lines, crs_wkt


def _read_summary(folder: Path, stem: str, gpkg: Path) -> Dict[str, Any]:
    path = RunLayout(folder, stem).path("summary")
    if path.is_file():
        return _read_json(path)
    from pyogrio import read_info

    meta = read_info(str(gpkg), layer=SUMMARY_LAYER).get("layer_metadata") or {}
    if "summary_json" in meta:
        try:
            return json.loads(meta["summary_json"])
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"the summary stored in {gpkg.name} is damaged ({exc}): "
                                    "vectorize the run again") from exc
    raise InvalidInputError(
        f"{folder} has no {stem}_summary.json and {gpkg.name} carries no summary: vectorize "
        "the run again with csbsr run/vectorize")


def _read_json(path: Path) -> Dict[str, Any]:
    """A JSON object file of the run folder, or a one-line error naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is damaged or unreadable ({exc}): run `csbsr run` "
                                "again into this folder, or restore the file") from exc
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{path} does not hold a JSON object: run `csbsr run` again")
    return doc


def load_run(run_dir: Any, stem: Optional[str] = None) -> RunFolder:
    """Read a run folder.

    Args:
        run_dir: the folder ``csbsr run`` wrote.
        stem: which run when the folder holds several (orthophoto name without extension).

    Returns:
        The :class:`RunFolder`.

    Raises:
        InvalidInputError: missing folder, GeoPackage or summary; unreadable GeoPackage.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise InvalidInputError(f"run folder {folder} does not exist: pass the --out folder "
                                "of a `csbsr run`")
    stem = find_stem(folder, stem)
    layout = RunLayout(folder, stem)
    gpkg = layout.path("cracks")
    segments, lines, crs_wkt = _read_segments(gpkg)
    summary = _read_summary(folder, stem, gpkg)
    run_path = layout.path("run")
    notes: List[str] = []
    run: Dict[str, Any] = {}
    if run_path.is_file():
        run = _read_json(run_path)
    else:
        notes.append(f"{run_path.name} is missing: model, device and input details are "
                     "unknown.")
    rasters: Dict[str, Path] = {}
    for role in ("sr", "prob", "mask"):
        p = layout.path(role)
        if p.is_file():
            rasters[role] = p
    ortho_rec = (run.get("input") or {}).get("path")
    candidates = []
    if ortho_rec:  # as recorded (absolute, or relative to where `csbsr run` ran), then here
        candidates = [Path(ortho_rec), folder / ortho_rec, folder / Path(ortho_rec).name,
                      folder.parent / Path(ortho_rec).name]
    ortho = next((c for c in candidates if c.is_file()), None)
    if ortho is not None:
        rasters["ortho"] = ortho
    elif ortho_rec:
        notes.append(f"The orthophoto {ortho_rec} was not found: the maps show the "
                     f"{'super-resolved image' if 'sr' in rasters else 'crack probability'} "
                     "instead.")
    background = next((r for r in ("ortho", "sr", "prob") if r in rasters), None)
    return RunFolder(folder=folder, stem=stem, gpkg=gpkg, summary=summary, run=run,
                     segments=segments, geometries=lines, crs_wkt=crs_wkt, rasters=rasters,
                     background=background, notes=notes)

