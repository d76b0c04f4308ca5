"""Synthetic crack ground truth: supersampled rendering of polylines of known width.

Coordinates are *continuous pixel coordinates*: pixel ``(row, col)`` covers
``[col, col + 1) x [row, row + 1)`` so its centre is ``(col + 0.5, row + 0.5)`` - the same
convention as :mod:`csbsr.core.measure`. A crack is a polyline (N, 2) of (x, y) with a width in
pixels (a scalar, or one per vertex for tapers), buffered with flat end caps and round joins;
its true length is the polyline length. Coverage (0-1, float32) is the ideal soft map; a binary
mask is ``coverage >= 0.5``.

Used by the tests, ``scripts/measure_accuracy.py`` and ``scripts/bench_vectorize.py``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

Width = Union[float, Sequence[float], np.ndarray]


def crack_polygon(xy: np.ndarray, width: Width):
    """Return the shapely polygon of a crack: the polyline buffered by width/2, flat caps.

    Args:
        xy: (N, 2) float vertices (x, y) in pixels.
        width: width in pixels, scalar or (N,) per vertex (linear taper between vertices).
    """
    import shapely
    from shapely.geometry import LineString, Polygon

    xy = np.asarray(xy, dtype=float)
    w = np.broadcast_to(np.asarray(width, dtype=float), (len(xy),))
    if np.allclose(w, w[0]):
        return LineString(xy).buffer(w[0] / 2.0, cap_style="flat", join_style="round",
                                      quad_segs=32)
    parts = []
    for i in range(len(xy) - 1):
        p, q = xy[i], xy[i + 1]
        d = q - p
        n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-12)
        quad = [p + n * w[i] / 2, q + n * w[i + 1] / 2, q - n * w[i + 1] / 2, p - n * w[i] / 2]
        parts.append(Polygon(quad))
        if 0 < i + 1 < len(xy) - 1:
            parts.append(shapely.Point(q).buffer(w[i + 1] / 2.0, quad_segs=32))
    return shapely.union_all(parts)


def render_coverage(polygons: List, shape: Tuple[int, int], supersample: int = 8) -> np.ndarray:
    """Rasterise polygons (pixel coordinates) into a (H, W) float32 coverage map in [0, 1].

    Each pixel is sampled at ``supersample`` x ``supersample`` points (centre rule).
    """
    from rasterio.features import rasterize
    from shapely import affinity

    h, w = shape
    s = int(supersample)
    out = np.zeros((h, w), dtype=np.float32)
    if not polygons:
        return out
    # process in row strips to bound memory
    strip = max(1, (1 << 24) // max(1, w * s * s))
    scaled = [affinity.scale(p, xfact=s, yfact=s, origin=(0, 0)) for p in polygons]
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        shifted = [affinity.translate(p, 0, -r0 * s) for p in scaled]
        hi = rasterize([(g, 1) for g in shifted if not g.is_empty],
                       out_shape=((r1 - r0) * s, w * s), fill=0, dtype="uint8")
        out[r0:r1] = hi.reshape(r1 - r0, s, w, s).mean(axis=(1, 3))
    return out


def render(lines: List[np.ndarray], widths: List[Width], shape: Tuple[int, int],
           supersample: int = 8) -> np.ndarray:
    """Coverage (H, W) float32 of several cracks (union)."""
    import shapely

    polys = [crack_polygon(xy, w) for xy, w in zip(lines, widths)]
    if not polys:
        return np.zeros(shape, np.float32)
    return render_coverage([shapely.union_all(polys)], shape, supersample)


def straight(length: float, angle_deg: float, centre: Tuple[float, float]) -> np.ndarray:
    """A straight polyline (2, 2) of ``length`` pixels at ``angle_deg`` (0 = +x, CCW in y-down)."""
    t = math.radians(angle_deg)
    d = np.array([math.cos(t), math.sin(t)]) * length / 2.0
    c = np.asarray(centre, dtype=float)
    return np.array([c - d, c + d])


def arc(radius: float, sweep_deg: float, centre: Tuple[float, float], n: int = 400) -> np.ndarray:
    """A circular arc polyline of ``radius`` pixels sweeping ``sweep_deg`` degrees."""
    t = np.linspace(0, math.radians(sweep_deg), n)
    return np.column_stack((centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)))


def sinusoid(length: float, amplitude: float, period: float, origin: Tuple[float, float],
             n: int = 600) -> np.ndarray:
    """A sinusoid along +x: y = amplitude * sin(2 pi x / period)."""
    x = np.linspace(0, length, n)
    y = origin[1] + amplitude * np.sin(2 * math.pi * x / period)
    return np.column_stack((origin[0] + x, y))


def polyline_length(xy: np.ndarray) -> float:
    """Euclidean length of a polyline (same units as its coordinates)."""
    d = np.diff(np.asarray(xy, dtype=float), axis=0)
    return float(np.sum(np.hypot(d[:, 0], d[:, 1])))


def ragged(coverage: np.ndarray, amplitude: float = 0.3, sigma: float = 1.5,
           seed: int = 0) -> np.ndarray:
    """Segmentation-like ragged edges: blur the coverage (1 px) and add smooth noise.

    The noise (correlation ``sigma`` px, std ``amplitude``) is clipped to +-0.45 so that it
    moves the 0.5 iso-line near the crack edges (by about +-1 px) but creates no speckle far
    from the crack. Returns a float32 map in [0, 1]; ``>= 0.5`` gives a ragged binary mask.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.standard_normal(coverage.shape), sigma)
    noise *= amplitude / max(float(noise.std()), 1e-12)
    soft = gaussian_filter(coverage.astype(np.float64), 1.0)
    return np.clip(soft + np.clip(noise, -0.45, 0.45), 0.0, 1.0).astype(np.float32)


def mosaic(size: int = 4096, seed: int = 0, n_cracks: Optional[int] = None) -> np.ndarray:
    """A (size, size) uint8 0/255 crack mosaic for benchmarks: random-walk cracks + grids.

    Drawn with OpenCV anti-aliasing off (no supersampling), ~4-5 % foreground at 4096.
    """
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    n = n_cracks if n_cracks is not None else int(30 * (size / 1024) ** 2)
    for _ in range(n):
        p = rng.uniform(0, size, 2)
        ang = rng.uniform(0, 2 * math.pi)
        pts = [p.copy()]
        for _ in range(int(rng.integers(10, 40))):
            ang += rng.normal(0, 0.25)
            p = p + 12.0 * np.array([math.cos(ang), math.sin(ang)])
            pts.append(p.copy())
        thick = int(rng.integers(2, 9))
        cv2.polylines(img, [np.round(np.array(pts)).astype(np.int32)], False,  # type: ignore[call-overload]
                      255, thick)
    # a few block-cracking grids
    for _ in range(max(1, n // 60)):
        x0, y0 = rng.integers(0, size - 400, 2)
        for k in range(5):
            x, y = int(x0 + 80 * k), int(y0 + 80 * k)
            cv2.line(img, (x, int(y0)), (x + 10, int(y0 + 320)), 255, 3)  # type: ignore[call-overload]
            cv2.line(img, (int(x0), y), (int(x0 + 320), y + 8), 255, 3)  # type: ignore[call-overload]
    return img
