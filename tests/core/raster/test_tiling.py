"""Tile geometry and stitching helpers (numpy only)."""
from __future__ import annotations

import numpy as np
import pytest
from csbsr.core.errors import ConfigError
from csbsr.core.raster.tiling import crop_core, fill_invalid, plan_tiles, upsample_mask


def _coverage(grid):
    cover = np.zeros((grid.height, grid.width), np.int32)
    for y, keep_from, keep_to in grid.strips():
        for x in grid.xs:
            cover[y + keep_from:y + keep_to, x:x + grid.core_w] += 1
    return cover


@pytest.mark.parametrize("size", [(40, 40), (64, 64), (65, 64), (64, 65), (200, 130), (1, 1)])
def test_cores_cover_region_and_rows_written_once(size):
    w, h = size
    g = plan_tiles(w, h, tile_px=64, halo=8)
    assert g.core_w == min(64, w) and g.core_h == min(64, h)
    assert g.xs[0] == 0 and g.xs[-1] + g.core_w == w
    assert g.ys[0] == 0 and g.ys[-1] + g.core_h == h
    assert all(x + g.core_w <= w for x in g.xs)
    cover = _coverage(g)
    assert cover.min() >= 1
    # each output row is written by exactly one strip (columns may overlap in memory only)
    rows = np.zeros(h, np.int32)
    for y, a, b in g.strips():
        rows[y + a:y + b] += 1
    assert (rows == 1).all()


def test_tile_counts_small_equal_plus_one():
    assert plan_tiles(30, 30, 64, 4).n_tiles == 1
    assert plan_tiles(64, 64, 64, 4).n_tiles == 1
    g = plan_tiles(65, 65, 64, 4)
    assert g.n_tiles == 4 and g.xs == (0, 1)
    assert g.tile_shape == (72, 72)


def test_overhead_is_halo_cost():
    g = plan_tiles(1024, 1024, 128, 16)
    assert g.overhead == pytest.approx((160 / 128) ** 2)


def test_bad_plan_raises():
    with pytest.raises(ConfigError):
        plan_tiles(0, 10, 64, 4)
    with pytest.raises(ConfigError):
        plan_tiles(10, 10, 64, -1)


def test_fill_invalid_copies_the_nearest_valid_pixel():
    data = np.zeros((2, 4, 4), np.float32)
    data[0, :2] = 1.0
    data[1] = 0.25
    valid = np.zeros((4, 4), bool)
    valid[:2] = True
    valid[2, 0] = True  # a valid 0 in channel 0
    out = fill_invalid(data, valid)
    assert out[0, 3, 0] == 0.0  # nearest valid: (2, 0)
    assert out[0, 3, 3] == 1.0  # nearest valid: (1, 3)
    assert out[1, 3, 3] == pytest.approx(0.25)
    assert data[0, 3, 3] == 0.0  # input untouched
    assert fill_invalid(data, np.ones((4, 4), bool)) is data
    assert float(fill_invalid(data, np.zeros((4, 4), bool)).mean()) == 0.5


@pytest.mark.parametrize("length,tile,align", [(100, 32, 2), (101, 32, 2), (97, 33, 4),
                                               (40, 64, 2), (130, 64, 8)])
def test_aligned_starts_cover_the_region(length, tile, align):
    g = plan_tiles(length, length, tile, 4, align=align)
    assert all(x % align == 0 for x in g.xs)
    covered = np.zeros(length, int)
    for x in g.xs:
        covered[x:min(x + g.core_w, length)] += 1
    assert covered.min() >= 1
    assert g.xs[-1] + g.core_w - length < align  # an overhang shorter than the alignment


def test_upsample_and_crop():
    m = np.array([[1, 0], [0, 1]], bool)
    up = upsample_mask(m, 4)
    assert up.shape == (8, 8) and up[:4, :4].all() and not up[:4, 4:].any()
    hr = np.arange(2 * 40 * 48).reshape(2, 40, 48)
    core = crop_core(hr, halo=2, scale=4, core_h=6, core_w=8)
    assert core.shape == (2, 24, 32)
    assert core[0, 0, 0] == hr[0, 8, 8]


@pytest.mark.parametrize("size,max_cols", [((200, 130), 64), ((65, 70), 32), ((33, 20), 2048),
                                           ((300, 40), 100)])
def test_windows_write_every_pixel_once(size, max_cols):
    w, h = size
    g = plan_tiles(w, h, tile_px=32, halo=4)
    cover = np.zeros((h, w), np.int32)
    n_cores = 0
    for win in g.windows(max_cols):
        assert win.x1 - win.x0 <= max(max_cols, g.core_w)
        assert win.x0 <= win.write_x0 < win.x1
        cover[win.y + win.keep_from:win.y + win.keep_to, win.write_x0:win.x1] += 1
        n_cores += len(win.xs)
    assert (cover == 1).all()
    assert n_cores == g.n_tiles
