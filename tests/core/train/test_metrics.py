"""Tests of core.metrics against hand-computed cases and literal reference transcriptions."""
from __future__ import annotations

import math

import numpy as np
import pytest
from csbsr.core.errors import InvalidInputError
from csbsr.core.train import metrics as M

PROB = np.array([[0.2, 0.8], [0.6, 0.0]])
GT = np.array([[0, 1], [1, 0]], bool)


def test_iou_curve_hand_cases_and_strict_threshold():
    t = np.array([0.1, 0.5, 0.6, 0.7, 0.9])
    iou = M.iou_curve(PROB, GT, t)
    eps = 1e-5
    # t=0.1: P={0.2,0.8,0.6}: |P∩G|=2, |P∪G|=3; t=0.5: P=G; t=0.6: 0.6 > 0.6 is false (strict)
    expected = [(2 + eps) / (3 + eps), 1.0, (1 + eps) / (2 + eps), (1 + eps) / (2 + eps),
                eps / (2 + eps)]
    np.testing.assert_allclose(iou, expected, rtol=1e-12)


def test_iou_both_empty_is_one_and_gt_empty_is_about_zero():
    z = np.zeros((4, 4), bool)
    np.testing.assert_allclose(M.iou_curve(np.zeros((4, 4)), z), 1.0)
    p = np.zeros((4, 4))
    p[0, 0] = 0.9
    assert M.iou_curve(p, z, np.array([0.5]))[0] < 1e-5


def test_hd95_two_single_pixels_true_percentile_vs_median():
    # G at column 0, P at column 5: corner distances are [4, 4, 5, 5] each way with equal
    # surfel lengths, so the 95th percentile is 5 and the reference's median would be 4.
    g = np.zeros((1, 10), bool)
    p = np.zeros((1, 10), bool)
    g[0, 0] = True
    p[0, 5] = True
    assert M.hausdorff_percentile(p, g, 95) == pytest.approx(5.0)
    assert M.hausdorff_percentile(p, g, 50) == pytest.approx(4.0)
    assert M.hausdorff_percentile(p, g, 100) == pytest.approx(5.0)


def test_hd_empty_cases_and_identity():
    z = np.zeros((6, 9), bool)
    m = z.copy()
    m[2, 3:6] = True
    assert M.hausdorff_percentile(z, z) == 0.0
    assert M.hausdorff_percentile(m, z) == 9.0  # the longest image side
    assert M.hausdorff_percentile(z, m) == 9.0
    assert M.hausdorff_percentile(m, m) == 0.0


def _deepmind_hd(gt: np.ndarray, pred: np.ndarray, percent: float) -> float:
    """A literal transcription of DeepMind surface-distance (crop to the bounding box)."""
    from scipy import ndimage

    both = gt | pred
    rows = np.nonzero(both.any(axis=1))[0]
    cols = np.nonzero(both.any(axis=0))[0]
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()

    def crop(m):
        out = np.zeros((r1 - r0 + 2, c1 - c0 + 2), np.uint8)
        out[:-1, :-1] = m[r0:r1 + 1, c0:c1 + 1]
        return out

    table = M._contour_length_table()
    kern = np.array([[8, 4], [2, 1]])
    cg = ndimage.correlate(crop(gt), kern, mode="constant", cval=0)
    cp = ndimage.correlate(crop(pred), kern, mode="constant", cval=0)
    bg, bp = (cg != 0) & (cg != 15), (cp != 0) & (cp != 15)
    dg = ndimage.distance_transform_edt(~bg)
    dp = ndimage.distance_transform_edt(~bp)
    res = []
    for dist, area in ((dp[bg], table[cg][bg]), (dg[bp], table[cp][bp])):
        order = np.argsort(dist)
        d, a = dist[order], area[order]
        cum = np.cumsum(a) / a.sum()
        res.append(d[min(int(np.searchsorted(cum, percent / 100.0)), len(d) - 1)])
    return float(max(res))


def test_hd_matches_a_literal_deepmind_transcription_on_random_blobs():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for _ in range(12):
        g = ndimage.binary_dilation(rng.random((40, 50)) > 0.985, iterations=2)
        p = ndimage.binary_dilation(rng.random((40, 50)) > 0.985, iterations=1)
        g[39, 10:20] = True  # touching the bottom edge exercises the padding
        p[5, 49] = True  # and the right edge
        for pct in (50, 95):
            assert M.hausdorff_percentile(p, g, pct) == pytest.approx(_deepmind_hd(g, p, pct))


def test_hd_curve_reuses_unchanged_masks_and_matches_single_calls():
    rng = np.random.default_rng(1)
    prob = np.round(rng.random((20, 20)), 1)
    gt = rng.random((20, 20)) > 0.8
    t = np.array([0.05, 0.15, 0.25, 0.55, 0.95])
    curve = M.hd_curve(prob, gt, t)
    single = [M.hausdorff_percentile(prob > x, gt) for x in t]
    np.testing.assert_allclose(curve, single)


def test_f1_two_pixel_tolerance():
    gt = np.zeros((12, 12), bool)
    gt[:, 5] = True
    near = np.zeros((12, 12))
    near[:, 7] = 0.9  # 2 px away: every pixel matches both ways
    far = np.zeros((12, 12))
    far[:, 8] = 0.9  # 3 px away: nothing matches
    t = np.array([0.5])
    assert M.f1_from_counts(M.f1_counts(near, gt, t))[0] == pytest.approx(1.0)
    assert M.f1_from_counts(M.f1_counts(far, gt, t))[0] == 0.0
    half = near.copy()
    half[:6, 7] = 0.0  # half the GT is recalled, every prediction is correct: F1 = 2/3
    c = M.f1_counts(half, gt, t)
    np.testing.assert_allclose(c[:, 0], [6, 6, 6, 12])
    assert M.f1_from_counts(c)[0] == pytest.approx(2 / 3)


def test_psnr_hand_case_and_clipping():
    hr = np.zeros((3, 4, 4))
    assert M.psnr(np.full((3, 4, 4), 0.1), hr) == pytest.approx(20.0)
    assert M.psnr(np.full((3, 4, 4), -5.0), hr) == math.inf  # clipped to 0 = identical
    with pytest.raises(InvalidInputError):
        M.psnr(np.zeros((3, 4, 4)), np.zeros((3, 4, 5)))


def test_ssim_matches_the_pytorch_ssim_formula():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(2)
    x = rng.random((3, 24, 20))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    w = (g[:, None] @ g[None, :]).expand(3, 1, 11, 11).double()
    a, b = torch.from_numpy(x)[None], torch.from_numpy(y)[None]
    mu1, mu2 = F.conv2d(a, w, padding=5, groups=3), F.conv2d(b, w, padding=5, groups=3)
    s1 = F.conv2d(a * a, w, padding=5, groups=3) - mu1 ** 2
    s2 = F.conv2d(b * b, w, padding=5, groups=3) - mu2 ** 2
    s12 = F.conv2d(a * b, w, padding=5, groups=3) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ref = (((2 * mu1 * mu2 + c1) * (2 * s12 + c2))
           / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))).mean()
    assert M.ssim(x, y) == pytest.approx(float(ref), abs=1e-6)
    assert M.ssim(x, x) == pytest.approx(1.0)


def test_accumulator_summary_keys_and_reductions():
    acc = M.MetricAccumulator()
    acc.add(PROB, GT, np.zeros((3, 2, 2)), np.zeros((3, 2, 2)) + 0.1)
    empty = np.zeros((2, 2), bool)
    acc.add(np.zeros((2, 2)), empty)
    s = acc.summary()
    for key in ("iou_max", "aiu", "hd95_min", "ahd95", "psnr", "ssim", "f1_ods",
                "best_threshold", "n_images"):
        assert key in s
    assert s["n_images"] == 2
    # image 2 is an empty/empty pair: IoU 1 and HD 0 at every threshold
    assert s["iou_max"] == pytest.approx(1.0)
    assert s["best_threshold"] == pytest.approx(0.2)  # first t of the 0.2 <= t < 0.6 plateau
    assert s["hd95_min"] == pytest.approx(0.0)
    assert s["psnr"] == pytest.approx(20.0)
    with pytest.raises(InvalidInputError, match="no images"):
        M.MetricAccumulator().summary()
