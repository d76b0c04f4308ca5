"""``csbsr survey``: many orthophotos (or huge ones) into one survey folder, on this machine
or a Dask cluster."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from . import result, say
from .detect import add_inference_arguments
from .vectorize import add_postprocess_arguments, postprocess_from_args


def register(sub: Any) -> None:
    """Add the ``survey`` sub-command."""
    from ..survey.config import SurveyConfig

    d = SurveyConfig()
    p = sub.add_parser(
        "survey", help="many orthophotos: one run folder each, merged crack lines, a summary",
        description="Run the whole job on every orthophoto of a survey (files, folders, quoted "
        "glob patterns or list files; mixed CRSs allowed): DIR/runs/<stem>/ holds what "
        "`csbsr run` writes, DIR/survey_cracks.gpkg every crack line (field source) in one "
        "CRS, DIR/survey_summary.json and .html the per-orthophoto and total figures. Runs on "
        "a local Dask cluster sized for this machine, on an existing cluster (--scheduler), "
        "or in this process (--workers 1). Rerunning skips the orthophotos already done.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="orthophoto, folder of orthophotos, quoted glob ('d/**/*.tif') or a "
                   "text file listing orthophotos (one per line)")
    p.add_argument("--out", required=True, metavar="DIR", help="survey folder")
    p.add_argument("--crs", default=None, metavar="CRS",
                   help="CRS of the survey GeoPackage, e.g. EPSG:32633 (default: the first "
                   "input's)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: sized for this "
                   "machine; 1 = in this process, without Dask)")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="torch threads per worker (default: cores // workers)")
    p.add_argument("--scheduler", default=None, metavar="ADDR|FILE",
                   help="run on an existing Dask cluster: tcp://HOST:8786 or a scheduler file")
    p.add_argument("--split-mpix", type=float, default=d.split_mpix, metavar="MPIX",
                   help="split an orthophoto larger than this (input megapixels) into blocks "
                   f"run on several workers (default {d.split_mpix:g}; 0 = never)")
    p.add_argument("--block-mpix", type=float, default=d.block_mpix, metavar="MPIX",
                   help=f"block size of a split orthophoto (default {d.block_mpix:g})")
    p.add_argument("--retries", type=int, default=d.retries, metavar="N",
                   help=f"extra attempts of a task that failed unexpectedly (default {d.retries})")
    add_inference_arguments(p, single_input=False)
    p.add_argument("--road-azimuth", type=float, default=None, metavar="DEG",
                   help="road/structure axis in degrees from grid north")
    p.add_argument("--standard", choices=("d6433", "ltpp"), default="d6433",
                   help="severity standard (default ASTM D6433)")
    add_postprocess_arguments(p)
    p.add_argument("--no-report", action="store_true", help="skip each run's HTML report")
    p.add_argument("--overwrite", action="store_true",
                   help="redo every orthophoto (default: skip those already complete)")
    p.set_defaults(func=_run, overwrite=False)


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..survey.config import SurveyConfig
    from ..survey.survey import run_survey
    from ..vectorize.config import VectorizeConfig
    from .detect import _finish, inference_config_from_args

    args.threads_survey, args.threads = args.threads, None
    inference = dataclasses.replace(inference_config_from_args(args), overwrite=False)
    cfg = SurveyConfig(
        inference=inference, report=not args.no_report, crs=args.crs, workers=args.workers,
        threads=args.threads_survey, scheduler=args.scheduler, split_mpix=args.split_mpix,
        block_mpix=args.block_mpix, overwrite=args.overwrite, retries=args.retries,
        vectorize=VectorizeConfig(road_azimuth_deg=args.road_azimuth, standard=args.standard,
                                  **postprocess_from_args(args)))
    res = run_survey(args.inputs, args.out, cfg, progress)
    _finish(progress)
    t = res.summary["totals"]
    for rec in res.records:
        line = f"{Path(rec.input).name}: {rec.status}"
        if rec.status in ("done", "skipped"):
            line += (f", {rec.summary.get('total_len_m', 0.0):.2f} m of cracks "
                     f"({rec.summary.get('n_segments', 0)} segments)")
        if rec.error:
            line += f": {rec.error}"
        say(progress, line)
    for role, path in res.outputs.items():
        say(progress, f"{role}: {path}")
    say(progress, f"{t['n_orthophotos']} orthophotos: {t['n_done']} done, {t['n_skipped']} "
                  f"complete earlier, {t['n_failed']} failed; {t['total_len_m']:.2f} m of "
                  f"cracks over {t['area_m2']:.1f} m2 in {res.seconds:.1f} s "
                  f"({res.summary['where']})")
    result(progress, outputs={k: str(v) for k, v in res.outputs.items()},
           runs={r.stem: r.folder for r in res.records},
           orthophotos=[{"stem": r.stem, "input": r.input, "status": r.status,
                         "error": r.error, "folder": r.folder} for r in res.records],
           totals=t, where=res.summary["where"], seconds=round(res.seconds, 2))
    failed = [r for r in res.records if r.status == "failed"]
    if failed and len(failed) == len(res.records):  # some failed, others done: exit 0
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"no orthophoto could be inspected ({len(failed)} failed; the first, "
            f"{Path(failed[0].input).name}: {failed[0].error}); fix the input(s) and run again")
    return 0
