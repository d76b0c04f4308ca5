"""The paper's evaluation metrics, computed exactly, plus F1 with a 2-pixel tolerance.

Per image and per threshold t in ``THRESHOLDS`` (0.01 ... 0.99), the predicted mask is
``P = prob > t`` (strict) and the GT mask ``G`` is a boolean array (binarised once on load).

* IoU(i, t) = (|P∩G| + 1e-5) / (|P∪G| + 1e-5): both empty gives 1.
  AIU = mean over images and thresholds; IoU_max = max over t of the mean over images
  (the best single dataset-wide threshold); ``best_threshold`` is that t.
* HD95(i, t): DeepMind ``surface-distance`` semantics in 2-D with unit spacing: contour
  elements from the 2x2 neighbour code, their lengths from the neighbour-code table,
  distances to the other contour's Euclidean distance map, the surfel-length-weighted
  **95th** percentile in each direction, the max of the two (the reference passes 50).
  Both masks empty -> 0; exactly one empty -> the longest image side (an "outlier").
  HD95_min = min over t of the mean over images; AHD95 = mean over images and t.
  Units: HR pixels.
* PSNR: 10 log10(1 / MSE) of the SR image clipped to [0, 1] against the HR image, RGB,
  no border crop, no rounding; mean over images.
* SSIM: 11x11 Gaussian window (sigma 1.5) per channel, zero padding 5, C1 = 0.01²,
  C2 = 0.03², mean over channels and pixels, then over images (pytorch-ssim).
* F1 (ODS) with a 2-pixel tolerance: a predicted pixel is a true positive when a GT pixel
  lies within Euclidean distance 2; a GT pixel is recalled when a predicted pixel lies
  within distance 2 (a tolerance match, not the one-to-one bipartite matching of the BSDS
  benchmark). Counts are summed over the data set per threshold and F1 maximised over t.

Everything is vectorised over thresholds with sorted counts; only the HD needs one
distance transform per (image, threshold), and that is skipped whenever the binary mask
did not change from the previous threshold.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import InvalidInputError

THRESHOLDS = np.round(np.arange(1, 100) / 100.0, 2)
IOU_EPS = 1e-5
HD_PERCENT = 95.0
F1_TOLERANCE_PX = 2.0

_NEIGHBOUR_KERNEL_2D = np.array([[8, 4], [2, 1]])


def _contour_length_table() -> np.ndarray:
    """DeepMind's 2-D neighbour-code -> contour length table at unit spacing."""
    diag = 0.5 * math.sqrt(2.0)
    t = np.zeros(16)
    for code, val in (("0001", diag), ("0010", diag), ("0011", 1.0), ("0100", diag),
                      ("0101", 1.0), ("0110", 2 * diag), ("0111", diag), ("1000", diag),
                      ("1001", 2 * diag), ("1010", 1.0), ("1011", diag), ("1100", 1.0),
                      ("1101", diag), ("1110", diag)):
        t[int(code, 2)] = val
    return t


_CONTOUR_LENGTH = _contour_length_table()


def _edt(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of every True pixel to the nearest False pixel (pixels).

    OpenCV's precise mode (Felzenszwalb-Huttenlocher), several times faster than
    ``scipy.ndimage.distance_transform_edt`` and equal to it up to float32 rounding.
    """
    import cv2

    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE).astype(np.float64)


def _check_pair(prob: np.ndarray, gt: np.ndarray) -> None:
    if prob.ndim != 2 or prob.shape != gt.shape:
        raise InvalidInputError(
            f"prediction {prob.shape} and mask {gt.shape} must be 2-D arrays of one shape"
        )


def iou_curve(prob: np.ndarray, gt: np.ndarray,
              thresholds: np.ndarray = THRESHOLDS) -> np.ndarray:
    """IoU of ``prob > t`` against ``gt`` for every threshold t.

    Args:
        prob: (H, W) float probabilities in [0, 1].
        gt: (H, W) bool ground truth.
        thresholds: (T,) thresholds.

    Returns:
        (T,) float64 IoU values.
    """
    _check_pair(prob, gt)
    gt = gt.astype(bool)
    p = prob.ravel()
    pos_all = _count_greater(p, thresholds)
    pos_gt = _count_greater(p[gt.ravel()], thresholds)
    n_gt = int(gt.sum())
    union = pos_all + n_gt - pos_gt
    return (pos_gt + IOU_EPS) / (union + IOU_EPS)


def _count_greater(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of ``values`` strictly greater than each threshold (vectorised)."""
    s = np.sort(values.astype(np.float64))
    return (s.size - np.searchsorted(s, thresholds, side="right")).astype(np.float64)


def _surface(mask: np.ndarray):
    """Border pixels (corner lattice) and their contour lengths of a padded mask."""
    from scipy import ndimage

    code = ndimage.correlate(mask.astype(np.uint8), _NEIGHBOUR_KERNEL_2D, mode="constant",
                             cval=0)
    border = (code != 0) & (code != 15)
    return border, _CONTOUR_LENGTH[code]


def _percentile_distance(dist: np.ndarray, area: np.ndarray, percent: float) -> float:
    order = np.argsort(dist, kind="stable")
    d, a = dist[order], area[order]
    cum = np.cumsum(a) / np.sum(a)
    idx = int(np.searchsorted(cum, percent / 100.0))
    return float(d[min(idx, d.size - 1)])


class _GtSurface:
    """The GT side of the surface distances, computed once per image."""

    def __init__(self, gt: np.ndarray) -> None:

        padded = np.zeros((gt.shape[0] + 1, gt.shape[1] + 1), bool)
        padded[:-1, :-1] = gt
        self.empty = not gt.any()
        self.border, self.length = _surface(padded)
        self.dist = _edt(~self.border) if not self.empty else None
        self.shape = padded.shape


def hausdorff_percentile(pred: np.ndarray, gt: np.ndarray, percent: float = HD_PERCENT,
                         _gt_surface: Optional[_GtSurface] = None) -> float:
    """Robust Hausdorff distance (DeepMind semantics, unit spacing) in pixels.

    Args:
        pred: (H, W) bool prediction.
        gt: (H, W) bool ground truth.
        percent: the percentile (95 for HD95).

    Returns:
        The distance in pixels; 0 when both are empty, max(H, W) when exactly one is.
    """

    if pred.shape != gt.shape or pred.ndim != 2:
        raise InvalidInputError(f"masks must be 2-D of one shape, got {pred.shape}, {gt.shape}")
    g = _gt_surface if _gt_surface is not None else _GtSurface(gt.astype(bool))
    p_empty = not pred.any()
    if g.empty and p_empty:
        return 0.0
    if g.empty or p_empty:
        return float(max(pred.shape))
    padded = np.zeros(g.shape, bool)
    padded[:-1, :-1] = pred
    pb, pl = _surface(padded)
    pdist = _edt(~pb)
    d_gt_to_pred = pdist[g.border]
    assert g.dist is not None  # only empty GT has no distance map (handled by the caller)
    d_pred_to_gt = g.dist[pb]
    return max(_percentile_distance(d_gt_to_pred, g.length[g.border], percent),
               _percentile_distance(d_pred_to_gt, pl[pb], percent))


def hd_curve(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray = THRESHOLDS,
             percent: float = HD_PERCENT) -> np.ndarray:
    """HD``percent`` of ``prob > t`` against ``gt`` for every threshold (pixels)."""
    _check_pair(prob, gt)
    g = _GtSurface(gt.astype(bool))
    out = np.empty(len(thresholds))
    prev_mask: Optional[np.ndarray] = None
    prev_val = 0.0
    for i, t in enumerate(thresholds):
        mask = prob > t
        if prev_mask is not None and np.array_equal(mask, prev_mask):
            out[i] = prev_val
            continue
        prev_val = hausdorff_percentile(mask, gt, percent, _gt_surface=g)
        prev_mask = mask
        out[i] = prev_val
    return out


def _disk(radius: float) -> np.ndarray:
    r = math.floor(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy * yy + xx * xx) <= radius * radius + 1e-9


def f1_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray = THRESHOLDS,
              tolerance: float = F1_TOLERANCE_PX) -> np.ndarray:
    """Tolerance-matched counts per threshold for the F1 score.

    Returns:
        (4, T) float64: matched predicted pixels, predicted pixels, recalled GT pixels,
        GT pixels.
    """
    from scipy import ndimage

    _check_pair(prob, gt)
    gt = gt.astype(bool)
    t = np.asarray(thresholds)
    n_t = len(t)
    n_gt = float(gt.sum())
    p = prob.ravel()
    n_pred = _count_greater(p, t)
    if n_gt == 0:
        return np.stack([np.zeros(n_t), n_pred, np.zeros(n_t), np.zeros(n_t)])
    near_gt = _edt(~gt) <= tolerance + 1e-6
    matched_pred = _count_greater(p[near_gt.ravel()], t)
    local_max = ndimage.maximum_filter(prob.astype(np.float64), footprint=_disk(tolerance),
                                       mode="constant", cval=0.0)
    recalled = _count_greater(local_max[gt], t)
    return np.stack([matched_pred, n_pred, recalled, np.full(n_t, n_gt)])


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """F1 per threshold from summed :func:`f1_counts` (0 where undefined)."""
    mp, npred, rec, ngt = counts
    precision = np.divide(mp, npred, out=np.zeros_like(mp), where=npred > 0)
    recall = np.divide(rec, ngt, out=np.zeros_like(rec), where=ngt > 0)
    s = precision + recall
    return np.divide(2 * precision * recall, s, out=np.zeros_like(s), where=s > 0)


def psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR in dB of ``sr`` (clipped to [0, 1]) against ``hr``, arrays (3, H, W) in [0, 1]."""
    if sr.shape != hr.shape:
        raise InvalidInputError(f"SR {sr.shape} and HR {hr.shape} must have one shape")
    mse = float(np.mean((np.clip(sr, 0, 1).astype(np.float64) - hr.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - size // 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return np.outer(g, g)


def ssim(sr: np.ndarray, hr: np.ndarray, window: int = 11, sigma: float = 1.5) -> float:
    """SSIM of ``sr`` (clipped to [0, 1]) against ``hr`` as pytorch-ssim computes it.

    Args:
        sr, hr: (C, H, W) float arrays in [0, 1].

    Returns:
        Mean SSIM over channels and pixels (zero-padded borders included).
    """
    from scipy import ndimage

    if sr.shape != hr.shape or sr.ndim != 3:
        raise InvalidInputError(f"SR {sr.shape} and HR {hr.shape} must be (C,H,W) of one shape")
    g = _gaussian_window(window, sigma)[window // 2]
    g = g / g.sum()  # the 2-D window is the outer product of this 1-D one: filter separably
    x = np.clip(sr, 0, 1).astype(np.float64)
    y = hr.astype(np.float64)

    def filt(a: np.ndarray) -> np.ndarray:
        a = ndimage.correlate1d(a, g, axis=-1, mode="constant", cval=0.0)
        return ndimage.correlate1d(a, g, axis=-2, mode="constant", cval=0.0)

    mu1, mu2 = filt(x), filt(y)
    s11 = filt(x * x) - mu1 ** 2
    s22 = filt(y * y) - mu2 ** 2
    s12 = filt(x * y) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


class MetricAccumulator:
    """Collects per-image curves and reduces them to the paper's summary.

    Args:
        thresholds: segmentation thresholds (default 0.01 ... 0.99).
        hd_every: compute HD on every ``hd_every``-th threshold only (1 = all 99, the exact
            metric; validation during training uses a coarser grid to stay fast).
        with_hd: compute HD at all.
    """

    def __init__(self, thresholds: Sequence[float] = THRESHOLDS, hd_every: int = 1,
                 with_hd: bool = True, tolerance_px: float = F1_TOLERANCE_PX) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.tolerance_px = float(tolerance_px)
        self.hd_idx = np.arange(0, len(self.thresholds), max(1, int(hd_every)))
        self.with_hd = with_hd
        self.iou: List[np.ndarray] = []
        self.hd: List[np.ndarray] = []
        self.f1 = np.zeros((4, len(self.thresholds)))
        self.psnr: List[float] = []
        self.ssim: List[float] = []

    def add(self, prob: np.ndarray, gt: np.ndarray, sr: Optional[np.ndarray] = None,
            hr: Optional[np.ndarray] = None) -> None:
        """Add one image: prob (H, W) in [0, 1], gt (H, W) bool, optional sr/hr (3, H, W)."""
        gt = gt.astype(bool)
        self.iou.append(iou_curve(prob, gt, self.thresholds))
        if self.with_hd:
            self.hd.append(hd_curve(prob, gt, self.thresholds[self.hd_idx]))
        self.f1 += f1_counts(prob, gt, self.thresholds, self.tolerance_px)
        if sr is not None and hr is not None:
            self.psnr.append(psnr(sr, hr))
            self.ssim.append(ssim(sr, hr))

    def f1_at(self, threshold: float) -> Dict[str, float]:
        """Precision, recall and F1 at one threshold (the nearest on the grid)."""
        i = int(np.argmin(np.abs(self.thresholds - threshold)))
        mp, npred, rec, ngt = self.f1[:, i]
        p = mp / npred if npred else 0.0
        r = rec / ngt if ngt else 0.0
        return {"precision": float(p), "recall": float(r),
                "f1": float(2 * p * r / (p + r)) if p + r else 0.0}

    @property
    def n_images(self) -> int:
        """Images added so far."""
        return len(self.iou)

    def summary(self) -> Dict[str, Any]:
        """The metrics dict (keys of ``csbsr evaluate``); None where not computed."""
        if not self.iou:
            raise InvalidInputError("no images were evaluated: check the split and --limit")
        iou = np.stack(self.iou)
        mean_iou = iou.mean(axis=0)
        best = int(np.argmax(mean_iou))
        f1 = f1_from_counts(self.f1)
        out: Dict[str, Any] = {
            "iou_max": float(mean_iou[best]),
            "aiu": float(iou.mean()),
            "hd95_min": None,
            "ahd95": None,
            "psnr": float(np.mean(self.psnr)) if self.psnr else None,
            "ssim": float(np.mean(self.ssim)) if self.ssim else None,
            "f1_ods": float(f1.max()),
            "best_threshold": float(self.thresholds[best]),
            "f1_threshold": float(self.thresholds[int(np.argmax(f1))]),
            "f1_curve": [round(float(v), 5) for v in f1],
            "n_images": self.n_images,
        }
        if self.hd:
            hd = np.stack(self.hd)
            out["hd95_min"] = float(hd.mean(axis=0).min())
            out["ahd95"] = float(hd.mean())
        return out
