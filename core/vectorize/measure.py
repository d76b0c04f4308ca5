"""Crack measurement: the attribute schema, metric georeferencing, widths, type and severity.

Everything here works on one merged centre-line at a time, given as vertices in *continuous
pixel coordinates* of the full raster: ``x = col + 0.5, y = row + 0.5`` is the centre of pixel
``(row, col)``, so the map position is ``transform * (x, y)`` (the rasterio/GDAL "area"
convention). Lengths are returned in metres (projected CRS: planar, scaled by the CRS linear
unit; geographic CRS: on the ellipsoid), widths in millimetres, angles in degrees.

The attribute schema of the results lives in :mod:`csbsr.core.records`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError
from ..raster.rules import mercator, no_crs

STANDARD_LABELS = {"d6433": "D6433", "ltpp": "LTPP", "custom": "CUSTOM"}


@dataclass(frozen=True)
class Georef:
    """Pixel-to-metric geometry of one raster.

    Attributes:
        a, b, c, d, e, f: the affine ``x_map = a*x + b*y + c, y_map = d*x + e*y + f`` with
            (x, y) continuous pixel coordinates.
        crs_wkt: WKT of the CRS.
        geographic: True when the CRS is geographic (lon/lat degrees).
        unit_m: metres per CRS linear unit (projected CRS; 1.0 for geographic).
        crs_name: human-readable CRS name.
    """

    a: float
    b: float
    c: float
    d: float
    e: float
    f: float
    crs_wkt: str
    geographic: bool
    unit_m: float
    crs_name: str
    ellps_a: float = 6378137.0
    ellps_rf: float = 298.257223563

    def to_map(self, xy: np.ndarray) -> np.ndarray:
        """Map (N, 2) continuous pixel coordinates to (N, 2) CRS coordinates."""
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack((self.a * x + self.b * y + self.c, self.d * x + self.e * y + self.f))

    def jacobian_m(self, xy_map_centre: Optional[np.ndarray] = None) -> np.ndarray:
        """Return the (2, 2) metres-per-pixel Jacobian (east, north) x (col, row) at a point.

        For a geographic CRS it uses the local metres per degree at ``xy_map_centre`` (lon, lat).
        """
        lin = np.array([[self.a, self.b], [self.d, self.e]], dtype=float)
        if not self.geographic:
            return lin * self.unit_m
        _lon, lat = (0.0, 0.0) if xy_map_centre is None else xy_map_centre
        mx, my = _metres_per_degree(lat, self.ellps_a, self.ellps_rf)
        return np.diag([mx, my]) @ lin

    def to_local_m(self, xy_map: np.ndarray) -> np.ndarray:
        """(N, 2) CRS coordinates -> a local metric frame (east, north) in metres."""
        if not self.geographic:
            return xy_map * self.unit_m
        lat0 = float(np.mean(xy_map[:, 1]))
        mx, my = _metres_per_degree(lat0, self.ellps_a, self.ellps_rf)
        return np.column_stack((xy_map[:, 0] * mx, xy_map[:, 1] * my))

    def line_length_m(self, xy_map: np.ndarray) -> float:
        """Length of a polyline given in CRS coordinates, in metres."""
        if len(xy_map) < 2:
            return 0.0
        if self.geographic:
            from pyproj import Geod

            geod = Geod(a=self.ellps_a, rf=self.ellps_rf)
            return float(geod.line_length(xy_map[:, 0], xy_map[:, 1]))
        d = np.diff(xy_map, axis=0)
        return float(np.sum(np.hypot(d[:, 0], d[:, 1]))) * self.unit_m

    def ellipsoid_factor(self, xy_map: np.ndarray) -> float:
        """Ellipsoidal / grid length of a polyline in a projected CRS (the projection's scale
        error along it; 1.0 for a geographic CRS, which is measured on the ellipsoid)."""
        grid = self.line_length_m(xy_map)
        if self.geographic or grid <= 0 or not self.crs_wkt:
            return 1.0
        from pyproj import CRS, Geod, Transformer

        crs = CRS.from_wkt(self.crs_wkt)
        geo = crs.geodetic_crs
        if geo is None:
            return 1.0
        lon, lat = Transformer.from_crs(crs, geo, always_xy=True).transform(
            xy_map[:, 0], xy_map[:, 1])
        ell = geo.ellipsoid
        if ell is None:
            return 1.0
        geod = Geod(a=ell.semi_major_metre, rf=ell.inverse_flattening) \
            if ell.inverse_flattening else Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)
        return float(geod.line_length(lon, lat)) / grid

    def pixel_area_m2(self, xy_map_centre: Optional[np.ndarray] = None) -> float:
        """Area of one pixel in m2 (at a point for a geographic CRS)."""
        return float(abs(np.linalg.det(self.jacobian_m(xy_map_centre))))


def _metres_per_degree(lat_deg: float, a: float, rf: float) -> Tuple[float, float]:
    """Metres per degree of longitude and latitude at a latitude on an ellipsoid."""
    f = 1.0 / rf
    e2 = f * (2 - f)
    phi = math.radians(lat_deg)
    s = math.sin(phi)
    n = a / math.sqrt(1 - e2 * s * s)
    m = a * (1 - e2) / (1 - e2 * s * s) ** 1.5
    return math.radians(1.0) * n * math.cos(phi), math.radians(1.0) * m


def make_georef(transform: Any, crs: Any, name: str = "the raster") -> Georef:
    """Build a :class:`Georef` from an affine transform and a CRS (rasterio/pyproj/WKT/EPSG).

    ``name`` (the file's name where known) is what a refusal calls the raster.

    Raises:
        InvalidInputError: no CRS, a Mercator CRS (lengths inflated by 1/cos(latitude)), a
            degenerate transform, or a CRS that is neither projected nor geographic.
    """
    from pyproj import CRS

    if crs is None or (isinstance(crs, str) and not crs.strip()):
        raise InvalidInputError(no_crs(name))
    try:
        if hasattr(crs, "to_wkt") and not isinstance(crs, CRS):
            crs = crs.to_wkt()
        pcrs = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises its own CRSError
        raise InvalidInputError(f"unreadable CRS {crs!r} ({exc}); {no_crs(name)}") from exc
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    if abs(a * e - b * d) < 1e-30 or not all(map(math.isfinite, (a, b, c, d, e, f))):
        raise InvalidInputError(
            f"the geotransform of {name} {tuple(transform)[:6]} is degenerate: fix its "
            "georeferencing (gdal_edit.py -a_ullr or QGIS Georeferencer)"
        )
    if pcrs.is_geographic:
        ell = pcrs.ellipsoid
        ea = float(ell.semi_major_metre) if ell is not None else 6378137.0
        erf = float(ell.inverse_flattening) if ell is not None and ell.inverse_flattening else (
            298.257223563)
        return Georef(a, b, c, d, e, f, pcrs.to_wkt(), True, 1.0, pcrs.name, ea, erf)
    if not pcrs.is_projected:
        raise InvalidInputError(
            f"the CRS {pcrs.name!r} of {name} is neither projected nor geographic: reproject "
            "it to a projected CRS in metres (gdalwarp -t_srs EPSG:326xx)"
        )
    method = ""
    if pcrs.coordinate_operation is not None:
        method = pcrs.coordinate_operation.method_name.lower()
    if "mercator" in method and "transverse" not in method:
        raise InvalidInputError(mercator(name, repr(pcrs.name)))
    unit = 1.0
    try:
        axis = pcrs.axis_info[0]
        if axis.unit_conversion_factor:
            unit = float(axis.unit_conversion_factor)
    except (IndexError, AttributeError):
        unit = 1.0
    return Georef(a, b, c, d, e, f, pcrs.to_wkt(), False, unit, pcrs.name)


# ----------------------------------------------------------------------------- statistics
def width_stats_mm(widths_mm: np.ndarray) -> Dict[str, Any]:
    """Mean/median/p95/max/std (mm) and count of the finite width samples."""
    w = widths_mm[np.isfinite(widths_mm)]
    if w.size == 0:
        return {"w_mean_mm": None, "w_med_mm": None, "w_p95_mm": None, "w_max_mm": None,
                "w_std_mm": None, "w_n": 0}
    return {
        "w_mean_mm": float(np.mean(w)),
        "w_med_mm": float(np.median(w)),
        "w_p95_mm": float(np.percentile(w, 95)),
        "w_max_mm": float(np.max(w)),
        "w_std_mm": float(np.std(w)),
        "w_n": int(w.size),
    }


def axial_azimuth_deg(xy_m: np.ndarray) -> Optional[float]:
    """Dominant axial direction of a polyline in a metric (east, north) frame.

    Uses the length-weighted orientation tensor of the segment directions, so curved lines
    get their dominant direction. Returns degrees clockwise from north in [0, 180), or None
    for a degenerate line.
    """
    d = np.diff(xy_m, axis=0)
    ln = np.hypot(d[:, 0], d[:, 1])
    ok = ln > 0
    if not np.any(ok):
        return None
    u = d[ok] / ln[ok, None]
    w = ln[ok]
    t = (u * w[:, None]).T @ u
    vals, vecs = np.linalg.eigh(t)
    ex, ny = vecs[:, int(np.argmax(vals))]
    az = math.degrees(math.atan2(ex, ny)) % 180.0
    return 0.0 if az >= 180.0 - 1e-9 else az


def axial_difference_deg(a: float, b: float) -> float:
    """Smallest angle between two axial directions (degrees, 0-90)."""
    d = abs((a - b) % 180.0)
    return min(d, 180.0 - d)


def classify_orientation(azimuth: Optional[float], road_azimuth: Optional[float],
                         tol_deg: float) -> Tuple[Optional[float], str]:
    """Return (relative angle to the road axis, type long|trans|diag|uncl)."""
    if azimuth is None or road_azimuth is None:
        return None, "uncl"
    rel = axial_difference_deg(azimuth, float(road_azimuth))
    if rel <= tol_deg:
        return rel, "long"
    if rel >= 90.0 - tol_deg:
        return rel, "trans"
    return rel, "diag"


def severity(width_mm: Optional[float], resolvable: bool,
             thresholds_mm: Sequence[float]) -> str:
    """Width-based severity: "L" below the first limit, "M" up to the second, "H" above.

    Returns "NR" (not resolvable) when the width is unknown or under the resolvable limit.
    """
    if not resolvable or width_mm is None or not math.isfinite(width_mm):
        return "NR"
    lo, hi = thresholds_mm
    if width_mm < lo:
        return "L"
    if width_mm <= hi:
        return "M"
    return "H"


def summarise(records: Sequence[Any], area_m2: float) -> Dict[str, Any]:
    """Total length by type x severity (m), counts and crack density (m/m2) of segment
    records (:class:`csbsr.core.records.SegmentRecord`)."""
    by: Dict[str, Dict[str, float]] = {}
    counts: Dict[str, Dict[str, int]] = {}
    total = 0.0
    for a in records:
        t, s, ln = str(a.ctype), str(a.sev), float(a.len_m or 0.0)
        by.setdefault(t, {}).setdefault(s, 0.0)
        by[t][s] += ln
        counts.setdefault(t, {}).setdefault(s, 0)
        counts[t][s] += 1
        total += ln
    return {
        "total_len_m": total,
        "len_by_type_sev_m": by,
        "n_by_type_sev": counts,
        "area_m2": float(area_m2),
        "density_m_m2": (total / area_m2) if area_m2 > 0 else None,
    }
