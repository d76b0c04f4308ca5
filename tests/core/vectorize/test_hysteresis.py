"""Hysteresis of the crack lines (``VectorizeConfig.seed_threshold``): a region of the mask
is drawn only if its probability somewhere reaches the seed."""
from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from csbsr.core.errors import ConfigError
from csbsr.core.vectorize.api import vectorize_array
from csbsr.core.vectorize.config import VectorizeConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GSD = 0.002
T = Affine(GSD, 0, 500000.0, 0, -GSD, 5000000.0)


def two_cracks(h: int = 120, w: int = 400) -> np.ndarray:
    """(h, w) probability: two horizontal 3 px cracks 300 px long at 0.85; the upper one
    reaches 0.99 over 5 px at its left end (a confident spot), the lower one nowhere."""
    p = np.full((h, w), 0.05, np.float32)
    p[29:32, 50:350] = 0.85
    p[29:32, 52:57] = 0.99
    p[89:92, 50:350] = 0.85
    return p


def lengths(p: np.ndarray, cfg: VectorizeConfig) -> list:
    net = vectorize_array(p, T, "EPSG:32633", cfg)
    return sorted(round(s.record.len_m, 3) for s in net.segments)


def test_a_crack_without_a_confident_spot_is_dropped() -> None:
    p = two_cracks()
    assert len(lengths(p, VectorizeConfig(threshold=0.8))) == 2
    kept = lengths(p, VectorizeConfig(threshold=0.8, seed_threshold=0.98))
    assert len(kept) == 1 and math.isclose(kept[0], 300 * GSD, rel_tol=0.05)
    # both reach 0.8: a seed at or below the threshold changes nothing
    assert lengths(p, VectorizeConfig(threshold=0.8, seed_threshold=0.8)) == \
        lengths(p, VectorizeConfig(threshold=0.8))


def test_the_seed_keeps_the_whole_region_across_processing_windows() -> None:
    """The confident spot is in the first window; the crack runs through three: the
    tiled result equals the whole-raster one (regions cut by a window edge are judged
    whole where they are whole)."""
    p = two_cracks()
    whole = lengths(p, VectorizeConfig(threshold=0.8, seed_threshold=0.98))
    tiled = lengths(p, VectorizeConfig(threshold=0.8, seed_threshold=0.98, window_px=160,
                                       overlap_px=48))
    assert math.isclose(sum(tiled), sum(whole), rel_tol=0.02)


def test_seed_is_recorded_only_when_it_acts() -> None:
    p = two_cracks()
    on = vectorize_array(p, T, "EPSG:32633", VectorizeConfig(threshold=0.8,
                                                                seed_threshold=0.98))
    off = vectorize_array(p, T, "EPSG:32633", VectorizeConfig(threshold=0.8,
                                                                 seed_threshold=0.0))
    assert on.summary.seed_threshold == 0.98 and off.summary.seed_threshold is None


@pytest.mark.parametrize("seed", [1.0, -0.1, 1.5])
def test_a_seed_outside_0_1_is_refused(seed: float) -> None:
    with pytest.raises(ConfigError, match="seed_threshold"):
        VectorizeConfig(threshold=0.5, seed_threshold=seed)


def random_cracks(seed_rng: int, h: int, w: int, n: int, levels: tuple,
                  spots: bool) -> np.ndarray:
    """(h, w) probability: background < 0.3, ``n`` random polylines at a level drawn from
    ``levels`` (lo, hi), each with (``spots``) a 2x2 spot of 0.97 somewhere in the raster."""
    import cv2

    rng = np.random.default_rng(seed_rng)
    p = (rng.random((h, w)) * 0.3).astype(np.float32)
    for _ in range(n):
        pts = (rng.random((3, 2)) * [w, h]).astype(np.int32)
        cv2.polylines(p, [pts], False, float(rng.uniform(*levels)), int(rng.integers(1, 4)))
        if spots:
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            p[y:y + 2, x:x + 2] = np.maximum(p[y:y + 2, x:x + 2], 0.97)
    return p


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.floats(0.55, 0.99))
def test_hysteresis_only_removes(seed_rng: int, seed: float) -> None:
    """With a seed, every drawn line is one drawn without it (never new length)."""
    p = random_cracks(seed_rng, 64, 96, 3, (0.5, 1.0), spots=False)
    base = VectorizeConfig(threshold=0.5, min_crack_length_m=0.0, min_elongation=0.0)
    raw = vectorize_array(p, T, "EPSG:32633", base)
    seeded = vectorize_array(p, T, "EPSG:32633", VectorizeConfig(
        threshold=0.5, seed_threshold=seed, min_crack_length_m=0.0, min_elongation=0.0))
    assert seeded.summary.total_len_m <= raw.summary.total_len_m + 1e-9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.integers(16, 90), st.integers(16, 130))
def test_the_seed_map_equals_whole_raster_hysteresis(seed_rng: int, core_h: int,
                                                     core_w: int) -> None:
    """Regions running through several cores are seeded (or not) as a whole: the keep mask
    assembled from any grid of cores is the whole-raster hysteresis, pixel for pixel."""
    from csbsr.core.vectorize.hysteresis import seed_map
    from scipy import ndimage as ndi

    p = random_cracks(seed_rng, 120, 200, 5, (0.55, 0.9), spots=True)
    valid = np.ones(p.shape, bool)
    valid[:, 150:153] = False  # a nodata seam cuts some regions
    lab, n = ndi.label((p >= 0.5) & valid, structure=np.ones((3, 3), bool))
    peak = np.asarray(ndi.maximum(p, lab, index=np.arange(n + 1)))
    expected = (lab > 0) & (peak >= 0.95)[lab]
    cores = [[(r, c, min(core_h, 120 - r), min(core_w, 200 - c))
              for c in range(0, 200, core_w)] for r in range(0, 120, core_h)]

    def read(r0: int, c0: int, h: int, w: int) -> tuple:
        return p[r0:r0 + h, c0:c0 + w], valid[r0:r0 + h, c0:c0 + w]

    seeds = seed_map(read, cores, 0.5, 0.95)
    assert np.array_equal(seeds.keep(0, 0, 120, 200), expected)
    # any window is the matching part of it
    assert np.array_equal(seeds.keep(7, 11, 50, 90), expected[7:57, 11:101])
