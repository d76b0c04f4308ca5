"""Raster input/output for tiled inference: open and validate, GSD, padded windowed reads, writers.

Reads never use ``boundless=True`` (10-50x slower): windows are clipped to the raster and
padded with numpy (reflect, never zeros). Writers produce tiled, DEFLATE-compressed,
BigTIFF-safe GeoTIFFs under a temporary name in the destination folder, written window by
window, with overviews, and are renamed only by :meth:`OutputRaster.commit`.
"""
from __future__ import annotations

import dataclasses
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError
from .rules import no_crs

# GDAL block cache, in BYTES (rasterio passes an int to GDALSetCacheMax64).
GDAL_CACHE_BYTES = 256 * 2**20
SUPPORTED_DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32")
OUTPUT_BLOCK = 512
# Largest factor by which a raster is *upsampled* to reach the model's GSD: beyond it the
# raster is far too coarse for cracks and the run would only produce a huge empty output.
MAX_UPSAMPLE = 8.0


def raster_env() -> Any:
    """Return a ``rasterio.Env`` with the settings every read/write here relies on."""
    import rasterio

    return rasterio.Env(
        GDAL_CACHEMAX=GDAL_CACHE_BYTES,
        GDAL_TIFF_INTERNAL_MASK=True,
        GDAL_NUM_THREADS="ALL_CPUS",
    )


@dataclass(frozen=True)
class RasterInfo:
    """What inference needs to know about an input raster (the native grid).

    Attributes:
        path: the raster file.
        width, height: size in pixels.
        count: number of bands.
        dtype: numpy dtype name of the bands.
        crs_wkt: CRS as WKT; epsg: its EPSG code or None.
        geographic: True when the CRS is geographic (degrees).
        transform: the affine geotransform as a 6-tuple (a, b, c, d, e, f).
        gsd_m: (x, y) ground sampling distance in metres (on the ellipsoid if geographic).
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs_wkt: str
    epsg: Optional[int]
    geographic: bool
    transform: Tuple[float, float, float, float, float, float]
    gsd_m: Tuple[float, float]

    @property
    def mean_gsd_m(self) -> float:
        """Geometric mean of the x and y GSD, in metres."""
        return math.sqrt(self.gsd_m[0] * self.gsd_m[1])


def open_raster(path: Any) -> Any:
    """Open ``path`` read-only with rasterio, turning failures into :class:`InvalidInputError`."""
    import rasterio
    from rasterio.errors import RasterioError

    p = Path(path)
    if not p.exists() and "://" not in str(path) and not str(path).startswith("/vsi"):
        raise InvalidInputError(f"raster {str(path)!r} does not exist: check the path")
    try:
        return rasterio.open(str(path))
    except RasterioError as exc:
        raise InvalidInputError(
            f"cannot open {str(path)!r} as a raster ({_first_line(exc)}): the file is corrupt, "
            "truncated or not a raster; re-export it (e.g. gdal_translate) or pick another file"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ground_sampling_distance(crs: Any, transform: Any, width: int, height: int
                             ) -> Tuple[float, float]:
    """Return the (x, y) pixel size in metres.

    Projected CRS: the pixel size times the CRS's linear unit in metres. Geographic CRS: the
    geodesic length of one pixel step east and one step north at the raster centre, on the
    CRS's own ellipsoid (pyproj).

    Raises:
        InvalidInputError: when the CRS units cannot be turned into metres.
    """
    res_x, res_y = abs(transform.a), abs(transform.e)
    if crs.is_geographic:
        import pyproj

        ell = pyproj.CRS.from_wkt(crs.to_wkt()).ellipsoid
        geod = (pyproj.Geod(a=ell.semi_major_metre, rf=ell.inverse_flattening)
                if ell is not None and ell.inverse_flattening else pyproj.Geod(ellps="WGS84"))
        lon, lat = transform @ (width / 2.0, height / 2.0)
        lat = max(-89.9, min(89.9, lat))
        _, _, dx = geod.inv(lon, lat, lon + res_x, lat)
        _, _, dy = geod.inv(lon, lat - res_y / 2.0, lon, lat + res_y / 2.0)
        return float(abs(dx)), float(abs(dy))
    from rasterio.errors import CRSError

    try:
        _, factor = crs.linear_units_factor
    except (CRSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot tell the unit of the raster's CRS ({_first_line(exc)}): "
            "reproject it to a metric CRS (e.g. UTM) with gdalwarp -t_srs"
        ) from exc
    return float(res_x * factor), float(res_y * factor)


def describe_raster(src: Any, bands: Sequence[int], gsd_override_m: Optional[float] = None
                    ) -> RasterInfo:
    """Validate an open dataset for inference and describe it.

    Args:
        src: an open rasterio dataset.
        bands: the 1-based bands to use as R, G, B.
        gsd_override_m: a GSD in metres to report instead of the geotransform's.

    Raises:
        InvalidInputError: no CRS, no or rotated geotransform, too few bands, unsupported
            data type; each message says how to fix it.
    """
    name = Path(str(src.name)).name
    if src.crs is None:
        raise InvalidInputError(no_crs(name))
    t = src.transform
    if t.is_identity or (t.a == 1.0 and t.e == 1.0 and t.c == 0.0 and t.f == 0.0):
        raise InvalidInputError(
            f"{name} has no geotransform (not georeferenced): georeference it "
            "(QGIS Georeferencer, or gdal_edit.py -a_ullr / gdalwarp with GCPs)"
        )
    if t.b != 0.0 or t.d != 0.0:
        raise InvalidInputError(
            f"{name} has a rotated geotransform: make it north-up with gdalwarp first"
        )
    if max(bands) > src.count:
        raise InvalidInputError(
            f"{name} has {src.count} band(s) but bands {tuple(bands)} were requested: "
            "the model needs 3 bands (R, G, B); choose them with --bands or convert the "
            "raster to RGB"
        )
    dtype = str(src.dtypes[bands[0] - 1])
    bad = sorted({str(src.dtypes[b - 1]) for b in bands} - set(SUPPORTED_DTYPES))
    if bad:
        raise InvalidInputError(
            f"{name} has data type {bad[0]}, which is not supported (supported: "
            f"{', '.join(SUPPORTED_DTYPES)}): convert it, e.g. gdal_translate -ot Byte -scale"
        )
    gsd = ground_sampling_distance(src.crs, t, src.width, src.height)
    if gsd_override_m is not None:
        ratio = gsd[1] / gsd[0] if gsd[0] > 0 else 1.0
        gsd = (float(gsd_override_m), float(gsd_override_m) * ratio)
    if not all(math.isfinite(g) and g > 0 for g in gsd):
        raise InvalidInputError(
            f"{name}: cannot compute a ground sampling distance from its geotransform; "
            "pass the GSD explicitly (--gsd)"
        )
    epsg = src.crs.to_epsg()
    return RasterInfo(
        path=str(src.name), width=int(src.width), height=int(src.height), count=int(src.count),
        dtype=dtype, crs_wkt=src.crs.to_wkt(), epsg=int(epsg) if epsg else None,
        geographic=bool(src.crs.is_geographic), transform=tuple(t)[:6], gsd_m=gsd,
    )


def resampled_view(src: Any, factor: float) -> Any:
    """Return a WarpedVRT of ``src`` on the same CRS with pixels ``factor`` times smaller.

    Args:
        src: an open rasterio dataset.
        factor: > 1 upsamples (bilinear), < 1 downsamples (average).
    """
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    t = src.transform
    width = max(1, int(round(src.width * factor)))
    height = max(1, int(round(src.height * factor)))
    transform = Affine(t.a * src.width / width, 0.0, t.c, 0.0, t.e * src.height / height, t.f)
    return WarpedVRT(
        src, crs=src.crs, transform=transform, width=width, height=height,
        resampling=Resampling.bilinear if factor > 1 else Resampling.average,
    )


def value_range(src: Any, bands: Sequence[int], max_side: int = 1024) -> Tuple[float, float]:
    """Estimate the (low, high) value range of non-8-bit rasters from a decimated read.

    Uses the 0.5 and 99.5 percentiles of the valid pixels of all chosen bands together (so
    the colour balance is kept), read at most ``max_side`` pixels on the longest side.
    """
    scale = min(1.0, max_side / max(src.width, src.height))
    shape = (max(1, int(src.height * scale)), max(1, int(src.width * scale)))
    data = read_checked(lambda: src.read(list(bands), out_shape=(len(bands), *shape)), src)
    valid = read_checked(lambda: src.dataset_mask(out_shape=shape), src) > 0
    values = data[:, valid].astype(np.float64)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def read_checked(fn: Any, src: Any) -> Any:
    """Call a rasterio read ``fn``; turn GDAL read errors into :class:`InvalidInputError`."""
    from rasterio.errors import RasterioError

    try:
        return fn()
    except RasterioError as exc:
        raise InvalidInputError(
            f"cannot read {Path(str(src.name)).name} ({_first_line(exc)}): the file is corrupt "
            "or truncated; re-export it (e.g. gdal_translate) and try again"
        ) from exc


@dataclass(frozen=True)
class EdgeCollar:
    """A constant-value border connected to the raster's edge: the black (or white) collar a
    reprojection leaves around an orthophoto written without a nodata value or alpha band.

    Stored as run lengths on the native grid: per row, the collar pixels counted from the left
    (``left``) and right (``right``) edges; per column, from the top (``top``) and bottom
    (``bottom``). A pixel is collar when it lies in one of its row's or column's edge runs
    (this covers every collar a warp of a rectangle leaves). ``factor`` maps the pixels of a
    resampled view onto the native grid (view pixels per native pixel).
    """

    value: Tuple[float, ...]
    left: np.ndarray
    right: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    fraction: float
    factor: float = 1.0

    def valid(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """(row1 - row0, col1 - col0) bool: True outside the collar (view pixels)."""
        h, w = len(self.left), len(self.top)
        nr = np.clip(((np.arange(row0, row1) + 0.5) / self.factor).astype(np.int64), 0, h - 1)
        nc = np.clip(((np.arange(col0, col1) + 0.5) / self.factor).astype(np.int64), 0, w - 1)
        collar = ((nc[None, :] < self.left[nr][:, None])
                  | (nc[None, :] >= w - self.right[nr][:, None])
                  | (nr[:, None] < self.top[nc][None, :])
                  | (nr[:, None] >= h - self.bottom[nc][None, :]))
        return ~collar


def find_edge_collar(src: Any, bands: Sequence[int], margin_px: int = 2,
                     min_ring_share: float = 0.05, strip_rows: int = 512
                     ) -> Optional[EdgeCollar]:
    """Find a constant-value collar touching the edge of a raster that has no nodata mask.

    GIS users expect the black border of a reprojected orthophoto to be "no data"; without a
    nodata value, alpha band or mask GDAL reports it as valid black pixels and the model sees
    a hard edge (a "crack"). Only rasters whose chosen bands are all valid are examined. The
    candidate values are the fills a warp writes, the same in every band: 0 (black) or the
    data type's maximum (white); a real image's saturated or dark corner (e.g. 252, 252, 252)
    is not one. The candidate is a collar when it covers at least ``min_ring_share`` of the
    outer pixel ring. Then one pass over the
    raster (``strip_rows`` rows at a time) measures the runs of that value from each edge,
    and each run is widened by ``margin_px`` pixels (the resampled fringe of the collar).

    Args:
        src: an open rasterio dataset (the native raster).
        bands: the 1-based bands used as R, G, B.
        margin_px: pixels added to every non-empty run.
        min_ring_share: share of the ring pixels the value must cover.
        strip_rows: rows read at a time.

    Returns:
        The collar, or None (none found, or the raster has its own mask).
    """
    from rasterio.enums import MaskFlags
    from rasterio.windows import Window

    if any(MaskFlags.all_valid not in src.mask_flag_enums[b - 1] for b in bands):
        return None
    h, w = int(src.height), int(src.width)
    if h < 3 or w < 3:
        return None
    bands = list(bands)
    ring = np.concatenate([
        read_checked(lambda: src.read(bands, window=Window(0, 0, w, 1)), src)[:, 0, :],
        read_checked(lambda: src.read(bands, window=Window(0, h - 1, w, 1)), src)[:, 0, :],
        read_checked(lambda: src.read(bands, window=Window(0, 0, 1, h)), src)[:, :, 0],
        read_checked(lambda: src.read(bands, window=Window(w - 1, 0, 1, h)), src)[:, :, 0],
    ], axis=1)
    # a warp fills with one value in every band: 0, or the data type's maximum (white)
    top_value = np.iinfo(ring.dtype).max if np.issubdtype(ring.dtype, np.integer) else 1.0
    fills = [np.full(ring.shape[0], v, ring.dtype) for v in (0, top_value)]
    shares = [float(np.all(ring == f[:, None], axis=0).mean()) for f in fills]
    best = int(np.argmax(shares))
    if shares[best] < min_ring_share:
        return None
    value = fills[best]
    left, right = np.zeros(h, np.int64), np.zeros(h, np.int64)
    top, bottom = np.zeros(w, np.int64), np.zeros(w, np.int64)
    top_open = np.ones(w, bool)
    for r0 in range(0, h, strip_rows):
        n = min(strip_rows, h - r0)
        win = Window(0, r0, w, n)
        data = read_checked(lambda win=win: src.read(bands, window=win), src)
        eq = np.all(data == value[:, None, None], axis=0)  # (n, w)
        nz = ~eq
        left[r0:r0 + n] = np.where(nz.any(axis=1), nz.argmax(axis=1), w)
        right[r0:r0 + n] = np.where(nz.any(axis=1), nz[:, ::-1].argmax(axis=1), w)
        col_any = nz.any(axis=0)
        first = np.where(col_any, nz.argmax(axis=0), n)
        top += np.where(top_open, first, 0)
        top_open &= ~col_any
        last_run = np.where(col_any, nz[::-1].argmax(axis=0), n)
        bottom = np.where(col_any, last_run, bottom + n)
    for run, size in ((left, w), (right, w), (top, h), (bottom, h)):
        run[run > 0] += margin_px
        np.minimum(run, size, out=run)
    collar = EdgeCollar(tuple(float(v) for v in value), left, right, top, bottom, 0.0)
    share = (float((~collar.valid(0, h, 0, w)).mean()) if h * w <= 2048 * 2048
             else float(np.minimum(left + right, w).sum()) / (h * w))
    if share <= 0.0:
        return None
    return dataclasses.replace(collar, fraction=share)


def read_padded(src: Any, bands: Sequence[int], row0: int, row1: int, col0: int, col1: int,
                collar: Optional[EdgeCollar] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Read rows [row0, row1) x cols [col0, col1) of ``src``, reflect-padding outside it.

    The window may extend past the raster on any side: the inside part is read (clipped,
    never ``boundless``) and the rest is filled by reflection, so no artificial zero edge
    is fed to the model.

    Returns:
        (data, valid): data (C, row1-row0, col1-col0) in the raster's dtype; valid (same
        H, W) bool from the dataset mask (nodata, alpha and internal masks merged), finite
        values (float rasters) and, when given, outside the edge ``collar``
        (:func:`find_edge_collar`).
    """
    from rasterio.windows import Window

    (r0, r1), (rp0, rp1) = _reflect_span(row0, row1, src.height)
    (c0, c1), (cp0, cp1) = _reflect_span(col0, col1, src.width)
    win = Window(c0, r0, c1 - c0, r1 - r0)
    data = read_checked(lambda: src.read(list(bands), window=win), src)
    valid = read_checked(lambda: src.dataset_mask(window=win), src) > 0
    if data.dtype.kind == "f":  # NaN / inf pixels are no data either
        valid &= np.isfinite(data).all(axis=0)
    if collar is not None:
        valid &= collar.valid(r0, r1, c0, c1)
    pads = ((rp0, rp1), (cp0, cp1))
    if any(p for pair in pads for p in pair):
        data = np.pad(data, ((0, 0), *pads), mode="reflect" if min(data.shape[1:]) > 1
                      else "edge")
        valid = np.pad(valid, pads, mode="reflect" if min(valid.shape) > 1 else "edge")
    # the read may include extra pixels (the sources of reflections): cut the request
    top, left = min(row0, r0 - rp0), min(col0, c0 - cp0)
    sl = (slice(row0 - top, row1 - top), slice(col0 - left, col1 - left))
    return data[:, sl[0], sl[1]], valid[sl]


def _reflect_span(a0: int, a1: int, size: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Range [a0, a1) clipped to [0, size), extended to hold what reflection copies.

    Returns ((read_start, read_end), (pad_before, pad_after)).
    """
    r0, r1 = max(0, a0), min(size, a1)
    if r1 <= r0:
        raise InvalidInputError("internal: a read window lies outside the raster")
    if a0 < 0:
        r1 = min(size, max(r1, -a0 + 1))
    if a1 > size:
        r0 = max(0, min(r0, size - 1 - (a1 - size)))
    return (r0, r1), (max(0, r0 - a0), max(0, a1 - r1))


def _overview_factors(width: int, height: int, min_side: int = 256) -> list:
    factors, f = [], 2
    while max(width, height) / f >= min_side:
        factors.append(f)
        f *= 2
    return factors


class OutputRaster:
    """A GeoTIFF being written under a temporary name; :meth:`commit` renames it.

    Args:
        path: the final path.
        width, height: size in pixels; count: bands; dtype: "uint8" or "float32".
        crs, transform: georeferencing (rasterio objects).
        nodata: a nodata value, or None.
        internal_mask: keep validity in an internal per-dataset mask band.
        nbits: GTiff NBITS (16 with float32 = half floats on disk).
        overview_resampling: "average" or "nearest".
        photometric: e.g. "RGB" for the SR image.
    """

    def __init__(self, path: Path, width: int, height: int, count: int, dtype: str, crs: Any,
                 transform: Any, nodata: Optional[float] = None, internal_mask: bool = False,
                 nbits: Optional[int] = None, overview_resampling: str = "average",
                 photometric: Optional[str] = None, descriptions: Sequence[str] = ()) -> None:
        import rasterio

        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.partial.tif")
        self.internal_mask = internal_mask
        self.overview_resampling = overview_resampling
        block = OUTPUT_BLOCK if max(width, height) > OUTPUT_BLOCK // 2 else 256
        profile: Dict[str, Any] = dict(
            driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
            transform=transform, nodata=nodata, tiled=True, blockxsize=block,
            blockysize=block, compress="deflate", bigtiff="IF_SAFER", interleave="pixel",
        )
        if nbits:
            profile["nbits"] = nbits
        if photometric:
            profile["photometric"] = photometric
        if dtype == "uint8" and count == 1 and nodata is None:
            profile["predictor"] = 1
        self.ds = rasterio.open(self.tmp, "w", **profile)
        for i, text in enumerate(descriptions, start=1):
            self.ds.set_band_description(i, text)

    def write(self, data: np.ndarray, row: int, col: int, valid: Optional[np.ndarray] = None
              ) -> None:
        """Write ``data`` (C, h, w) at (row, col); ``valid`` (h, w) bool for the mask band."""
        from rasterio.windows import Window

        win = Window(col, row, data.shape[2], data.shape[1])
        self.ds.write(data, window=win)
        if self.internal_mask:
            m = np.full(data.shape[1:], 255, np.uint8) if valid is None else (
                valid.astype(np.uint8) * 255)
            self.ds.write_mask(m, window=win)

    def commit(self, overviews: bool = True) -> Path:
        """Build overviews, close, and rename to the final path (replacing it)."""
        from rasterio.enums import Resampling

        factors = _overview_factors(self.ds.width, self.ds.height) if overviews else []
        if factors:
            self.ds.build_overviews(factors, Resampling[self.overview_resampling])
            self.ds.update_tags(ns="rio_overview", resampling=self.overview_resampling)
        self.ds.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (idempotent)."""
        try:
            if not self.ds.closed:
                self.ds.close()
        finally:
            for p in (self.tmp, Path(str(self.tmp) + ".msk"), Path(str(self.tmp) + ".ovr")):
                if p.exists():
                    p.unlink()


class OutputSet:
    """Several :class:`OutputRaster` that succeed or fail together."""

    def __init__(self) -> None:
        self.items: Dict[str, OutputRaster] = {}

    def add(self, key: str, out: OutputRaster) -> OutputRaster:
        """Register ``out`` under ``key``."""
        self.items[key] = out
        return out

    def commit(self) -> Dict[str, Path]:
        """Commit every output; return their final paths."""
        return {k: o.commit() for k, o in self.items.items()}

    def abort(self) -> None:
        """Delete every temporary file."""
        for o in self.items.values():
            o.abort()


