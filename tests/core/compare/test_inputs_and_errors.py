"""Inputs and refusals on the real pair: survey folders, no overlap, no registration possible,
a missing orthophoto, and ``--no-registration`` on aligned data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pytest
import rasterio
from affine import Affine
from csbsr.core.cli import main
from csbsr.core.compare import CompareConfig, compare_inspections
from csbsr.core.errors import InvalidInputError
from csbsr.core.layout import SURVEY_RUNS_DIR, ChangeLayout, RunLayout


def _raster_copy(src: Path, dst: Path, dx: float = 0.0,
                 fn: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> Path:
    """Copy a GeoTIFF, moved by ``dx`` metres east and its pixels passed through ``fn``."""
    with rasterio.open(src) as s:
        profile, data, t = s.profile, s.read(), s.transform
    profile.update(transform=Affine(t.a, t.b, t.c + dx, t.d, t.e, t.f))
    with rasterio.open(dst, "w", **profile) as d:
        d.write(fn(data) if fn is not None else data)
    return dst


def _one_line_error(capsys: pytest.CaptureFixture, *words: str) -> str:
    """The CLI's error: one line naming the problem and the fix."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("csbsr: ")]
    assert len(lines) == 1 and lines[0].startswith("csbsr: error: "), err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_survey_folders_pair_runs_whose_extents_overlap(change_pair: Path, tmp_path: Path,
                                                        pair_script: Any) -> None:
    runs = change_pair / "truth_runs"
    old = tmp_path / "survey_2021"
    new = tmp_path / "survey_2024"
    shutil.copytree(runs / "site_2021", old / SURVEY_RUNS_DIR / "site_2021")
    shutil.copytree(runs / "site_2024", new / SURVEY_RUNS_DIR / "site_2024")
    far = tmp_path / "far"
    far.mkdir()
    ortho = _raster_copy(change_pair / "site_2024.tif", far / "far_2024.tif", dx=100.0)
    labels = _raster_copy(change_pair / "site_2024_truth.tif", far / "far_truth.tif", dx=100.0)
    pair_script.truth_run(ortho, labels, new / SURVEY_RUNS_DIR / "far_2024")
    res = compare_inspections(old, new, tmp_path / "out", CompareConfig(report=False))
    s = res.summary
    assert s["old"]["kind"] == s["new"]["kind"] == "survey"
    assert s["new"]["runs"] == ["far_2024", "site_2024"]
    assert [(p["old"], p["new"]) for p in s["pairs"]] == [("site_2021", "site_2024")]
    assert s["totals"]["new"]["n"] == 2 and s["totals"]["extended"]["n"] == 2
    assert not ChangeLayout(tmp_path / "out").path("report").exists()


def test_inspections_that_do_not_overlap_are_refused(change_pair: Path, tmp_path: Path,
                                                     pair_script: Any,
                                                     capsys: pytest.CaptureFixture) -> None:
    ortho = _raster_copy(change_pair / "site_2024.tif", tmp_path / "moved.tif", dx=100.0)
    labels = _raster_copy(change_pair / "site_2024_truth.tif", tmp_path / "lab.tif", dx=100.0)
    new = pair_script.truth_run(ortho, labels, tmp_path / "moved_run")
    rc = main(["-q", "compare", str(change_pair / "truth_runs" / "site_2021"), str(new),
               "--out", str(tmp_path / "out")])
    assert rc == 2
    _one_line_error(capsys, "do not overlap", "same site")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("kind,words", [
    ("mirrored", ("cannot be registered", "--no-registration")),
    ("flat", ("too little texture", "--no-registration")),
])
def test_pairs_that_cannot_be_registered_are_refused(change_pair: Path, tmp_path: Path,
                                                     kind: str, words: tuple,
                                                     capsys: pytest.CaptureFixture) -> None:
    """A different structure (the same site mirrored: same texture statistics, no consistent
    transform) and a texture-less photo are refused, naming the way out."""
    def mirror(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[:, :, ::-1])

    def flat(a: np.ndarray) -> np.ndarray:
        return np.full_like(a, 128)

    bad = _raster_copy(change_pair / "site_2024.tif", tmp_path / f"{kind}.tif",
                       fn=mirror if kind == "mirrored" else flat)
    runs = change_pair / "truth_runs"
    out = tmp_path / "out"
    rc = main(["-q", "compare", str(runs / "site_2021"), str(runs / "site_2024"),
               "--new-ortho", str(bad), "--out", str(out)])
    assert rc == 2
    _one_line_error(capsys, *words)
    assert not out.exists() or not any(out.iterdir())


def test_a_missing_orthophoto_names_the_options(change_pair: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    old = tmp_path / "old_run"
    shutil.copytree(change_pair / "truth_runs" / "site_2021", old)
    run_json = RunLayout(old, "site_2021").path("run")
    run = json.loads(run_json.read_text())
    run["input"]["path"] = str(tmp_path / "gone" / "site_2021.tif")
    run_json.write_text(json.dumps(run))
    new = change_pair / "truth_runs" / "site_2024"
    args = ["-q", "compare", str(old), str(new), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    _one_line_error(capsys, "OLD orthophoto", "--old-ortho", "--no-registration")
    assert main([*args, "--old-ortho", str(change_pair / "site_2021.tif")]) == 0


def test_no_registration_on_aligned_data_finds_no_change(change_pair: Path,
                                                         tmp_path: Path) -> None:
    """The same run twice, trusted as aligned: every line unchanged, identity reported."""
    run = change_pair / "truth_runs" / "site_2021"
    res = compare_inspections(run, run, tmp_path / "out",
                              CompareConfig(register=False, report=False))
    s = res.summary
    reg = s["pairs"][0]["registration"]
    assert reg["method"] == "none" and reg["shift_total_cm"] == 0.0
    assert reg["rmse_mm"] == pytest.approx(8.0)  # assumed: one GSD
    assert s["totals"]["unchanged"]["n"] > 50
    for c in ("new", "extended", "widened", "gone"):
        assert s["totals"][c]["n"] == 0, c
    assert s["growth"]["lost_pieces_m"] == 0.0


def test_registering_a_run_to_itself_gives_the_identity(change_pair: Path,
                                                        tmp_path: Path) -> None:
    run = change_pair / "truth_runs" / "site_2024"
    res = compare_inspections(run, run, tmp_path / "out", CompareConfig(report=False))
    reg = res.pairs[0].registration
    assert reg.model in ("translation", "similarity", "affine")
    assert np.hypot(*reg.shift_m) < 1e-4 and abs(reg.rotation_deg) < 1e-3
    assert res.summary["totals"]["unchanged"]["n"] == sum(
        t["n"] for t in res.summary["totals"].values())


def test_a_forced_affine_registration_is_as_good(change_pair: Path, truth: Any,
                                                 tmp_path: Path) -> None:
    runs = change_pair / "truth_runs"
    res = compare_inspections(runs / "site_2021", runs / "site_2024", tmp_path / "out",
                              CompareConfig(reg_model="affine", report=False))
    reg = res.pairs[0].registration
    t = np.vstack((np.array(truth["transform_old_to_new"]), [0, 0, 1]))
    x0, y0, x1, y1 = res.pairs[0].area.bounds
    grid = np.array([[x, y, 1.0] for x in (x0, x1) for y in (y0, y1)])
    assert reg.model == "affine"
    assert np.linalg.norm((reg.matrix @ grid.T - t @ grid.T)[:2], axis=0).max() < 0.008


def test_bad_paths_are_refused(tmp_path: Path, change_pair: Path) -> None:
    run = change_pair / "truth_runs" / "site_2021"
    with pytest.raises(InvalidInputError, match="folder of its own"):
        compare_inspections(run, run, run)
    with pytest.raises(InvalidInputError, match="is not a folder"):
        compare_inspections(tmp_path / "none", tmp_path, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no finished run"):
        compare_inspections(tmp_path / "empty", tmp_path / "empty", tmp_path / "out")
