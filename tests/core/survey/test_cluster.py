"""``csbsr survey`` on a real ``distributed.LocalCluster`` with 2 worker processes: the same
files as sequential runs, failures isolated, huge rasters split across workers, a killed
worker's task retried, cancel without partial files, the model loaded once per worker."""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path

import pytest
from csbsr.core.errors import Cancelled
from csbsr.core.progress import RecordingProgress


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes x 1 thread, shared by the tests that do not kill workers."""
    from distributed import LocalCluster

    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address="127.0.0.1:0", env=env, silence_logs=logging.ERROR)
    yield c
    c.close()


def _sequential(ortho: Path, out: Path, cfg):
    """``csbsr run`` of ``ortho`` with the survey's settings and its 1 torch thread."""
    from csbsr.core.run import run_pipeline

    return run_pipeline(ortho, out, dataclasses.replace(cfg.inference, threads=1),
                        vectorize_cfg=cfg.vectorize, report=cfg.report)


def _no_partial(folder: Path) -> None:
    assert not list(folder.rglob(".*")), list(folder.rglob(".*"))


def test_survey_on_two_workers_equals_sequential_runs(cluster, batch: Path, line_model: Path,
                                                      tmp_path: Path, survey_settings,
                                                      lines) -> None:
    from csbsr.core.model.cache import load_counts
    from csbsr.core.survey.survey import run_survey
    from distributed import Client

    cfg = survey_settings(line_model, scheduler=cluster.scheduler_address, threads=1)
    out = tmp_path / "survey"
    res = run_survey([batch], out, cfg)
    status = {r.stem: r.status for r in res.records}
    assert status == {"a": "done", "b_nocrs": "failed", "c_corrupt": "failed", "d": "done",
                      "e": "done"}
    assert "has no CRS" in res.records[1].error and "corrupt" in res.records[2].error
    assert len({r.worker for r in res.records if r.status == "done"}) == 2  # both worked
    for rec in res.records:
        if rec.status != "done":
            continue
        seq = _sequential(Path(rec.input), tmp_path / "seq" / rec.stem, cfg)
        run = Path(rec.folder)
        for role in ("prob", "mask"):
            assert (run / seq.outputs[role].name).read_bytes() == seq.outputs[role].read_bytes()
        assert lines.assert_same(run / seq.outputs["cracks"].name, seq.outputs["cracks"]) == 1
        assert sorted(p.name for p in run.iterdir()) == sorted(seq.outputs[r].name
                                                               for r in seq.outputs)
    _no_partial(out)
    with Client(cluster.scheduler_address) as client:  # loaded once per worker, from its path
        counts = client.run(load_counts)
    assert len(counts) == 2
    assert all(list(c.values()) == [1] and str(line_model) in next(iter(c))
               for c in counts.values())


def test_a_huge_raster_is_split_across_workers_with_identical_output(
        cluster, make_ortho, line_model: Path, tmp_path: Path, survey_settings, lines) -> None:
    from csbsr.core.survey.survey import run_survey

    ortho = make_ortho(tmp_path / "mosaic.tif")
    # "huge" = over 0.01 Mpix; blocks of 5000 px: each detection window (32 LR rows) and
    # each vectorization tile is a block
    cfg = survey_settings(line_model, scheduler=cluster.scheduler_address, threads=1,
                          split_mpix=0.01, block_mpix=0.005)
    res = run_survey([ortho], tmp_path / "survey", cfg)
    rec, = res.records
    assert rec.status == "done" and rec.blocks == 3 + 8
    assert len(rec.block_workers) == 2
    seq = _sequential(ortho, tmp_path / "seq", cfg)
    for role in ("prob", "mask"):
        assert (Path(rec.folder) / seq.outputs[role].name).read_bytes() == \
            seq.outputs[role].read_bytes()
    gpkg = Path(rec.folder) / seq.outputs["cracks"].name
    assert lines.assert_same(gpkg, seq.outputs["cracks"]) == 1
    # the one crack crosses both detection block borders (HR rows 128 and 256) and three
    # vectorization tile borders, and is still one line
    (r0, r1, c0, c1), = lines.extents(gpkg, seq.outputs["mask"])
    assert r0 < 128 < 256 < r1 and c0 < 192 < 576 < c1
    assert res.summary["orthophotos"][0]["blocks"] == 11


def test_cancel_on_the_cluster_leaves_no_partial_file(cluster, batch: Path, line_model: Path,
                                                      tmp_path: Path, survey_settings) -> None:
    from csbsr.core.layout import RunLayout
    from csbsr.core.survey.survey import run_survey

    for bad in ("b_nocrs.tif", "c_corrupt.tif"):
        (batch / bad).unlink()
    cfg = survey_settings(line_model, scheduler=cluster.scheduler_address, threads=1)
    out = tmp_path / "survey"
    progress = RecordingProgress(cancel_at_percent=20.0)  # a and d are half-way through
    with pytest.raises(Cancelled):
        run_survey([batch], out, cfg, progress)
    assert 20.0 <= max(progress.percents) < 95.0
    _no_partial(out)
    assert not (out / "survey_summary.json").exists()
    for run in (out / "runs").iterdir() if (out / "runs").exists() else []:
        assert RunLayout(run, run.name).is_complete()  # finished before the cancel, or absent


class _KillAt:
    """A progress that kills its worker process at 40 % of the run, once (marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def set_progress(self, percent: float) -> None:
        if percent >= 40.0 and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)

    def set_status(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False


class _DieOnce:
    """The survey task, except that orthophoto ``d`` kills its worker mid-run once."""

    def __init__(self, markers: Path) -> None:
        self.markers = markers

    def __call__(self, task, progress=None):
        from csbsr.core.survey.tasks import run_one

        if task.stem == "d":
            return run_one(task, _KillAt(self.markers / task.stem))
        return run_one(task, progress)


@pytest.mark.slow
def test_a_killed_workers_task_is_retried(batch: Path, line_model: Path, tmp_path: Path,
                                          survey_settings) -> None:
    import cloudpickle
    from csbsr.core.survey.survey import run_survey

    for other in ("b_nocrs.tif", "c_corrupt.tif", "e.tif"):
        (batch / other).unlink()
    module = sys.modules[_DieOnce.__module__]
    cloudpickle.register_pickle_by_value(module)  # the workers cannot import this test
    try:
        markers = tmp_path / "markers"
        markers.mkdir()
        cfg = survey_settings(line_model, workers=2, threads=1)  # a LocalCluster of its own
        out = tmp_path / "survey"
        progress = RecordingProgress()
        res = run_survey([batch], out, cfg, progress, task_fn=_DieOnce(markers))
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert (markers / "d").exists()  # its first worker died at 40 %
    status = {r.stem: r.status for r in res.records}
    assert status == {"a": "done", "d": "done"}
    assert (out / "runs" / "d" / "d_cracks.gpkg").is_file()
    assert res.summary["where"].startswith("local Dask cluster: 2 workers x 1")
    _no_partial(out)
