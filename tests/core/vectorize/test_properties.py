"""Property-based tests of the vectorizer on random masks (hypothesis): it never crashes, and
lengths, widths and counts stay consistent with the mask."""
from __future__ import annotations

import math

import numpy as np
from affine import Affine
from csbsr.core.vectorize.api import vectorize_array
from csbsr.core.vectorize.config import VectorizeConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GSD = 0.002
T = Affine(GSD, 0, 500000.0, 0, -GSD, 5000000.0)
CFG = VectorizeConfig(min_crack_length_m=0.0, min_elongation=0.0)


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    """Random masks: strokes (cracks), blobs, noise pixels, on 20-80 px rasters."""
    h = draw(st.integers(20, 80))
    w = draw(st.integers(20, 80))
    m = np.zeros((h, w), np.uint8)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    import cv2

    for _ in range(draw(st.integers(0, 4))):  # strokes
        pts = (rng.random((rng.integers(2, 5), 2)) * [w, h]).astype(np.int32)
        cv2.polylines(m, [pts], False, 1, int(rng.integers(1, 6)))
    for _ in range(draw(st.integers(0, 2))):  # blobs
        cv2.circle(m, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(1, 8)), 1, -1)
    noise = rng.random((h, w)) < draw(st.floats(0.0, 0.05))
    return (m.astype(bool) | noise)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks())
def test_random_masks_vectorize_consistently(mask: np.ndarray) -> None:
    net = vectorize_array(mask, T, "EPSG:32633", CFG)
    h, w = mask.shape
    s = net.summary
    assert s.n_segments == len(net.segments)
    assert s.n_nodes == len(net.nodes)
    total = sum(seg.record.len_m for seg in net.segments)
    assert math.isclose(s.total_len_m, total, rel_tol=1e-9, abs_tol=1e-12)
    assert abs(s.area_m2 - h * w * GSD * GSD) < 1e-9
    if not mask.any():
        assert net.segments == [] and s.total_len_m == 0.0
    # a centre-line cannot be much longer than the crack pixels it was traced on
    assert s.total_len_m <= (mask.sum() * math.sqrt(2) + 4 * len(net.segments) + 4) * GSD
    x0, y0 = T.c, T.f
    for seg in net.segments:
        r = seg.record
        assert r.len_m is not None and r.len_m > 0
        assert r.chord_m is not None and r.chord_m <= r.len_m + 1e-9
        if r.w_max_mm is not None:  # a crack is never wider than the raster's diagonal
            assert 0 <= r.w_med_mm <= r.w_max_mm <= math.hypot(h, w) * GSD * 1000
        bx0, by0, bx1, by1 = seg.geometry.bounds
        assert x0 - 2 * GSD <= bx0 <= bx1 <= x0 + (w + 2) * GSD
        assert y0 - (h + 2) * GSD <= by0 <= by1 <= y0 + 2 * GSD


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks(), st.integers(48, 96))
def test_results_do_not_depend_on_the_window_size(mask: np.ndarray, window: int) -> None:
    """The tiled vectorizer gives the same total length and counts for any window size."""
    ref = vectorize_array(mask, T, "EPSG:32633", CFG)
    cfg = VectorizeConfig(min_crack_length_m=0.0, min_elongation=0.0, window_px=window + 64,
                          overlap_px=32)
    tiled = vectorize_array(mask, T, "EPSG:32633", cfg)
    assert math.isclose(tiled.summary.total_len_m, ref.summary.total_len_m, rel_tol=0.02,
                        abs_tol=4 * GSD)


@settings(max_examples=30, deadline=None)
@given(masks())
def test_post_processing_only_removes(mask: np.ndarray) -> None:
    """The minimum length and blob filters never add crack length."""
    raw = vectorize_array(mask, T, "EPSG:32633", CFG)
    kept = vectorize_array(mask, T, "EPSG:32633", VectorizeConfig())
    assert kept.summary.total_len_m <= raw.summary.total_len_m + 1e-9
    assert all(seg.record.len_m > 0 for seg in kept.segments)
