"""The main job (``csbsr run``): detection, vectorization, export and the HTML report.

Stages and their share of the progress bar: detection 0-80 %, vectorization of the
probability raster 80-93 %, GeoPackage + summary JSON 93-95 %, HTML report 95-100 %. Every
stage writes under temporary names; if any stage fails or is cancelled, the files the
earlier stages of *this run* wrote are removed too, so a run leaves all of its outputs or
none.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from .detect.config import InferenceConfig
from .detect.detect import DetectResult, detect
from .progress import NullProgress, Progress, check_cancelled, sub_progress
from .vectorize.config import VectorizeConfig


@dataclass(frozen=True)
class RunResult:
    """What ``run_pipeline`` produced.

    Attributes:
        detect: the detection stage's result.
        outputs: every output file by role (prob, mask, sr, config, cracks, summary, report).
        summary: the crack summary (total length, density, counts...), or {} without lines.
        seconds: wall time of the whole run.
    """

    detect: DetectResult
    outputs: Dict[str, Path]
    summary: Dict[str, Any]
    seconds: float


def run_pipeline(raster: Any, out_dir: Any, cfg: Optional[InferenceConfig] = None,
                 progress: Optional[Progress] = None, model: Any = None,
                 vectorize_cfg: Optional[VectorizeConfig] = None,
                 report: bool = True) -> RunResult:
    """Run the whole job on one orthophoto.

    Args:
        raster: the input orthophoto (any GDAL raster).
        out_dir: output folder.
        cfg: inference configuration (None = defaults).
        progress: progress/cancel receiver.
        model: an optional already loaded ``LoadedModel``.
        vectorize_cfg: vectorization options; its threshold is replaced by the detection
            threshold (the model card's unless overridden) so mask and lines agree.
        report: also write the self-contained HTML report.

    Raises:
        The errors of :func:`csbsr.core.infer.detect` and of the later stages.
    """
    from .vectorize.api import vectorize_raster
    from .vectorize.export import write_network, write_summary_json

    progress = progress if progress is not None else NullProgress()
    cfg = cfg if cfg is not None else InferenceConfig()
    t0 = time.perf_counter()
    _refuse_existing(raster, Path(out_dir), cfg, report)
    det = detect(raster, out_dir, cfg, sub_progress(progress, 0.0, 80.0), model=model)
    outputs: Dict[str, Path] = {"prob": det.prob_path, "mask": det.mask_path,
                                "config": det.config_path}
    if det.sr_path is not None:
        outputs["sr"] = det.sr_path
    stem = Path(str(raster)).stem
    out = Path(out_dir)
    try:
        check_cancelled(progress)
        vcfg = dataclasses.replace(vectorize_cfg or VectorizeConfig(), threshold=det.threshold)
        progress.set_status("vectorizing cracks")
        network = vectorize_raster(det.prob_path, vcfg, sub_progress(progress, 80.0, 93.0),
                                   model_name=_model_name(cfg, model))
        check_cancelled(progress)
        outputs["cracks"] = write_network(network, out / f"{stem}_cracks.gpkg",
                                          overwrite=cfg.overwrite)
        outputs["summary"] = write_summary_json(network, out / f"{stem}_summary.json",
                                                overwrite=cfg.overwrite)
        progress.set_progress(95.0)
        if report:
            from .report.html import write_html_report

            progress.set_status("writing the HTML report")
            res = write_html_report(out, out / f"{stem}_report.html", overwrite=cfg.overwrite,
                                    progress=sub_progress(progress, 95.0, 100.0), stem=stem)
            outputs["report"] = res.html
        progress.set_progress(100.0)
    except BaseException:
        for path in outputs.values():
            _remove_output(path)
        raise
    return RunResult(detect=det, outputs=outputs, summary=network.summary.as_dict(),
                     seconds=time.perf_counter() - t0)


def _refuse_existing(raster: Any, out: Path, cfg: InferenceConfig, report: bool) -> None:
    """Fail before any work if a later stage would have to overwrite a user's file."""
    from .detect.detect import check_outputs_free

    stem = Path(str(raster)).stem
    later = {"cracks": out / f"{stem}_cracks.gpkg", "summary": out / f"{stem}_summary.json"}
    if report:
        later["report"] = out / f"{stem}_report.html"
    check_outputs_free(later, cfg.overwrite)


def _model_name(cfg: InferenceConfig, model: Any) -> str:
    path = getattr(model, "path", None) or cfg.model_path
    if path is None:
        from .model.card import default_model_path

        path = default_model_path()
    return Path(path).stem


def _remove_output(path: Path) -> None:
    """Delete an output of this run and its side files (e.g. shapefile parts, CSV tables)."""
    for p in [path, *path.parent.glob(path.stem + "_*.csv")]:
        if p.exists():
            p.unlink()
