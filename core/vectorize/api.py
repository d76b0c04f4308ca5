"""Crack probability/mask rasters -> measured crack centre-lines (:class:`CrackNetwork`).

Pipeline, per tile of the one tiler (:mod:`csbsr.core.raster.tiling`; memory bounded):

1. threshold (``p >= cfg.threshold``), keep only regions that reach ``cfg.seed_threshold``
   somewhere (hysteresis over the whole raster, :mod:`.hysteresis`), drop small components
   and blobs, fill small holes (:mod:`.clean`);
2. Lee skeleton (scikit-image) -> skan path graph, pruned until stable (:mod:`.graph`);
3. per edge: smoothing, width profiles, free-tip extension (:mod:`.centerline`);
4. pieces clipped to the tile's core (:mod:`.window`); pieces that meet on a seam are
   joined again, so results do not depend on the tile size (:mod:`.stitch`).

Then the merged graph is measured (:mod:`.network`, :mod:`.measure`): metric length and
width, orientation, type (long/trans/diag w.r.t. an optional road axis; block/alligator from
closed cells), severity, nodes, whole cracks shorter than ``min_crack_length_m`` dropped, and
the summary.

Pixel convention: continuous pixel coordinates with the centre of pixel (row, col) at
``(col + 0.5, row + 0.5)``; map coordinates are ``transform * (x, y)``.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
from rasterio.windows import Window

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check_cancelled
from ..raster.io import read_checked
from ..raster.tiling import BlockMap, Tile, group_blocks, plan_tiles
from ..records import CrackNetwork
from .config import VectorizeConfig
from .hysteresis import SeedMap, seed_map
from .network import assemble
from .stitch import Piece, join_through_degree2, merge_seams
from .window import vectorize_window

INF = float("inf")

Reader = Callable[[int, int, int, int], Tuple[np.ndarray, np.ndarray]]


def _scale_for(vmax: float) -> float:
    """The full-scale value of a probability raster with maximum ``vmax``."""
    if vmax <= 1.0:
        return 1.0
    if vmax <= 255.0:
        return 255.0
    return 65535.0


def _array_reader(arr: np.ndarray, scale: float, nodata: Optional[float]) -> Reader:
    def read(r0: int, c0: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        a = arr[r0:r0 + h, c0:c0 + w]
        valid = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)
        if nodata is not None:
            valid &= a != nodata
        p = np.where(valid, a.astype(np.float32) / np.float32(scale), 0.0).astype(np.float32)
        return p, valid

    return read



def vectorize_array(prob_or_mask: np.ndarray, transform: Any, crs: Any,
                    cfg: Optional[VectorizeConfig] = None, progress: Optional[Progress] = None,
                    model_name: str = "", aoi: Any = None,
                    nodata: Optional[float] = None) -> CrackNetwork:
    """Vectorize an in-memory crack probability map or binary mask.

    Args:
        prob_or_mask: (H, W) array: probability (float 0-1, or uint8 0-255) or a binary mask
            (bool, 0/1 or 0/255). Values in {0, max} only are treated as a binary mask.
        transform: affine.Affine pixel-corner geotransform (rasterio convention).
        crs: the raster CRS (rasterio CRS, pyproj CRS, WKT or "EPSG:xxxx"); projected in a
            linear unit, or geographic (measured on the ellipsoid). Mercator is refused.
        cfg: vectorization settings (defaults: ``VectorizeConfig()``).
        progress: progress/cancel receiver.
        model_name: recorded in ``model_ver``.
        aoi: optional shapely (multi)polygon in the raster CRS restricting the analysis.
        nodata: value marking pixels outside the analysed area.

    Raises:
        InvalidInputError: wrong shape, no/unsupported CRS.
        Cancelled: when ``progress`` asks to stop.
    """
    cfg = cfg or VectorizeConfig()
    arr = np.asarray(prob_or_mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(
            f"expected a single-band (H, W) probability or mask array, got shape {arr.shape}: "
            "pass one band"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if nodata is not None:
        finite = finite[finite != nodata]
    vmax = float(finite.max()) if finite.size else 0.0
    binary = bool(finite.size == 0 or np.all((finite == 0) | (finite == vmax)))
    scale = _scale_for(vmax)
    return _run(_array_reader(arr, scale, nodata), arr.shape[0], arr.shape[1], transform, crs,
                cfg, progress, model_name, aoi, "mask" if binary else "prob")


def vectorize_raster(path: Any, cfg: Optional[VectorizeConfig] = None,
                     progress: Optional[Progress] = None, model_name: str = "",
                     aoi: Any = None, block_map: Optional[BlockMap] = None) -> CrackNetwork:
    """Vectorize a probability (uint8 0-255 or float 0-1) or binary mask GeoTIFF.

    The raster is read band 1, in overlapping windows of ``cfg.window_px`` (memory bounded);
    nodata / internal mask pixels are excluded from the analysed area. With ``block_map``
    the tiles are vectorized in blocks of about ``block_map.block_px`` pixels through it
    (e.g. on Dask workers that read ``path`` themselves) and their pieces stitched and
    measured here in tile order: the same network as without it.

    Raises:
        InvalidInputError: unreadable file, no CRS, Mercator CRS.
        Cancelled: when ``progress`` asks to stop.
    """
    import rasterio
    cfg = cfg or VectorizeConfig()
    progress = progress or NullProgress()
    try:
        src = rasterio.open(str(path))
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise InvalidInputError(
            f"cannot open {path} as a raster ({exc}): pass a probability or mask GeoTIFF "
            "written by 'csbsr detect'"
        ) from exc
    with src:
        if src.crs is None:
            from .measure import make_georef

            make_georef(src.transform, None, Path(path).name)  # raises the no-CRS message
        h, w = src.height, src.width
        step = max(256, int(cfg.window_px))
        vmax, binary = 0.0, True
        win_max = []
        progress.set_status("scanning raster values")
        scan = plan_tiles(w, h, step, 0)
        for tile in scan.tiles():
            check_cancelled(progress)
            win = tile.core
            a = read_checked(lambda win=win: src.read(1, window=win), src)
            m = read_checked(lambda win=win: src.read_masks(1, window=win), src) > 0
            if a.dtype.kind == "f":
                m &= np.isfinite(a)
            v = a[m]
            if v.size:
                wm = float(v.max())
                vmax = max(vmax, wm)
                win_max.append(wm)
                if binary and np.any((v > 0) & (v < wm)):
                    binary = False
        if binary and any(0 < x < vmax for x in win_max):
            binary = False
        scale = _scale_for(vmax)
        kind = "mask" if binary else "prob"
        blocks = None
        if block_map is not None:
            from .measure import make_georef

            seeds = _seeds(RasterReader(src, scale), h, w, cfg, aoi,
                           make_georef(src.transform, src.crs, Path(path).name), progress)
            plan = VectorizePlan(str(path), cfg, scale, kind, aoi, seeds)
            blocks = _blocked_tiles(plan, _vector_grid(w, h, cfg), block_map)
        return _run(RasterReader(src, scale), h, w, src.transform, src.crs, cfg, progress,
                    model_name, aoi, kind, blocks)


class RasterReader:
    """Reads windows of band 1 of an open probability or mask raster.

    ``read(row0, col0, h, w)`` returns (p (h, w) float32 in [0, 1], 0 where invalid; valid
    (h, w) bool from the internal mask, NaN and the nodata value).
    """

    def __init__(self, src: Any, scale: float) -> None:
        self.src, self.scale, self.nodata = src, scale, src.nodata

    def __call__(self, r0: int, c0: int, hh: int, ww: int) -> Tuple[np.ndarray, np.ndarray]:
        """Apply the map / read the window (see the class docstring)."""
        src, nodata = self.src, self.nodata
        win = Window(c0, r0, ww, hh)
        a = src.read(1, window=win)
        valid = src.read_masks(1, window=win) > 0
        if a.dtype.kind == "f":
            valid &= np.isfinite(a)
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            valid &= a != nodata
        p = np.where(valid, a.astype(np.float32) / np.float32(self.scale), 0.0)
        return p.astype(np.float32), valid


@dataclass(frozen=True)
class VectorizePlan:
    """What another process needs to vectorize tiles of a raster (picklable).

    Attributes:
        path: the probability or mask GeoTIFF (readable by that process).
        cfg: vectorization settings.
        scale: full-scale value of the raster (1, 255 or 65535).
        src: "prob" or "mask" (what widths are measured on).
        aoi: optional shapely (multi)polygon in the raster CRS.
        seeds: the hysteresis of the whole raster (None = off).
    """

    path: str
    cfg: VectorizeConfig
    scale: float
    src: str
    aoi: Any = None
    seeds: Optional[SeedMap] = None


def vectorize_block(plan: VectorizePlan, span: Tuple[int, int]
                    ) -> List[Tuple[List[Piece], float]]:
    """Vectorize tiles [start, stop) of the raster's grid in this process (a block task).

    Returns per tile its pieces (global pixel coordinates) and analysed area (m²), exactly
    what the sequential loop of :func:`vectorize_raster` computes for those tiles.
    """
    import rasterio

    from .measure import make_georef

    with rasterio.open(plan.path) as src:
        geo = make_georef(src.transform, src.crs, Path(plan.path).name)
        grid = _vector_grid(src.width, src.height, plan.cfg)
        tiles = list(grid.tiles())
        read = RasterReader(src, plan.scale)
        return [_tile_pieces(read, tiles[k], k, src.height, src.width, plan.cfg, plan.src,
                             plan.aoi, geo, plan.seeds) for k in range(span[0], span[1])]


def _blocked_tiles(plan: VectorizePlan, grid: Any, block_map: BlockMap
                   ) -> Iterator[Tuple[List[Piece], float]]:
    """Every tile's (pieces, area), computed in blocks by ``block_map``, in tile order."""
    sizes = [t.core.width * t.core.height for t in grid.tiles()]
    results = block_map(functools.partial(vectorize_block, plan),
                        group_blocks(sizes, block_map.block_px))
    try:
        for block in results:
            yield from block
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _vector_grid(width: int, height: int, cfg: VectorizeConfig) -> Any:
    """The vectorization tiles of a ``width x height`` raster (the one tiler)."""
    overlap = int(cfg.overlap_px)
    return plan_tiles(width, height, int(cfg.window_px) - overlap, overlap // 2)



def _run(read: Reader, height: int, width: int, transform: Any, crs: Any,
         cfg: VectorizeConfig, progress: Optional[Progress], model_name: str, aoi: Any,
         src: str, blocks: Optional[Iterator[Tuple[List[Piece], float]]] = None
         ) -> CrackNetwork:
    """Vectorize every tile of the raster (the one tiler), stitch and measure.

    ``blocks`` yields every tile's (pieces, analysed m²) computed elsewhere, in tile order
    (:func:`vectorize_block`); None = compute them here with ``read``.
    """
    from .measure import make_georef

    progress = progress or NullProgress()
    geo = make_georef(transform, crs)
    t0 = time.monotonic()
    grid = _vector_grid(width, height, cfg)
    n_win = grid.n_tiles
    pieces: List[Piece] = []
    analysed_m2 = 0.0
    if blocks is None:
        seeds = _seeds(read, height, width, cfg, aoi, geo, progress)
        blocks = (_tile_pieces(read, tile, k, height, width, cfg, src, aoi, geo, seeds)
                  for k, tile in enumerate(grid.tiles()))
    for k, (tile_pieces, area) in enumerate(blocks):
        check_cancelled(progress)
        pieces.extend(tile_pieces)
        analysed_m2 += area  # in tile order: the same sum whoever computed the tiles
        progress.set_progress(85.0 * (k + 1) / n_win)
        progress.set_status(f"vectorizing window {k + 1}/{n_win} "
                            f"({time.monotonic() - t0:.0f} s)")
    check_cancelled(progress)
    chains = join_through_degree2(merge_seams(pieces))
    progress.set_status("measuring cracks")
    net = assemble(chains, geo, cfg, analysed_m2, model_name, src, (height, width), progress)
    progress.set_progress(100.0)
    return net


def _seeds(read: Reader, height: int, width: int, cfg: VectorizeConfig, aoi: Any, geo: Any,
           progress: Progress) -> Optional[SeedMap]:
    """The hysteresis of the raster on the cores of the vectorization grid (None = off)."""
    if not cfg.hysteresis:
        return None
    progress.set_status("finding the seeds of the cracks (hysteresis)")
    grid = _vector_grid(width, height, cfg)
    cores: List[List[Tuple[int, int, int, int]]] = []
    for tile in grid.tiles():
        if tile.col == 0:
            cores.append([])
        c = tile.core
        cores[-1].append((c.row_off, c.col_off, c.height, c.width))

    def masked(r0: int, c0: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        check_cancelled(progress)
        return _read_window(read, r0, c0, h, w, aoi, geo)

    return seed_map(masked, cores, float(cfg.threshold), float(cfg.seed_threshold or 0.0))


def _read_window(read: Reader, r0: int, c0: int, h: int, w: int, aoi: Any, geo: Any
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """(p, valid) of a window, pixels outside the AOI polygon (if any) made invalid."""
    p, valid = read(r0, c0, h, w)
    if aoi is not None:
        from affine import Affine
        from rasterio.features import geometry_mask

        aff = Affine(geo.a, geo.b, geo.c, geo.d, geo.e, geo.f)
        valid = valid & geometry_mask([aoi], out_shape=valid.shape,
                                      transform=aff @ Affine.translation(c0, r0), invert=True)
        p = np.where(valid, p, 0.0).astype(np.float32)
    return p, valid


def _tile_pieces(read: Reader, tile: Tile, k: int, height: int, width: int,
                 cfg: VectorizeConfig, src: str, aoi: Any, geo: Any,
                 seeds: Optional[SeedMap] = None) -> Tuple[List[Piece], float]:
    """Vectorize tile ``k``: its pieces clipped to its core, and its analysed area (m²)."""
    bounds = Window(0, 0, width, height)
    rd = tile.read.intersection(bounds)
    r0, c0, r1, c1 = rd.row_off, rd.col_off, rd.row_off + rd.height, rd.col_off + rd.width
    p, valid = _read_window(read, r0, c0, r1 - r0, c1 - c0, aoi, geo)
    interior = (r0 > 0, r1 < height, c0 > 0, c1 < width)
    kc = tile.core
    core = (float(kc.col_off) if kc.col_off > 0 else -INF,
            float(kc.col_off + kc.width) if kc.col_off + kc.width < width else INF,
            float(kc.row_off) if kc.row_off > 0 else -INF,
            float(kc.row_off + kc.height) if kc.row_off + kc.height < height else INF)
    keep = seeds.keep(r0, c0, r1 - r0, c1 - c0) if seeds is not None else None
    pieces = vectorize_window(p, valid, (r0, c0), core, interior, cfg, k, src, keep)
    # analysed area: valid pixels inside the core
    sub = valid[kc.row_off - r0:kc.row_off - r0 + kc.height,
                kc.col_off - c0:kc.col_off - c0 + kc.width]
    centre = geo.to_map(np.array([[c0 + (c1 - c0) / 2.0, r0 + (r1 - r0) / 2.0]]))[0]
    return pieces, int(np.count_nonzero(sub)) * geo.pixel_area_m2(centre)
