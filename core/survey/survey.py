"""``csbsr survey``: many orthophotos (or huge ones) through the one run pipeline, on this
machine or a Dask cluster, into one survey folder (:class:`~..layout.SurveyLayout`).

1. Inputs are resolved (:mod:`.inputs`) and each one's run folder ``runs/<stem>/`` checked:
   a complete run of the same input is **skipped** (resume), anything else is redone.
   A survey folder made with other settings is refused unless ``overwrite``.
2. The remaining orthophotos run as tasks (:func:`~.tasks.run_one` = ``run_pipeline``): in
   this process (1 worker), on a ``distributed.LocalCluster`` sized by
   :func:`~.cluster.plan_workers`, or on the cluster of ``scheduler``. An orthophoto above
   ``split_mpix`` input megapixels is run in blocks on several workers (identical outputs).
   An orthophoto's error is recorded and the others go on; a task whose worker died is
   retried by the scheduler.
3. The survey GeoPackage (every line, field ``source``, one CRS) and the summary (JSON +
   HTML) are written in a staging folder and committed together. A cancel (or a crash)
   leaves the completed run folders, which a rerun skips, and no partial file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import Staging, check_output_folder
from ..errors import InvalidInputError
from ..layout import SURVEY_FILES, RunLayout, SurveyLayout
from ..model.cache import ModelRef
from ..progress import NullProgress, Progress, check_cancelled, report_metrics, sub_progress
from . import summary as summ
from .cluster import WorkerPlan, machine_cores, machine_memory, open_client, plan_workers
from .config import SurveyConfig
from .inputs import resolve_inputs
from .merge import merge_lines, target_crs
from .runner import TaskFn, run_in_process, run_on_dask
from .tasks import RunRecord, RunTask, run_one


@dataclass(frozen=True)
class SurveyResult:
    """What :func:`run_survey` produced.

    Attributes:
        layout: the survey folder.
        outputs: survey files by role (cracks, summary, report).
        records: one per orthophoto, in input order.
        summary: the survey summary document (``survey_summary.json``).
        seconds: wall time.
    """

    layout: SurveyLayout
    outputs: Dict[str, Path]
    records: List[RunRecord]
    summary: Dict[str, Any]
    seconds: float


def _probe(path: Path) -> Tuple[Optional[int], Optional[str]]:
    """(pixels, CRS WKT) of a raster from its header; None where unreadable."""
    import rasterio

    try:
        with rasterio.open(str(path)) as ds:
            return int(ds.width) * int(ds.height), (ds.crs.to_wkt() if ds.crs else None)
    except Exception:  # any unreadable input: its own run reports the error
        return None, None


def _complete(run: RunLayout, raster: Path) -> bool:
    """True when ``run`` is a complete run of ``raster``."""
    if not run.is_complete():
        return False
    try:
        doc = json.loads(run.path("run").read_text(encoding="utf-8"))
        return Path(doc["input"]["path"]).resolve() == raster.resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _skipped(run: RunLayout, raster: Path, previous: Optional[Dict[str, Any]]) -> RunRecord:
    s = json.loads(run.path("summary").read_text(encoding="utf-8"))
    rows = {r.get("stem"): r for r in (previous or {}).get("orthophotos", [])}
    old = rows.get(run.stem) or {}
    return RunRecord(stem=run.stem, input=str(raster), folder=str(run.folder),
                     status="skipped", seconds=float(old.get("seconds") or 0.0), summary=s,
                     worker=str(old.get("worker") or ""), blocks=int(old.get("blocks") or 0))


def _uses_gpu(cfg: SurveyConfig) -> bool:
    """True when the runs here would use a GPU (raises the device error of a GPU requested
    but absent, once, before any work)."""
    if cfg.inference.device.strip().lower() == "cpu":
        return False
    from ..device import resolve_device

    return resolve_device(cfg.inference.device, cfg.inference.precision).is_gpu


def _sweep(run: RunLayout) -> None:
    """Remove the staging folder of an unfinished run, and its run folder if left empty."""
    shutil.rmtree(run.staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        run.folder.rmdir()  # only when empty


def _check_folder(layout: SurveyLayout, inputs: Sequence[Path], cfg: SurveyConfig,
                  fingerprint: str) -> Optional[Dict[str, Any]]:
    folder = check_output_folder(layout.folder)
    if any(p.resolve() == folder.resolve() for p in inputs):
        raise InvalidInputError(f"--out {folder} is one of the inputs: pass a folder")
    previous = summ.read_previous(layout.path("summary"))
    if previous and previous.get("fingerprint") != fingerprint and not cfg.overwrite:
        raise InvalidInputError(
            f"{folder} holds a survey made with other settings or another model: pass "
            "--overwrite to redo every orthophoto, or choose another --out")
    return previous


def run_survey(specs: Sequence[Any], out: Any, cfg: Optional[SurveyConfig] = None,
               progress: Optional[Progress] = None, task_fn: TaskFn = run_one
               ) -> SurveyResult:
    """Run a survey (see the module doc).

    Args:
        specs: orthophotos, folders, glob patterns or list files (:mod:`.inputs`).
        out: the survey folder.
        cfg: settings (None = defaults).
        progress: progress/cancel receiver; a JSON-lines progress also gets an
            ``orthophoto`` event per finished orthophoto.
        task_fn: the per-orthophoto task (:func:`~.tasks.run_one`, or a wrapper of it).

    Raises:
        InvalidInputError: no input, colliding names, a bad output folder, other settings.
        CheckpointError: the model is missing.
        Cancelled: the user cancelled (completed run folders stay; no partial file).
    """
    progress = progress if progress is not None else NullProgress()
    cfg = cfg if cfg is not None else SurveyConfig()
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    inputs = resolve_inputs([str(s) for s in specs])
    layout = SurveyLayout(Path(out))
    model = ModelRef.of(cfg.inference.model_path)
    fingerprint = cfg.fingerprint(model.sha256)
    previous = _check_folder(layout, inputs, cfg, fingerprint)
    probes = {p: _probe(p) for p in inputs}
    records: Dict[str, RunRecord] = {}
    todo: List[Path] = []
    for p in inputs:
        run = layout.run(p.stem)
        if not cfg.overwrite and _complete(run, p):
            records[p.stem] = _skipped(run, p, previous)
        else:
            todo.append(p)
    progress.set_status(f"{len(inputs)} orthophotos: {len(inputs) - len(todo)} complete "
                        f"earlier, {len(todo)} to run")
    split_px = cfg.split_mpix * 1e6
    big = {p for p in todo if split_px > 0 and (probes[p][0] or 0) > split_px}
    units = sum(max(1, int((probes[p][0] or 0) // (cfg.block_mpix * 1e6)))
                if p in big else 1 for p in todo)
    plan = plan_workers(max(1, units), machine_cores(), cfg.workers, cfg.threads,
                        machine_memory())
    if cfg.workers is None and cfg.scheduler is None and _uses_gpu(cfg):
        plan = WorkerPlan(1, plan.threads if cfg.threads else machine_cores(),
                          "one process drives the GPU (several GPUs: one `dask worker` per "
                          "GPU with CUDA_VISIBLE_DEVICES, and --scheduler)")
    in_process = cfg.scheduler is None and plan.workers == 1
    where = (f"this process (no Dask), {plan.threads} torch thread(s)" if todo
             else "nothing to run: every orthophoto was complete")
    tasks = [RunTask(raster=str(p), stem=p.stem, folder=str(layout.run(p.stem).folder),
                     cfg=cfg, model=model, threads=plan.threads,
                     split=p in big and not in_process) for p in todo]
    known = [float(n) for n in (probes[p][0] for p in todo) if n]
    fallback = sum(known) / len(known) if known else 1.0
    weights = [float(probes[p][0] or fallback) for p in todo]
    emit = getattr(progress, "emit", None)

    def on_record(rec: RunRecord) -> None:
        records[rec.stem] = rec
        if emit is not None:
            emit("orthophoto", stem=rec.stem, input=rec.input, status=rec.status,
                 error=rec.error, seconds=rec.seconds, folder=rec.folder)
        if rec.status == "failed":
            progress.warn(f"{Path(rec.input).name} failed: {rec.error}")

    report_metrics(progress, stage="survey", workers=plan.workers, threads=plan.threads)
    runs = sub_progress(progress, 0.0, 95.0)
    try:
        if tasks and in_process:
            run_in_process(tasks, weights, task_fn, runs, on_record)
        elif tasks:
            progress.set_status("starting the Dask cluster" if cfg.scheduler is None else
                                f"connecting to the Dask scheduler {cfg.scheduler}")
            with open_client(cfg.scheduler, plan, model, cfg.threads) as cluster:
                where = cluster.where
                progress.set_status(f"running on {where}")
                tasks = [dataclasses.replace(t, threads=cluster.threads) for t in tasks]
                run_on_dask(cluster.client, tasks, weights, task_fn, runs, on_record,
                            cfg.retries)
    finally:  # what runs that did not finish left (a killed worker's staging folder too)
        for t in tasks:
            rec = records.get(t.stem)
            if rec is None or rec.status != "done":
                _sweep(layout.run(t.stem))
    check_cancelled(progress)
    ordered = [records[p.stem] for p in inputs]
    extra = {"folder": str(layout.folder), "fingerprint": fingerprint,
             "settings": cfg.settings(model.sha256), "model": model.path, "where": where,
             "workers": None if in_process or cfg.scheduler else plan.workers,
             "threads": plan.threads if cfg.scheduler is None else cfg.threads,
             "sizing": plan.why if cfg.scheduler is None else "the cluster's own",
             "started_utc": started}
    outputs, doc = _write_outputs(layout, ordered, probes, inputs, cfg, extra, t0, progress)
    progress.set_progress(100.0)
    return SurveyResult(layout=layout, outputs=outputs, records=ordered, summary=doc,
                        seconds=time.perf_counter() - t0)


def _write_outputs(layout: SurveyLayout, records: List[RunRecord], probes: Dict[Path, Any],
                   inputs: List[Path], cfg: SurveyConfig, extra: Dict[str, Any], t0: float,
                   progress: Progress) -> Tuple[Dict[str, Path], Dict[str, Any]]:
    """Merge the lines and write the summary, all or nothing (a staging folder)."""
    progress.set_status("merging the crack lines of every orthophoto")
    wkts = [(r.summary or {}).get("crs_wkt") or probes[p][1] for r, p in zip(records, inputs)]
    crs, crs_source = target_crs(cfg.crs, wkts)
    measured = [(Path(r.input).name, layout.run(r.stem).path("cracks")) for r in records
                if r.status in ("done", "skipped")]
    staging = Staging(layout.folder, layout.staging)
    with staging:
        n_lines = None
        if crs is not None:
            n_lines = merge_lines(measured, crs, staging.path(layout.path("cracks")))
        else:
            progress.warn("no orthophoto has a CRS: no survey GeoPackage was written")
        progress.set_progress(98.0)
        doc = summ.build_summary(records, layout.folder, {
            **extra, "crs_name": crs.name if crs is not None else None,
            "crs_wkt": crs.to_wkt() if crs is not None else None, "crs_source": crs_source,
            "n_lines": n_lines, "seconds": round(time.perf_counter() - t0, 3),
            "outputs": {r: str(layout.path(r)) for r in SURVEY_FILES
                        if r != "cracks" or crs is not None}})
        summ.write_json(doc, staging.path(layout.path("summary")))
        staging.path(layout.path("report")).write_text(summ.render_html(doc), encoding="utf-8")
        check_cancelled(progress)
        staging.commit(remove=[layout.path(r) for r in SURVEY_FILES])
    return {r: layout.path(r) for r in SURVEY_FILES if layout.path(r).exists()}, doc
