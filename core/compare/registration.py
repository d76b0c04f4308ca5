"""Co-registration of two orthophotos of one site: the residual transform OLD -> NEW.

Two flights are never perfectly aligned (decimetres without RTK, centimetres with it, and a
slightly different scale and rotation). Both orthophotos are resampled over their nominal
overlap onto one grid of the working frame, at the coarser orthophoto GSD (coarser still
when the overlap would exceed ``reg_max_px`` a side). On that grid:

1. contrast-limited histogram equalisation (CLAHE), so exposure changes do not matter;
2. SIFT key points and descriptors (ORB when this OpenCV has no SIFT), Lowe's ratio test
   (0.8) and one match per NEW key point;
3. RANSAC similarity (``cv2.estimateAffinePartial2D``) to split inliers from outliers
   (changed cracks, shadows, moved objects are outliers);
4. least squares of a translation, a similarity and an affine transform on the inliers; the
   model is the one with the lowest BIC (``reg_model="auto"``) or the one asked for;
   inliers are re-selected with it and it is refitted once.

Reported: the displacement at the overlap centre (m), rotation (deg), scale, the tie-point
residual RMSE (m, the "residual error"), the largest standard error of the fitted transform
at the overlap corners (m), and the numbers of key points, matches and inliers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError
from .config import REG_MODELS, CompareConfig

_FIX = ("compare inspections of the same structure, or pass --no-registration if the "
        "orthophotos are already aligned")


@dataclass(frozen=True)
class Registration:
    """The transform from the OLD to the NEW working frame and its quality.

    Attributes:
        matrix: (3, 3) affine, OLD working coordinates (m) -> NEW working coordinates (m).
        method: ``SIFT + RANSAC``, ``ORB + RANSAC`` or ``none``.
        model: ``translation``, ``similarity``, ``affine`` or ``none``.
        centre: (x, y) overlap centre in the working frame, metres.
        rmse_m: tie-point residual RMSE (m); for ``none`` the assumed misregistration.
        se_max_m: largest standard error of the fitted transform at the overlap corners (m).
        grid_gsd_m: pixel size of the registration grid, metres.
        n_keypoints: key points found in (OLD, NEW).
        n_matches: matches after the ratio test.
        n_inliers: matches consistent with the transform.
        ties: (n, 4) inlier tie points: OLD x, y and residual dx, dy, metres.
    """

    matrix: np.ndarray
    method: str
    model: str
    centre: Tuple[float, float]
    rmse_m: float
    se_max_m: Optional[float] = None
    grid_gsd_m: Optional[float] = None
    n_keypoints: Tuple[int, int] = (0, 0)
    n_matches: int = 0
    n_inliers: int = 0
    ties: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)), repr=False)

    @property
    def shift_m(self) -> Tuple[float, float]:
        """Displacement (east, north) of the overlap centre, metres."""
        c = np.array([*self.centre, 1.0])
        d = self.matrix[:2] @ c - c[:2]
        return float(d[0]), float(d[1])

    @property
    def rotation_deg(self) -> float:
        """Rotation, degrees counter-clockwise in map coordinates."""
        m = self.matrix
        return math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))

    @property
    def scale(self) -> float:
        """Mean scale factor (square root of the determinant)."""
        return math.sqrt(abs(float(np.linalg.det(self.matrix[:2, :2]))))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready figures (cm, degrees, ppm, mm)."""
        sx, sy = self.shift_m
        return {
            "method": self.method, "model": self.model,
            "shift_cm": [sx * 100.0, sy * 100.0], "shift_total_cm": math.hypot(sx, sy) * 100.0,
            "rotation_deg": self.rotation_deg, "scale_ppm": (self.scale - 1.0) * 1e6,
            "rmse_mm": self.rmse_m * 1000.0,
            "se_max_mm": None if self.se_max_m is None else self.se_max_m * 1000.0,
            "grid_gsd_mm": None if self.grid_gsd_m is None else self.grid_gsd_m * 1000.0,
            "n_keypoints": list(self.n_keypoints), "n_matches": self.n_matches,
            "n_inliers": self.n_inliers, "centre": list(self.centre),
            "matrix": self.matrix[:2].tolist(),
        }


def identity(centre: Tuple[float, float], assumed_error_m: float) -> Registration:
    """No registration (``--no-registration``): the identity, with an assumed error."""
    return Registration(np.eye(3), "none", "none", centre, float(assumed_error_m))


def register(old_ortho: Optional[Path], new_ortho: Optional[Path], overlap: Any,
             frame_wkt: str, gsd_m: float, cfg: CompareConfig) -> Registration:
    """Estimate the OLD -> NEW transform from the two orthophotos over ``overlap``.

    Args:
        old_ortho, new_ortho: the orthophotos (any GDAL raster with a CRS).
        overlap: shapely Polygon of the nominal overlap in the working frame.
        frame_wkt: the working frame's CRS.
        gsd_m: the coarser of the two orthophoto GSDs, metres.
        cfg: the settings (``reg_*``).

    Raises:
        InvalidInputError: an orthophoto is missing, or the pair cannot be registered (too
            little texture, too few consistent matches, a residual or transform out of range).
    """
    import cv2
    from affine import Affine

    for role, p in (("OLD", old_ortho), ("NEW", new_ortho)):
        if p is None:
            raise InvalidInputError(
                f"the {role} orthophoto (input.path of its _run.json) was not found, so the "
                f"two inspections cannot be registered: pass --{role.lower()}-ortho FILE, or "
                "--no-registration if they are already aligned")
    assert old_ortho is not None and new_ortho is not None
    x0, y0, x1, y1 = overlap.bounds
    res = max(gsd_m, (x1 - x0) / cfg.reg_max_px, (y1 - y0) / cfg.reg_max_px)
    w, h = max(1, int(math.ceil((x1 - x0) / res))), max(1, int(math.ceil((y1 - y0) / res)))
    grid = Affine(res, 0.0, x0, 0.0, -res, y1)
    ratio = res / gsd_m
    img0, ok0 = _read_gray(old_ortho, frame_wkt, grid, w, h, ratio)
    img1, ok1 = _read_gray(new_ortho, frame_wkt, grid, w, h, ratio)
    inside = _rasterize(overlap, grid, w, h)
    ok0 &= inside
    ok1 &= inside
    for role, img, ok in (("OLD", img0, ok0), ("NEW", img1, ok1)):
        if ok.sum() < 64 * 64 or float(np.std(img[ok])) < 1.0:
            raise InvalidInputError(
                f"the {role} orthophoto has too little texture over the overlap to be "
                f"registered ({int(ok.sum())} valid px, grey std "
                f"{float(np.std(img[ok])) if ok.any() else 0.0:.2f}): {_FIX}")
    p0, p1, nkp, method = _matches(_equalise(img0, ok0), _equalise(img1, ok1), ok0, ok1)
    if len(p0) < cfg.reg_min_inliers:
        raise InvalidInputError(
            f"the orthophotos cannot be registered: only {len(p0)} feature matches "
            f"({nkp[0]} and {nkp[1]} key points; {cfg.reg_min_inliers} needed): {_FIX}")
    found, inl = cv2.estimateAffinePartial2D(
        p0, p1, method=cv2.RANSAC, ransacReprojThreshold=cfg.reg_ransac_px, maxIters=5000,
        confidence=0.999, refineIters=10)
    inl = np.zeros(len(p0), bool) if found is None else inl.ravel().astype(bool)
    if inl.sum() < cfg.reg_min_inliers:
        raise InvalidInputError(
            f"the orthophotos cannot be registered: {int(inl.sum())} of {len(p0)} matches "
            f"agree on one transform ({cfg.reg_min_inliers} needed): {_FIX}")
    models = REG_MODELS if cfg.reg_model == "auto" else (cfg.reg_model,)
    if cfg.reg_model == "auto" and _spread(p0[inl], w, h) < 0.02:
        models = ("translation",)  # tie points too clustered to fix a rotation or scale
    fits = {m: _fit(m, p0[inl], p1[inl]) for m in models}
    n_obs = 2 * int(inl.sum())
    model = min(models, key=lambda m: n_obs * math.log(max(fits[m][1], 1e-12) / n_obs)
                + _NPAR[m] * math.log(n_obs))
    for _ in range(2):  # re-select the inliers with the chosen model and refit
        mat = fits[model][0]
        res_px = np.linalg.norm(_apply(mat, p0) - p1, axis=1)
        inl = res_px <= cfg.reg_ransac_px
        if inl.sum() < cfg.reg_min_inliers:
            break
        fits[model] = _fit(model, p0[inl], p1[inl])
    mat, _rss, cov = fits[model]
    resid = _apply(mat, p0[inl]) - p1[inl]
    rmse_px = float(np.sqrt(np.mean(np.sum(resid ** 2, axis=1))))
    if inl.sum() < cfg.reg_min_inliers or rmse_px > cfg.reg_max_rmse_px:
        raise InvalidInputError(
            f"the orthophotos cannot be registered: {int(inl.sum())} inliers with a residual "
            f"of {rmse_px:.2f} px (limits: {cfg.reg_min_inliers} inliers, "
            f"{cfg.reg_max_rmse_px} px): {_FIX}")
    # pixel (cv2: centre of the first pixel at 0, 0) -> working frame
    p2m = np.array([[res, 0.0, x0 + 0.5 * res], [0.0, -res, y1 - 0.5 * res], [0, 0, 1]])
    m3 = np.vstack((mat, [0.0, 0.0, 1.0]))
    matrix = p2m @ m3 @ np.linalg.inv(p2m)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=float)
    se_px = max(_pred_se(model, cov, q) for q in corners)
    c = overlap.centroid
    ties_old = (p2m @ np.column_stack((p0[inl], np.ones(int(inl.sum())))).T).T[:, :2]
    ties_res = resid * np.array([res, -res])
    reg = Registration(matrix, method, model, (c.x, c.y), rmse_px * res, se_px * res, res,
                       nkp, len(p0), int(inl.sum()), np.column_stack((ties_old, ties_res)))
    if abs(reg.scale - 1.0) > 0.05 or abs(reg.rotation_deg) > 10.0:
        raise InvalidInputError(
            f"the registration implies a scale of {reg.scale:.3f} and a rotation of "
            f"{reg.rotation_deg:.1f} deg, not two orthophotos of one site: check their "
            f"georeferencing, {_FIX}")
    return reg


_NPAR = {"translation": 2, "similarity": 4, "affine": 6}


def _read_gray(path: Path, frame_wkt: str, grid: Any, w: int, h: int, ratio: float
               ) -> Tuple[np.ndarray, np.ndarray]:
    """The orthophoto resampled onto the grid: (grey float32 (h, w), valid bool (h, w))."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    try:
        src = rasterio.open(str(path))
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise InvalidInputError(f"cannot open the orthophoto {path} ({exc}): pass a readable "
                                "GeoTIFF") from exc
    with src:
        if src.crs is None:
            raise InvalidInputError(f"the orthophoto {path} has no CRS: assign one (QGIS "
                                    "Assigned CRS or gdal_edit.py -a_srs EPSG:xxxx)")
        rs = Resampling.average if ratio > 1.5 else Resampling.bilinear
        with WarpedVRT(src, crs=frame_wkt, transform=grid, width=w, height=h,
                       resampling=rs) as vrt:
            bands = [1, 2, 3] if src.count >= 3 else [1]
            data = vrt.read(bands).astype(np.float32)
            valid = vrt.dataset_mask() > 0
    return data.mean(axis=0), valid


def _rasterize(poly: Any, grid: Any, w: int, h: int) -> np.ndarray:
    from rasterio.features import rasterize

    return rasterize([(poly, 1)], out_shape=(h, w), transform=grid, fill=0,
                     dtype="uint8").astype(bool)


def _equalise(img: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """1-99 % stretch to 8 bit, then CLAHE (8 x 8 tiles, clip 2)."""
    import cv2

    lo, hi = np.percentile(img[ok], [1, 99])
    u8 = np.clip((img - lo) / max(hi - lo, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    u8[~ok] = int(np.median(u8[ok]))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(u8)


def _matches(a: np.ndarray, b: np.ndarray, ok0: np.ndarray, ok1: np.ndarray
             ) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int], str]:
    """Ratio-tested feature matches: (OLD px (n, 2), NEW px (n, 2), key points, method)."""
    import cv2

    if hasattr(cv2, "SIFT_create"):
        det, norm, method = cv2.SIFT_create(nfeatures=6000), cv2.NORM_L2, "SIFT + RANSAC"
    else:  # pragma: no cover (OpenCV < 4.4)
        det, norm, method = (cv2.ORB_create(nfeatures=6000),  # type: ignore[attr-defined]
                             cv2.NORM_HAMMING, "ORB + RANSAC")
    k = np.ones((7, 7), np.uint8)
    m0 = cv2.erode(ok0.astype(np.uint8) * 255, k)
    m1 = cv2.erode(ok1.astype(np.uint8) * 255, k)
    kp0, d0 = det.detectAndCompute(a, m0)
    kp1, d1 = det.detectAndCompute(b, m1)
    nkp = (len(kp0), len(kp1))
    empty = np.zeros((0, 2), np.float32)
    if d0 is None or d1 is None or len(kp0) < 2 or len(kp1) < 2:
        return empty, empty, nkp, method
    best: Dict[int, Tuple[float, int]] = {}
    for pair in cv2.BFMatcher(norm).knnMatch(d0, d1, k=2):
        if len(pair) == 2 and pair[0].distance < 0.8 * pair[1].distance:
            m = pair[0]
            if m.trainIdx not in best or m.distance < best[m.trainIdx][0]:
                best[m.trainIdx] = (m.distance, m.queryIdx)
    if not best:
        return empty, empty, nkp, method
    q = [v[1] for v in best.values()]
    t = list(best.keys())
    p0 = np.array([kp0[i].pt for i in q], np.float32)
    p1 = np.array([kp1[i].pt for i in t], np.float32)
    return p0, p1, nkp, method


def _spread(p: np.ndarray, w: int, h: int) -> float:
    """Area of the convex hull of the points over the grid area."""
    import cv2

    if len(p) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(p.astype(np.float32)))) / float(w * h)


def _design(model: str, p: np.ndarray) -> np.ndarray:
    """(2n, npar) design matrix: rows 2i (x') and 2i+1 (y') for the points (n, 2)."""
    n = len(p)
    x, y = p[:, 0].astype(float), p[:, 1].astype(float)
    one, zero = np.ones(n), np.zeros(n)
    if model == "translation":
        rx, ry = np.column_stack((one, zero)), np.column_stack((zero, one))
    elif model == "similarity":
        rx, ry = np.column_stack((x, -y, one, zero)), np.column_stack((y, x, zero, one))
    else:
        rx = np.column_stack((x, y, one, zero, zero, zero))
        ry = np.column_stack((zero, zero, zero, x, y, one))
    out = np.empty((2 * n, rx.shape[1]))
    out[0::2], out[1::2] = rx, ry
    return out


def _to_matrix(model: str, beta: np.ndarray) -> np.ndarray:
    if model == "translation":
        return np.array([[1.0, 0.0, beta[0]], [0.0, 1.0, beta[1]]])
    if model == "similarity":
        a, b, tx, ty = beta
        return np.array([[a, -b, tx], [b, a, ty]])
    return np.array([[beta[0], beta[1], beta[2]], [beta[3], beta[4], beta[5]]])


def _fit(model: str, p0: np.ndarray, p1: np.ndarray
         ) -> Tuple[np.ndarray, float, np.ndarray]:
    """Least squares ``p1 ~ M p0``: (2x3 matrix, residual sum of squares, parameter cov)."""
    x = _design(model, p0)
    obs = p1.astype(float).ravel()
    if model == "translation":
        obs = obs - p0.astype(float).ravel()
    beta, *_ = np.linalg.lstsq(x, obs, rcond=None)
    rss = float(np.sum((obs - x @ beta) ** 2))
    dof = max(1, len(obs) - x.shape[1])
    cov = rss / dof * np.linalg.pinv(x.T @ x)
    return _to_matrix(model, beta), rss, cov


def _apply(mat: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p.astype(float) @ mat[:2, :2].T + mat[:2, 2]


def _pred_se(model: str, cov: np.ndarray, q: np.ndarray) -> float:
    """Standard error (px) of the transformed position of point ``q`` (2,)."""
    xq = _design(model, q[None, :])
    return float(math.sqrt(max(0.0, float(np.trace(xq @ cov @ xq.T)))))
