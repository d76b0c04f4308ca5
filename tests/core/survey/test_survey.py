"""``csbsr survey`` in one process (``--workers 1``): failures isolated, resume, cancel."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from csbsr.core.errors import Cancelled, InvalidInputError
from csbsr.core.progress import RecordingProgress


def _hidden(folder: Path) -> list:
    """Every hidden (staging, partial) file or folder under ``folder``."""
    return [p for p in folder.rglob(".*")]


def test_bad_inputs_in_the_middle_are_reported_and_the_rest_completes(
        batch: Path, line_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import pyproj
    import shapely
    from csbsr.core.cli import main
    from pyogrio.raw import read

    before = sorted(p.name for p in batch.iterdir())
    out = tmp_path / "survey"
    code = main(["--progress", "json", "survey", str(batch), "--out", str(out), "--workers",
                 "1", "--threads", "1", "--model", str(line_model), "--device", "cpu",
                 "--precision", "fp32",
                 "--tile-px", "32", "--no-report"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    done = {e["stem"]: e["status"] for e in events if e["event"] == "orthophoto"}
    assert done == {"a": "done", "b_nocrs": "failed", "c_corrupt": "failed", "d": "done",
                    "e": "done"}
    res = events[-1]
    assert res["event"] == "result" and res["totals"]["n_failed"] == 2
    assert set(res["outputs"]) == {"cracks", "summary", "report"}
    assert all(Path(p).is_file() for p in res["outputs"].values())

    doc = json.loads((out / "survey_summary.json").read_text())
    rows = {r["stem"]: r for r in doc["orthophotos"]}
    assert "has no CRS" in rows["b_nocrs"]["error"]
    assert "corrupt" in rows["c_corrupt"]["error"]
    assert all("\n" not in (r["error"] or "") for r in rows.values())
    assert "has no CRS" in (out / "survey_summary.html").read_text()
    assert doc["crs_source"] == "the first input's" and "33N" in doc["crs_name"]
    # one run folder per good orthophoto, as `csbsr run` writes it; none for the bad ones
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["a", "d", "e"]
    assert (out / "runs" / "d" / "d_cracks.gpkg").is_file()
    assert not _hidden(out)
    assert sorted(p.name for p in batch.iterdir()) == before  # nothing next to the inputs

    # the survey layer: every line with its source, d's reprojected from UTM 32N to 33N
    meta, _f, wkb, data = read(str(out / "survey_cracks.gpkg"), layer="crack_seg")
    assert pyproj.CRS(meta["crs"]).to_epsg() == 32633
    source = data[list(meta["fields"]).index("source")]
    assert sorted(set(source)) == ["a.tif", "d.tif", "e.tif"]
    merged_d = shapely.from_wkb(wkb[source == "d.tif"])
    _m, _f2, own_wkb, _d = read(str(out / "runs" / "d" / "d_cracks.gpkg"), layer="crack_seg")
    tr = pyproj.Transformer.from_crs(32632, 32633, always_xy=True)
    own = np.asarray(shapely.from_wkb(own_wkb)[0].coords)
    x, y = tr.transform(own[:, 0], own[:, 1])
    assert np.allclose(np.asarray(merged_d[0].coords), np.column_stack([x, y]), atol=1e-6)
    assert len(merged_d) == len(own_wkb)


def test_rerun_after_a_killed_survey_skips_what_is_complete(
        batch: Path, line_model: Path, tmp_path: Path) -> None:
    from csbsr.core.survey.survey import run_survey

    for bad in ("b_nocrs.tif", "c_corrupt.tif"):
        (batch / bad).unlink()
    out = tmp_path / "survey"
    cmd = [sys.executable, "-m", "csbsr.core.cli", "--progress", "json", "survey", str(batch),
           "--out", str(out), "--workers", "1", "--threads", "1", "--model", str(line_model),
           "--device", "cpu",
           "--precision", "fp32", "--tile-px", "32", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for line in proc.stdout:  # kill it once the first orthophoto is complete
            event = json.loads(line)
            if event["event"] == "orthophoto":
                assert event["stem"] == "a" and event["status"] == "done"
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert not (out / "survey_summary.json").exists()
    first = (out / "runs" / "a" / "a_prob.tif").read_bytes()

    progress = RecordingProgress()
    res = run_survey([batch], out, _settings(line_model), progress)
    assert [(r.stem, r.status) for r in res.records] == [("a", "skipped"), ("d", "done"),
                                                         ("e", "done")]
    assert (out / "runs" / "a" / "a_prob.tif").read_bytes() == first  # not redone
    assert res.summary["totals"]["n_skipped"] == 1
    assert res.records[0].summary["total_len_m"] > 0  # its figures come from its run folder
    assert not _hidden(out)

    again = run_survey([batch], out, _settings(line_model))  # nothing left to do
    assert [r.status for r in again.records] == ["skipped"] * 3


def _settings(model: Path, **kw: object):
    from csbsr.core.detect.config import InferenceConfig, TileConfig
    from csbsr.core.survey.config import SurveyConfig

    return SurveyConfig(inference=InferenceConfig(model_path=str(model), device="cpu",
                                                  precision="fp32",
                                                  tile=TileConfig(tile_px=32)),
                        report=False, workers=1, threads=1, **kw)


def test_cancel_leaves_complete_runs_and_no_partial_file(batch: Path, line_model: Path,
                                                         tmp_path: Path) -> None:
    from csbsr.core.survey.survey import run_survey

    for bad in ("b_nocrs.tif", "c_corrupt.tif"):
        (batch / bad).unlink()
    out = tmp_path / "survey"
    progress = RecordingProgress(cancel_at_percent=45.0)  # in the second of three
    with pytest.raises(Cancelled):
        run_survey([batch], out, _settings(line_model), progress)
    assert sorted(p.name for p in out.iterdir()) == ["runs"]  # no survey file
    assert [p.name for p in (out / "runs").iterdir()] == ["a"]
    assert (out / "runs" / "a" / "a_cracks.gpkg").is_file()
    assert not _hidden(out)


def test_a_survey_folder_of_other_settings_is_refused(batch: Path, line_model: Path,
                                                      tmp_path: Path) -> None:
    from csbsr.core.survey.survey import run_survey

    out = tmp_path / "survey"
    out.mkdir()
    (out / "survey_summary.json").write_text(json.dumps(
        {"format": "csbsr-survey-summary", "fingerprint": "0123456789abcdef"}))
    with pytest.raises(InvalidInputError, match="other settings.*--overwrite"):
        run_survey([batch], out, _settings(line_model))
    assert sorted(p.name for p in out.iterdir()) == ["survey_summary.json"]
