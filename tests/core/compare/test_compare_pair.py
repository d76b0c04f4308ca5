"""End to end on the real pair: ``csbsr compare`` of two runs vectorized from the truth labels.

The lines come from the real vectorizer on the planted truth masks (no neural network); the
registration runs on the real degraded orthophotos. Must show: every planted change found with
its class, unchanged cracks >= 95 % of their length ``unchanged``, the registration error
(against the planted transform) and the reported residual within one GSD.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pyogrio.raw
import pytest
import shapely
from csbsr.core.cli import main
from csbsr.core.compare.schema import CHANGE_FIELDS, CLASSES
from csbsr.core.layout import CHANGE_LAYER, ChangeLayout

GSD = 0.008  # orthophoto GSD, m


@pytest.fixture(scope="module")
def compared(change_pair: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compared") / "change"
    runs = change_pair / "truth_runs"
    rc = main(["-q", "compare", str(runs / "site_2021"), str(runs / "site_2024"),
               "--out", str(out)])
    assert rc == 0
    return out


def _read(path: Path) -> List[Dict[str, Any]]:
    meta, _fids, wkb, cols = pyogrio.raw.read(str(path), layer=CHANGE_LAYER)
    geoms = shapely.from_wkb(wkb)
    names = list(meta["fields"])
    return [dict(zip(names, (c[i] for c in cols)), geometry=geoms[i]) for i in range(len(geoms))]


def test_outputs_are_written_with_layout_names_and_schema(compared: Path,
                                                          change_pair: Path) -> None:
    layout = ChangeLayout(compared)
    for role in ("change", "summary", "report"):
        assert layout.path(role).is_file(), role
    assert not any(p.name.startswith(".") for p in compared.iterdir())  # no staging left
    meta = pyogrio.read_info(str(layout.path("change")), layer=CHANGE_LAYER)
    assert list(meta["fields"]) == [f[0] for f in CHANGE_FIELDS]
    assert meta["geometry_type"] == "LineString"
    assert "32633" in meta["crs"]
    rows = _read(layout.path("change"))
    assert {r["change"] for r in rows} <= set(CLASSES)
    assert {r["part"] for r in rows} <= {"line", "added", "lost"}
    # nothing was written next to the inputs
    for stem in ("site_2021", "site_2024"):
        names = sorted(p.name for p in (change_pair / "truth_runs" / stem).iterdir())
        assert names == sorted(f"{stem}{s}" for s in ("_cracks.gpkg", "_mask.tif", "_run.json",
                                                       "_summary.json"))


def test_every_planted_change_is_found_with_its_class(compared: Path, truth: Dict[str, Any],
                                                      pair_script: Any) -> None:
    score = pair_script.evaluate(ChangeLayout(compared).path("change"), truth)
    missed = [c for c in score["changes"] if not c["found"]]
    assert not missed, missed
    assert {c["class"] for c in score["changes"]} == {"new", "extended", "widened", "gone"}
    assert score["unchanged_share"] >= 0.95, score["unchanged_len_by_class_m"]


def test_no_spurious_new_or_widened_away_from_the_plants(compared: Path,
                                                         truth: Dict[str, Any]) -> None:
    """Away from the planted changes the truth is unchanged: no new or widened line longer
    than the smallest significant piece may appear there."""
    from shapely import wkt

    plants = shapely.union_all([wkt.loads(c["new_wkt"]).buffer(0.05) for c in truth["changes"]])
    summary = json.loads(ChangeLayout(compared).path("summary").read_text())
    min_piece = summary["pairs"][0]["uncertainty"]["min_piece_mm"] / 1000.0
    bad = [(r["change"], r["len_m"]) for r in _read(ChangeLayout(compared).path("change"))
           if r["change"] in ("new", "widened", "extended") and r["len_m"] >= min_piece
           and not r["geometry"].intersects(plants)]
    assert bad == []


def test_registration_matches_the_planted_transform(compared: Path,
                                                    truth: Dict[str, Any]) -> None:
    s = json.loads(ChangeLayout(compared).path("summary").read_text())
    reg = s["pairs"][0]["registration"]
    assert reg["method"].startswith("SIFT") and reg["n_inliers"] >= 100
    assert reg["rmse_mm"] <= GSD * 1000.0  # the reported residual error: within one GSD
    m = np.vstack((np.array(reg["matrix"]), [0, 0, 1]))
    t = np.vstack((np.array(truth["transform_old_to_new"]), [0, 0, 1]))
    c = np.array(reg["centre"])
    half = truth["size_m"] / 2
    grid = np.array([[c[0] + dx, c[1] + dy, 1.0] for dx in np.linspace(-half, half, 7)
                     for dy in np.linspace(-half, half, 7)])
    err = np.linalg.norm((m @ grid.T - t @ grid.T)[:2], axis=0)
    assert err.max() <= GSD  # the true registration error over the whole site: < 1 GSD
    sx, sy = truth["shift_m_at_centre"]
    assert math.hypot(reg["shift_cm"][0] / 100 - sx, reg["shift_cm"][1] / 100 - sy) < 0.004
    assert abs(reg["rotation_deg"] - truth["rotation_deg"]) < 0.05


def test_summary_totals_agree_with_the_layer(compared: Path) -> None:
    s = json.loads(ChangeLayout(compared).path("summary").read_text())
    rows = _read(ChangeLayout(compared).path("change"))
    for c in CLASSES:
        lines = [r for r in rows if r["change"] == c and r["part"] == "line"]
        assert s["totals"][c]["n"] == len(lines)
        assert s["totals"][c]["len_m"] == pytest.approx(sum(r["len_m"] for r in lines),
                                                        rel=1e-9, abs=1e-9)
    added = sum(r["len_m"] for r in rows if r["part"] == "added")
    g = s["growth"]
    assert g["total_m"] == pytest.approx(s["totals"]["new"]["len_m"] + added)
    assert g["per_m2"] == pytest.approx(g["total_m"] / s["area_m2"])
    u = s["pairs"][0]["uncertainty"]
    assert u["u_width_mm"] == pytest.approx(2 * math.sqrt(2) * 0.5 * 8.0)  # 11.3 mm at 8 mm/px


def test_changes_within_uncertainty_are_unchanged(compared: Path) -> None:
    for r in _read(ChangeLayout(compared).path("change")):
        if r["change"] == "widened":
            assert r["d_w_med_mm"] > r["u_w_mm"] and r["sig_w"] == 1
        if r["change"] == "extended" and r["part"] == "line":
            assert r["d_len_m"] > r["u_len_m"] and r["sig_len"] == 1
        if r["change"] == "unchanged" and np.isfinite(r["d_w_med_mm"]):
            assert not r["d_w_med_mm"] > r["u_w_mm"]


def test_html_report_has_the_change_sections(compared: Path) -> None:
    page = ChangeLayout(compared).path("report").read_text(encoding="utf-8")
    for text in ("What changed", "Registration", "Uncertainty model", "Largest changes",
                 "data:image/", "SIFT"):
        assert text in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_existing_outputs_are_refused_then_replaced(compared: Path, change_pair: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    runs = change_pair / "truth_runs"
    before = ChangeLayout(compared).path("summary").stat().st_mtime_ns
    args = ["-q", "compare", str(runs / "site_2021"), str(runs / "site_2024"),
            "--out", str(compared), "--no-report"]
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("csbsr: ")]
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]
    assert ChangeLayout(compared).path("summary").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0
    assert ChangeLayout(compared).path("summary").stat().st_mtime_ns != before
