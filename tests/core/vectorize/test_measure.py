"""Schema, georeferencing, orientation, severity and summaries of core/measure.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from csbsr.core.config import from_dict, to_dict
from csbsr.core.errors import InvalidInputError
from csbsr.core.records import FIELDS, NODE_FIELDS, CrackSummary, SegmentRecord
from csbsr.core.vectorize.config import VectorizeConfig
from csbsr.core.vectorize.measure import (
    axial_azimuth_deg,
    axial_difference_deg,
    classify_orientation,
    make_georef,
    severity,
    summarise,
    width_stats_mm,
)


def test_schema_is_shapefile_safe():
    for fields in (FIELDS, NODE_FIELDS):
        names = [f[0] for f in fields]
        assert len(names) == len(set(names))
        for f in fields:
            assert len(f.name) <= 10 and f.name.isascii() and f.name == f.name.lower()
            assert f.type in ("int", "float", "str") and f.description and f.alias
    names = [f[0] for f in FIELDS]
    for must in ("seg_id", "len_m", "w_med_mm", "w_p95_mm", "azimuth", "sev", "ctype",
                 "w_resolv", "edge_trunc", "conf", "gsd_mm", "model_ver", "proc_ver"):
        assert must in names


def test_georef_pixel_centre_and_units():
    t = Affine(0.5, 0, 1000, 0, -0.5, 2000)
    g = make_georef(t, "EPSG:32633")
    assert np.allclose(g.to_map(np.array([[0.5, 0.5]])), [[1000.25, 1999.75]])
    assert g.line_length_m(g.to_map(np.array([[0, 0], [3, 4]]))) == pytest.approx(2.5)
    assert g.pixel_area_m2() == pytest.approx(0.25)
    # US survey feet: lengths come back in metres
    gf = make_georef(Affine(1, 0, 0, 0, -1, 0), "EPSG:2263")
    assert gf.line_length_m(np.array([[0.0, 0.0], [1000.0, 0.0]])) == pytest.approx(
        304.8006, rel=1e-5)


def test_georef_geographic_matches_geod():
    from pyproj import Geod

    g = make_georef(Affine(1e-5, 0, 10, 0, -1e-5, 50), "EPSG:4326")
    pts = np.array([[10.0, 50.0], [10.001, 50.001]])
    ref = Geod(ellps="WGS84").line_length(pts[:, 0], pts[:, 1])
    assert g.line_length_m(pts) == pytest.approx(ref, rel=1e-9)
    jac = g.jacobian_m(np.array([10.0, 50.0]))
    assert abs(jac[0, 0]) == pytest.approx(1e-5 * 111320 * math.cos(math.radians(50)), rel=3e-3)


@pytest.mark.parametrize("crs,match", [
    (None, "no CRS"), ("EPSG:3857", "Mercator"), ("EPSG:3395", "Mercator"),
    ("not a crs", "unreadable CRS"),
])
def test_georef_refusals(crs, match):
    with pytest.raises(InvalidInputError, match=match):
        make_georef(Affine(1, 0, 0, 0, -1, 0), crs)
    with pytest.raises(InvalidInputError, match="degenerate"):
        make_georef(Affine(0, 0, 0, 0, 0, 0), "EPSG:32633")


def test_azimuth_and_orientation_classes():
    assert axial_azimuth_deg(np.array([[0, 0], [0, 10.0]])) == pytest.approx(0.0)
    assert axial_azimuth_deg(np.array([[0, 0], [10.0, 0]])) == pytest.approx(90.0)
    assert axial_azimuth_deg(np.array([[0, 0], [-1.0, 1.0]])) == pytest.approx(135.0)
    assert axial_azimuth_deg(np.array([[1.0, 1.0], [1.0, 1.0]])) is None
    assert axial_difference_deg(10, 170) == pytest.approx(20)
    assert classify_orientation(15, 0, 20) == (15, "long")
    assert classify_orientation(95, 0, 20)[1] == "trans"
    assert classify_orientation(45, 0, 20)[1] == "diag"
    assert classify_orientation(45, None, 20) == (None, "uncl")


def test_severity_thresholds():
    d6433 = VectorizeConfig().severity_thresholds_mm()
    assert d6433 == (10.0, 75.0)
    assert [severity(w, True, d6433) for w in (9.9, 10.0, 75.0, 75.1)] == ["L", "M", "M", "H"]
    assert severity(50.0, False, d6433) == "NR"
    assert severity(None, True, d6433) == "NR"
    assert VectorizeConfig(standard="ltpp").severity_thresholds_mm() == (6.0, 19.0)


def test_width_stats_and_summary():
    s = width_stats_mm(np.array([1.0, 2.0, np.nan, 3.0]))
    assert s["w_n"] == 3 and s["w_med_mm"] == 2.0 and s["w_max_mm"] == 3.0
    assert width_stats_mm(np.array([np.nan]))["w_med_mm"] is None
    recs = [SegmentRecord(ctype="long", sev="L", len_m=2.0),
            SegmentRecord(ctype="long", sev="M", len_m=1.0),
            SegmentRecord(ctype="trans", sev="L", len_m=3.0)]
    summ = summarise(recs, 12.0)
    assert summ["total_len_m"] == 6.0 and summ["density_m_m2"] == 0.5
    assert summ["len_by_type_sev_m"]["long"] == {"L": 2.0, "M": 1.0}
    rows = CrackSummary(**summ, n_segments=3).rows()
    assert rows[-1].__dict__ == {"ctype": "ALL", "sev": "ALL", "len_m": 6.0, "n_seg": 3,
                                 "dens_m_m2": 0.5}


def test_config_round_trip_and_validation():
    cfg = VectorizeConfig(standard="custom", custom_thresholds_mm=(2.0, 8.0),
                          road_azimuth_deg=30.0)
    assert from_dict(VectorizeConfig, to_dict(cfg)) == cfg
    from csbsr.core.errors import ConfigError

    for bad in ({"threshold": 1.5}, {"standard": "iso"}, {"window_px": 100},
                {"overlap_px": 8}, {"severity_basis": "mean"},
                {"standard": "custom", "custom_thresholds_mm": (9.0, 3.0)}):
        with pytest.raises(ConfigError):
            VectorizeConfig(**bad)
