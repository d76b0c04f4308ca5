"""The classification rules at their limits, on exact lines, and the shipped QML style.

The uncertainty model at 8 mm/px (k = 2): width 11.3 mm, tolerance
2 * sqrt(8^2 + 8^2 + 5^2) = 24.9 mm plus half the crack width, tip tolerance 22.6 mm.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from csbsr.core.compare.config import CompareConfig
from csbsr.core.compare.matching import LineSet, classify
from csbsr.core.compare.schema import CHANGE_FIELDS, CLASSES, COLOURS
from csbsr.core.compare.uncertainty import UncertaintyModel
from csbsr.core.errors import ConfigError
from shapely.geometry import LineString

REPO = Path(__file__).resolve().parents[3]
UNC = UncertaintyModel(0.008, 0.008, 0.005, CompareConfig())


def _set(lines: List[Tuple[LineString, float]], source: str) -> LineSet:
    attrs = [{"seg_id": i + 1, "crack_id": i + 1, "w_med_mm": w, "sev": "L"}
             for i, (_, w) in enumerate(lines)]
    return LineSet(np.array([g for g, _ in lines], dtype=object), attrs,
                   np.zeros(len(lines), bool), source)


def _classes(old: List[Tuple[LineString, float]], new: List[Tuple[LineString, float]]
             ) -> List[Dict[str, Any]]:
    return [f for _, f in classify(_set(old, "old"), _set(new, "new"), UNC)]


def _line(x0: float, x1: float, y: float = 0.0) -> LineString:
    return LineString([(x0, y), (0.5 * (x0 + x1), y + 0.01), (x1, y)])


def test_uncertainty_numbers_at_8_mm() -> None:
    assert UNC.u_width_mm == pytest.approx(2 * math.sqrt(2) * 4.0)
    assert UNC.tol_m == pytest.approx(2 * math.sqrt(0.008 ** 2 * 2 + 0.005 ** 2))
    assert UNC.tip_tol_m == pytest.approx(2 * math.sqrt(2) * 0.008)
    assert UNC.u_len_m(1.0, 1.0) == pytest.approx(
        2 * math.sqrt(2) * math.sqrt(0.01 ** 2 + 2 * 0.008 ** 2))
    assert UNC.tol_pair_m(10.0, None) == pytest.approx(UNC.tol_m + 0.005)


@pytest.mark.parametrize("gain_mm,expected", [(11.0, "unchanged"), (11.7, "widened"),
                                              (-20.0, "unchanged")])
def test_a_width_change_within_uncertainty_is_unchanged(gain_mm: float, expected: str) -> None:
    old = [(_line(0, 1), 6.0)]
    new = [(_line(0, 1, 0.004), 6.0 + gain_mm)]
    f = _classes(old, new)
    assert [x["change"] for x in f] == [expected]
    assert f[0]["sig_w"] == int(abs(gain_mm) > UNC.u_width_mm)


def test_an_extension_is_found_with_its_added_piece() -> None:
    f = _classes([(_line(0, 1), 6.0)], [(LineString([(0, 0.003), (1.3, 0.003)]), 6.0)])
    line = [x for x in f if x["part"] == "line"]
    added = [x for x in f if x["part"] == "added"]
    assert [x["change"] for x in line] == ["extended"] and len(added) == 1
    assert line[0]["d_len_m"] == pytest.approx(0.3, abs=0.03)
    # the added piece starts where the OLD tip ends, give or take the tip tolerance
    assert 0.3 - UNC.tip_tol_m - 0.01 <= added[0]["len_m"] <= 0.3


def test_a_short_growth_is_within_uncertainty() -> None:
    f = _classes([(_line(0, 1), 6.0)], [(LineString([(0, 0), (1.03, 0)]), 6.0)])
    assert [x["change"] for x in f] == ["unchanged"]


def test_new_gone_and_crossing_lines() -> None:
    old = [(_line(0, 1), 6.0), (_line(0, 1, 0.5), 6.0)]
    new = [(_line(0, 1), 6.0), (LineString([(0.5, -0.4), (0.5, 0.4)]), 6.0)]  # crosses at 90
    f = _classes(old, new)
    got = sorted((x["change"], x["source"]) for x in f)
    assert got == [("gone", "old"), ("new", "new"), ("unchanged", "new")]


def test_a_new_segment_at_an_old_tip_is_an_extension() -> None:
    new = [(_line(0, 1), 6.0), (LineString([(1.0, 0.0), (1.2, 0.1)]), 6.0)]
    f = _classes([(_line(0, 1), 6.0)], new)
    assert sorted((x["change"], x["part"]) for x in f) == [
        ("extended", "added"), ("extended", "line"), ("unchanged", "line")]


def test_a_partly_repaired_line_leaves_a_lost_piece() -> None:
    f = _classes([(LineString([(0, 0), (1.0, 0)]), 6.0)],
                 [(LineString([(0, 0), (0.6, 0)]), 6.0)])
    lost = [x for x in f if x["part"] == "lost"]
    assert len(lost) == 1 and lost[0]["change"] == "gone"
    assert lost[0]["len_m"] == pytest.approx(0.4 - UNC.tip_tol_m, abs=0.02)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="registration model"):
        CompareConfig(reg_model="projective")
    with pytest.raises(ConfigError, match="k must be"):
        CompareConfig(k=0)


def test_schema_names_fit_a_shapefile() -> None:
    assert all(len(name) <= 10 for name, _, _ in CHANGE_FIELDS)
    assert len({name for name, _, _ in CHANGE_FIELDS}) == len(CHANGE_FIELDS)


def _rgb(text: Optional[str]) -> Tuple[int, int, int]:
    r, g, b, _a = (int(v) for v in (text or "").split(","))
    return r, g, b


def test_qml_style_is_categorized_by_change() -> None:
    root = ET.parse(REPO / "resources" / "styles" / "crack_change.qml").getroot()
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "change"
    cats = {c.get("value"): c.get("symbol") for c in renderer.iter("category")}
    assert list(cats) == list(CLASSES)
    styles = {}
    for sym in renderer.find("symbols"):
        opts = {o.get("name"): o.get("value") for o in sym.find("layer").find("Option")}
        styles[sym.get("name")] = opts
    for c, name in cats.items():
        opts = styles[name]
        hexcol = COLOURS[c]
        assert _rgb(opts["line_color"]) == tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
        assert opts["line_style"] == ("dash" if c == "gone" else "solid")
    red, orange, magenta, grey, blue = (_rgb(styles[cats[c]]["line_color"]) for c in CLASSES)
    assert red[0] > 200 > red[1] and orange[0] > 200 and 100 < orange[1] < 200
    assert magenta[0] > 180 and magenta[2] > 180 and magenta[1] < 60
    assert grey[0] == grey[1] == grey[2] and blue[2] > 180 > blue[0]
