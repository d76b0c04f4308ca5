"""The one run pipeline (``csbsr run``; the Processing algorithms and the dock start it too):
orthophoto -> crack rasters -> measured crack lines -> summary -> report.

Stages and their share of the progress bar: detection 0-80 %, vectorization of the
probability raster 80-93 %, GeoPackage + summary JSON (+ extra sinks) 93-95 %, HTML report and
report content 95-100 %. Every file is written in the run's staging folder
(:attr:`RunLayout.staging`) and moved into the output folder only when every stage has
succeeded (:class:`core.atomic.Staging`): a failed or cancelled run leaves the earlier
results as they were and no file of its own. Lengths are final when the summary is computed
(the ellipsoidal length mode is applied inside the vectorizer), so the summary JSON, the
layer's ``len_m`` and the report agree.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Protocol, Sequence

from .atomic import Staging, check_output_folder
from .config import to_dict
from .detect.config import InferenceConfig
from .detect.detect import DetectResult, detect
from .errors import OutputExistsError
from .layout import RUN_FILES, RunLayout
from .progress import NullProgress, Progress, check_cancelled, report_metrics, sub_progress
from .raster.tiling import BlockMap
from .records import CrackNetwork
from .vectorize.config import VectorizeConfig


class LineSink(Protocol):
    """Somewhere the crack lines of a run go besides the run's GeoPackage (e.g. a Shapefile
    the user named). ``write`` is called inside the run's transaction with the staging
    folder; it returns the files it wrote there (moved into place at commit)."""

    def write(self, network: CrackNetwork, staging: Staging) -> Sequence[Path]:
        """Write ``network``; return the staged files."""


@dataclass(frozen=True)
class RunResult:
    """What ``run_pipeline`` produced.

    Attributes:
        detect: the detection stage's result (paths as committed).
        layout: the run's file layout.
        outputs: every output file by role (prob, mask, sr, run, cracks, summary, report...).
        summary: the crack summary (total length, density, counts...).
        seconds: wall time of the whole run.
    """

    detect: DetectResult
    layout: RunLayout
    outputs: Dict[str, Path]
    summary: Dict[str, Any]
    seconds: float


def run_pipeline(raster: Any, out_dir: Any, cfg: Optional[InferenceConfig] = None,
                 progress: Optional[Progress] = None, model: Any = None,
                 vectorize_cfg: Optional[VectorizeConfig] = None,
                 report: bool = True, sinks: Sequence[LineSink] = (),
                 aoi_shape: Any = None,
                 block_map: Optional[BlockMap] = None) -> RunResult:
    """Run the whole job on one orthophoto into ``out_dir`` (see the module doc).

    Args:
        raster: the input orthophoto (any GDAL raster).
        out_dir: output folder (created if missing; never the input's own file).
        cfg: inference configuration (None = defaults).
        progress: progress/cancel receiver.
        model: an optional already loaded ``LoadedModel``.
        vectorize_cfg: vectorization options; its threshold is replaced by the detection
            threshold (the model card's unless overridden) so mask and lines agree; an unset
            ``seed_threshold`` (None) takes the card's hysteresis seed (0 = off).
        report: also write the HTML report (+ CSV tables) and the report content JSON.
        sinks: extra destinations of the crack lines.
        aoi_shape: optional shapely (multi)polygon in the raster CRS: cracks are measured
            only inside it (detection covers ``cfg.aoi``, a box).
        block_map: run detection and vectorization in blocks through it (a huge raster on
            several Dask workers, ``csbsr survey``); the outputs are the same as without it
            (see :func:`~.detect.detect.detect` and :func:`~.vectorize.api.vectorize_raster`).

    Raises:
        OutputExistsError: results of this orthophoto exist in ``out_dir`` and
            ``cfg.overwrite`` is False (checked before any work).
        The errors of :func:`csbsr.core.detect.detect.detect` and of the later stages.
    """
    from .report.html import write_html_report
    from .vectorize.api import vectorize_raster
    from .vectorize.export import write_network, write_summary_json

    progress = progress if progress is not None else NullProgress()
    cfg = cfg if cfg is not None else InferenceConfig()
    t0 = time.perf_counter()
    layout = RunLayout.for_input(raster, out_dir)
    _check_output_folder(raster, layout, cfg.overwrite)
    _check_measurable(raster)
    staging = Staging(layout.folder, layout.staging)
    if staging.stale:
        progress.warn(f"removed the unfinished files of an earlier interrupted run in "
                      f"{layout.staging}")
    with staging:
        report_metrics(progress, stage="detect")
        det = detect(raster, staging.dir, dataclasses.replace(cfg, overwrite=True),
                     sub_progress(progress, 0.0, 80.0), model=model, block_map=block_map)
        check_cancelled(progress)
        vcfg = vectorize_cfg or VectorizeConfig()
        seed = vcfg.seed_threshold if vcfg.seed_threshold is not None else det.seed_threshold
        vcfg = dataclasses.replace(vcfg, threshold=det.threshold, seed_threshold=seed)
        report_metrics(progress, stage="vectorize")
        progress.set_status("vectorizing cracks")
        network = vectorize_raster(det.prob_path, vcfg, sub_progress(progress, 80.0, 93.0),
                                   model_name=_model_name(cfg, model), aoi=aoi_shape,
                                   block_map=block_map)
        check_cancelled(progress)
        report_metrics(progress, stage="export")
        write_network(network, staging.path(layout.path("cracks")))
        write_summary_json(network, staging.path(layout.path("summary")))
        for sink in sinks:
            sink.write(network, staging)
        progress.set_progress(95.0)
        if report:
            check_cancelled(progress)
            report_metrics(progress, stage="report")
            progress.set_status("writing the HTML report")
            write_html_report(staging.dir, staging.path(layout.path("report")),
                              progress=sub_progress(progress, 95.0, 100.0), stem=layout.stem,
                              content_json=staging.path(layout.path("report_content")),
                              folder_label=layout.folder)
        _update_run_record(staging.path(layout.path("run")), layout.folder, command="run",
                           vectorize=to_dict(vcfg), report=report)
        check_cancelled(progress)
        # the point of no return: every stage succeeded
        staging.commit(remove=[*layout.paths().values(), *layout.report_tables()])
    progress.set_progress(100.0)
    outputs = layout.existing()
    return RunResult(detect=_committed(det, layout), layout=layout, outputs=outputs,
                     summary=network.summary.as_dict(), seconds=time.perf_counter() - t0)


def run_detect(raster: Any, out_dir: Any, cfg: Optional[InferenceConfig] = None,
               progress: Optional[Progress] = None, model: Any = None) -> DetectResult:
    """Detection only (``csbsr detect``), as one transaction like :func:`run_pipeline`:
    the probability/mask (and SR) rasters and the run record, or nothing."""
    progress = progress if progress is not None else NullProgress()
    cfg = cfg if cfg is not None else InferenceConfig()
    layout = RunLayout.for_input(raster, out_dir)
    roles = ("prob", "mask", "sr", "run")
    check_output_folder(layout.folder, [raster])
    existing = [layout.path(r) for r in roles if layout.path(r).exists()]
    if existing and not cfg.overwrite:
        raise OutputExistsError(f"{existing[0]} already exists: pass --overwrite to replace "
                                "it, or choose another output folder")
    staging = Staging(layout.folder, layout.staging)
    if staging.stale:
        progress.warn(f"removed the unfinished files of an earlier interrupted run in "
                      f"{layout.staging}")
    with staging:
        det = detect(raster, staging.dir, dataclasses.replace(cfg, overwrite=True), progress,
                     model=model)
        check_cancelled(progress)
        _update_run_record(staging.path(layout.path("run")), layout.folder, command="detect")
        staging.commit(remove=[layout.path(r) for r in roles])
    return _committed(det, layout)


def _check_output_folder(raster: Any, layout: RunLayout, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is a file, the input itself, or that
    holds results of this orthophoto (unless ``overwrite``)."""
    check_output_folder(layout.folder, [raster])
    existing = [p for r, p in layout.paths().items() if r in RUN_FILES and p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{existing[0]} already exists: pass --overwrite (overwrite=True) to replace the "
            "results of this orthophoto, or choose another output folder")


def _check_measurable(raster: Any) -> None:
    """Refuse, before any work, a raster whose CRS cannot measure lengths (a Mercator CRS):
    detection alone would run, the crack measurement would not."""
    from .raster.io import open_raster
    from .vectorize.measure import make_georef

    with open_raster(raster) as src:
        if src.crs is not None:
            make_georef(src.transform, src.crs, Path(str(raster)).name)


def _update_run_record(run_json: Path, final: Path, **fields: Any) -> None:
    """Make the run record name the committed paths (not the staging folder's) and add
    ``fields`` (the command, the vectorization settings...)."""
    doc = json.loads(run_json.read_text(encoding="utf-8"))
    doc["output"] = {k: str(final / Path(v).name) for k, v in (doc.get("output") or {}).items()}
    doc.update(fields)
    run_json.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")


def _committed(det: DetectResult, layout: RunLayout) -> DetectResult:
    """``det`` with its paths moved from the staging folder to the output folder."""
    return dataclasses.replace(
        det, prob_path=layout.path("prob"), mask_path=layout.path("mask"),
        sr_path=layout.path("sr") if det.sr_path is not None else None,
        config_path=layout.path("run"))


def _model_name(cfg: InferenceConfig, model: Any) -> str:
    path = getattr(model, "path", None) or cfg.model_path
    if path is None:
        from .model.card import default_model_path

        path = default_model_path()
    return Path(path).stem
