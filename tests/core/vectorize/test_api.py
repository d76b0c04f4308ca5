"""Accuracy and behaviour of core/vectorize.py on supersampled synthetic ground truth.

Targets come from ../shared/docs/crack-measurement.md section 6.3; the full sweep and the
accuracy table are in scripts/measure_accuracy.py / docs/measurement.md.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from csbsr.core.errors import Cancelled, ConfigError, InvalidInputError
from csbsr.core.progress import RecordingProgress
from csbsr.core.records import CrackNetwork
from csbsr.core.vectorize import synthetic as sy
from csbsr.core.vectorize.api import vectorize_array, vectorize_raster
from csbsr.core.vectorize.config import VectorizeConfig

GSD = 0.002
CRS = "EPSG:32633"
T = Affine(GSD, 0, 500000, 0, -GSD, 5600000)


def total_px(net: CrackNetwork, gsd: float = GSD) -> float:
    return sum(s.attributes["len_m"] for s in net.segments) / gsd


def chain_px(mask: np.ndarray) -> float:
    """The raw chain-code length (negative control): skan branch_distance of the skeleton."""
    from skan import Skeleton, summarize
    from skimage.morphology import skeletonize

    return float(summarize(Skeleton(skeletonize(mask, method="lee")), separator="_")[
        "branch_distance"].sum())


@pytest.fixture(scope="module")
def straight_cases():
    out = []
    for ang in (0.0, 10.0, 22.5, 30.0, 45.0, 67.5, 80.0):
        for w in (2.0, 5.0, 12.0):
            xy = sy.straight(300, ang, (200.31, 200.57))
            out.append((ang, w, sy.render([xy], [w], (400, 400))))
    return out


def test_straight_length_width_orientation(straight_cases):
    for ang, w, cov in straight_cases:
        for kind, arr, wtol in (("prob", cov, 0.2), ("mask", (cov >= 0.5).astype(np.uint8), 0.4)):
            net = vectorize_array(arr, T, CRS)
            assert len(net.segments) == 1, (ang, w, kind)
            a = net.segments[0].attributes
            assert abs(total_px(net) / 300 - 1) <= 0.01, (ang, w, kind, total_px(net))
            assert abs(a["w_med_mm"] / 1000 / GSD - w) <= wtol, (ang, w, kind, a["w_med_mm"])
            true_az = (90.0 + ang) % 180.0
            d = abs(a["azimuth"] - true_az) % 180
            assert min(d, 180 - d) <= 1.0, (ang, w, a["azimuth"])
            assert a["w_src"] == kind
            assert a["w_resolv"] == int(w >= 2.5) and a["sev_std"] == "D6433"
            # 2 mm/px: 2 px = 4 mm but not resolvable; 12 px = 24 mm = D6433 medium
            assert a["sev"] == {2.0: "NR", 5.0: a["sev"], 12.0: "M"}[w]
            assert a["br_type"] == 0 and a["edge_trunc"] == 0


def test_chain_code_negative_control_fails_on_oblique(straight_cases):
    errs = [chain_px(cov >= 0.5) / 300 - 1 for ang, _w, cov in straight_cases
            if ang % 45 != 0]
    assert max(abs(e) for e in errs) > 0.01  # the naive length misses the 1 % target
    ours = [total_px(vectorize_array(cov, T, CRS)) / 300 - 1 for ang, _w, cov in straight_cases
            if ang % 45 != 0]
    assert max(abs(e) for e in ours) < max(abs(e) for e in errs) / 3


@pytest.mark.parametrize("radius", [40, 160])
def test_arc_length(radius):
    xy = sy.arc(radius, 150 if radius < 100 else 90, (0, 0))
    xy = xy - xy.min(axis=0) + 30.3
    shape = (int(xy[:, 1].max() + 40), int(xy[:, 0].max() + 40))
    cov = sy.render([xy], [4], shape)
    net = vectorize_array(cov, T, CRS)
    assert abs(total_px(net) / sy.polyline_length(xy) - 1) <= 0.01


def test_sinusoid_length():
    xy = sy.sinusoid(400, 20, 200, (30.3, 100.6))
    cov = sy.render([xy], [4], (200, 460))
    net = vectorize_array((cov >= 0.5).astype(np.uint8), T, CRS)
    assert abs(total_px(net) / sy.polyline_length(xy) - 1) <= 0.01


JC = np.array([200.4, 200.6])


@pytest.mark.parametrize("name,lines,n_seg", [
    ("Y", [np.array([[40.3, 200.6], JC]), np.array([JC, [340.2, 90.1]]),
           np.array([JC, [340.7, 320.3]])], 3),
    ("T", [np.array([[40.3, 200.6], [360.2, 200.6]]), np.array([JC, [200.4, 370.2]])], 3),
    ("X", [sy.straight(300, 20, tuple(JC)), sy.straight(300, 110, tuple(JC))], 4),
])
def test_junctions_topology_length_width(name, lines, n_seg):
    w = 5.0
    cov = sy.render(lines, [w] * len(lines), (400, 400))
    net = vectorize_array(cov, T, CRS)
    truth = sum(sy.polyline_length(xy) for xy in lines)
    assert abs(total_px(net) / truth - 1) <= 0.02
    assert net.summary.n_segments == n_seg
    assert net.summary.n_junctions == 1
    junc = [n for n in net.nodes if n.attributes["n_kind"] == "junc"]
    assert junc[0].attributes["degree"] == n_seg
    # junction neighbourhoods are excluded from widths: no inflation
    for s in net.segments:
        assert abs(s.attributes["w_med_mm"] / 1000 / GSD - w) <= 0.4
        assert s.attributes["br_type"] == 1
    assert len({s.attributes["crack_id"] for s in net.segments}) == 1


def _grid(n, cell, w, seed=1):
    rng = np.random.default_rng(seed)
    lines = []
    lo, hi = 20.3, 20.3 + n * cell
    for k in range(n + 1):
        p, q = 20.3 + k * cell + rng.uniform(-4, 4, 2)
        lines.append(np.array([[p, lo], [q, hi]]))
        lines.append(np.array([[lo, p + 0.4], [hi, q + 0.4]]))
    size = int(hi + 30)
    return lines, sy.render(lines, [w] * len(lines), (size, size))


@pytest.mark.parametrize("n,cell,want", [(3, 250.0, "block"), (6, 50.0, "alligator")])
def test_block_and_alligator_networks(n, cell, want):
    lines, cov = _grid(n, cell, 3.0)
    net = vectorize_array(cov, T, CRS)
    truth = sum(sy.polyline_length(xy) for xy in lines)
    assert abs(total_px(net) / truth - 1) <= 0.02
    inner = [s for s in net.segments if s.attributes["br_type"] == 2]
    assert inner and all(s.attributes["ctype"] == want for s in inner)
    assert net.summary.n_cracks == 1
    assert net.summary.len_by_type_sev_m[want]["L"] > 0


def test_an_isolated_closed_loop_is_not_pattern_cracking():
    """A single ring (e.g. the outline of a spall) has one cell: neither block nor alligator."""
    ring = sy.arc(30.0, 360.0, (60.3, 60.6))
    net = vectorize_array(sy.render([ring], [3], (120, 120)), T, CRS)
    assert net.segments
    assert all(s.attributes["ctype"] not in ("alligator", "block") for s in net.segments)


def test_taper_ragged_gap():
    xy = sy.straight(300, 35, (200.3, 200.6))
    taper = sy.render([xy], [np.array([6.0, 1.5])], (400, 400))
    assert abs(total_px(vectorize_array(taper, T, CRS)) / 300 - 1) <= 0.01
    rag = sy.ragged(sy.render([xy], [5], (400, 400)), 0.15, 1.5, seed=0)
    net = vectorize_array((rag >= 0.5).astype(np.uint8), T, CRS)
    assert len(net.segments) == 1  # spurs pruned
    a = net.segments[0].attributes
    assert abs(total_px(net) / 300 - 1) <= 0.01
    assert a["w_p95_mm"] / 1000 / GSD <= 5 + 1.25
    d = (xy[1] - xy[0]) / 300
    pieces = [np.array([xy[0], xy[0] + d * 148]), np.array([xy[0] + d * 152, xy[1]])]
    net = vectorize_array(sy.render(pieces, [4, 4], (400, 400)), T, CRS)
    assert net.summary.n_cracks == 2
    assert abs(total_px(net) / 296 - 1) <= 0.01


def test_subpixel_width_not_classified_and_speckle_removed():
    cov = sy.render([sy.straight(300, 0, (200.3, 200.5))], [1.0], (400, 400))
    cov[50:53, 50:53] = 1.0  # 9-px speckle < min_area_px
    net = vectorize_array(cov, T, CRS)
    assert len(net.segments) == 1
    a = net.segments[0].attributes
    assert a["w_resolv"] == 0 and a["sev"] == "NR"


def test_severity_standards_and_road_axis():
    # 12 px at 2 mm = 24 mm: D6433 medium, LTPP high, custom (5, 20) high
    cov = sy.render([sy.straight(300, 0, (200.3, 200.5))], [12.0], (400, 400))
    got = {}
    for std, thr in (("d6433", None), ("ltpp", None), ("custom", (30.0, 40.0))):
        cfg = VectorizeConfig(standard=std, custom_thresholds_mm=thr, road_azimuth_deg=80.0)
        a = vectorize_array(cov, T, CRS, cfg).segments[0].attributes
        got[std] = a["sev"]
        assert a["ctype"] == "long" and abs(a["rel_ang"] - 10.0) < 1.0
    assert got == {"d6433": "M", "ltpp": "H", "custom": "L"}
    a = vectorize_array(cov, T, CRS, VectorizeConfig(road_azimuth_deg=0.0)).segments[0]
    assert a.attributes["ctype"] == "trans"
    a = vectorize_array(cov, T, CRS, VectorizeConfig(road_azimuth_deg=45.0)).segments[0]
    assert a.attributes["ctype"] == "diag"
    a = vectorize_array(cov, T, CRS).segments[0]
    assert a.attributes["ctype"] == "uncl" and a.attributes["rel_ang"] is None
    with pytest.raises(ConfigError, match="custom_thresholds_mm"):
        VectorizeConfig(standard="custom")


@pytest.fixture(scope="module")
def seam_mosaic():
    rng = np.random.default_rng(3)
    lines, widths = [], []
    for _ in range(8):
        p = rng.uniform(150, 650, 2)
        a = rng.uniform(0, math.pi)
        rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        xy = sy.sinusoid(400, rng.uniform(5, 25), rng.uniform(150, 400), (-200, 0)) @ rot + p
        lines.append(np.clip(xy, 2, 798))
        widths.append(float(rng.uniform(2, 8)))
    return sy.render(lines, widths, (800, 800), supersample=4)


def test_window_size_invariance(seam_mosaic):
    ref = vectorize_array(seam_mosaic, T, CRS)
    for win, ov in ((300, 64), (416, 128)):
        net = vectorize_array(seam_mosaic, T, CRS, VectorizeConfig(window_px=win, overlap_px=ov))
        assert abs(total_px(net) / total_px(ref) - 1) <= 0.005
        assert net.summary.n_cracks == ref.summary.n_cracks
        assert net.summary.n_segments == ref.summary.n_segments
        assert abs(net.summary.area_m2 - ref.summary.area_m2) < 1e-9


@pytest.mark.parametrize("name,t,crs", [
    ("rotated", Affine(1, 0, 500000, 0, 1, 5600000) @ Affine.rotation(30)
     @ Affine.scale(GSD, -GSD), CRS),
    ("non-square", Affine(0.002, 0, 500000, 0, -0.003, 5600000), CRS),
    ("geographic", Affine(2e-8, 0, 10.0, 0, -2e-8, 50.0), "EPSG:4326"),
])
def test_georeferencing(name, t, crs):
    import shapely
    from csbsr.core.vectorize.measure import make_georef
    from shapely.geometry import LineString

    xy = sy.sinusoid(300, 15, 200, (50.3, 100.6))
    cov = sy.render([xy], [5], (200, 400))
    net = vectorize_array(cov, t, crs)
    geo = make_georef(t, crs)
    truth = geo.to_map(xy)
    assert abs(sum(s.attributes["len_m"] for s in net.segments) / geo.line_length_m(truth)
               - 1) <= 0.01
    gsd_map = math.sqrt(abs(t.a * t.e - t.b * t.d))
    verts = np.vstack([np.array(s.geometry.coords) for s in net.segments])
    assert np.max(shapely.distance(shapely.points(verts), LineString(truth))) <= 0.5 * gsd_map
    if name == "geographic":  # ~1.43 x 2.22 mm pixels at 50 N
        assert 1.5 < net.summary.gsd_mm < 2.0


def test_refuses_mercator_and_missing_crs():
    cov = sy.render([sy.straight(100, 0, (60.3, 60.5))], [4], (120, 120))
    with pytest.raises(InvalidInputError, match="UTM"):
        vectorize_array(cov, T, "EPSG:3857")
    with pytest.raises(InvalidInputError, match="gdal_edit"):
        vectorize_array(cov, T, None)


def _write(path, arr, crs=CRS, nodata=None):
    prof = {"driver": "GTiff", "height": arr.shape[0], "width": arr.shape[1], "count": 1,
            "dtype": arr.dtype.name, "transform": T}
    if crs:
        prof["crs"] = crs
    if nodata is not None:
        prof["nodata"] = nodata
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
    return path


def test_raster_uint8_prob_windows_aoi_nodata(tmp_path, seam_mosaic):
    from shapely.geometry import box

    u8 = np.round(seam_mosaic * 255).astype(np.uint8)
    f = _write(tmp_path / "prob.tif", u8)
    ref = vectorize_array(seam_mosaic, T, CRS)
    net = vectorize_raster(f, VectorizeConfig(window_px=400, overlap_px=64), model_name="m1")
    assert abs(total_px(net) / total_px(ref) - 1) <= 0.005
    assert net.segments[0].attributes["model_ver"] == "m1"
    assert net.segments[0].attributes["w_src"] == "prob"
    assert abs(net.summary.area_m2 - 800 * 800 * GSD * GSD) < 1e-9
    # AOI: left half only; lines there are truncated at the AOI edge
    x0, y0 = T @ (0, 800)
    x1, y1 = T @ (400, 0)
    half = vectorize_raster(f, aoi=box(x0, y0, x1, y1))
    assert abs(half.summary.area_m2 - 400 * 800 * GSD * GSD) < 1e-9
    assert 0 < total_px(half) < total_px(net)
    assert half.summary.n_truncated > 0
    assert all(s.geometry.bounds[2] <= x1 + 2 * GSD for s in half.segments)
    # nodata: a binary 0/255 mask with a nodata band
    m = np.where(seam_mosaic >= 0.5, 255, 0).astype(np.uint8)
    m[:, :100] = 7
    nd = vectorize_raster(_write(tmp_path / "mask.tif", m, nodata=7))
    assert nd.segments[0].attributes["w_src"] == "mask"
    assert abs(nd.summary.area_m2 - 700 * 800 * GSD * GSD) < 1e-9


def test_raster_errors_and_cancel(tmp_path):
    cov = sy.render([sy.straight(200, 10, (150.3, 150.5))], [4], (300, 300))
    with pytest.raises(InvalidInputError, match="gdal_edit"):
        vectorize_raster(_write(tmp_path / "nocrs.tif", cov, crs=None))
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    with pytest.raises(InvalidInputError, match="cannot open"):
        vectorize_raster(bad)
    prog = RecordingProgress(cancel_at_percent=10)
    big = np.tile(cov, (2, 2))
    with pytest.raises(Cancelled):
        vectorize_array(big, T, CRS, VectorizeConfig(window_px=320, overlap_px=64), prog)


def test_empty_raster_gives_empty_network():
    net = vectorize_array(np.zeros((100, 100), np.float32), T, CRS)
    assert net.segments == [] and net.nodes == []
    assert net.summary.total_len_m == 0 and net.summary.density_m_m2 == 0
