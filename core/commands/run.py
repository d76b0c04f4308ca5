"""``csbsr run``: the main job on one orthophoto: crack rasters, crack lines, summary, report."""
from __future__ import annotations

import argparse
from typing import Any

from . import result, say
from .detect import add_inference_arguments
from .vectorize import add_postprocess_arguments, aoi_polygon_from_args, postprocess_from_args


def register(sub: Any) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser("run", help="the whole job: crack rasters, measured crack lines, report",
                       description="Run the whole job on an orthophoto: everything `detect` "
                       "writes, plus the measured crack lines (<stem>_cracks.gpkg), their "
                       "summary (<stem>_summary.json) and an HTML report.")
    add_inference_arguments(p)
    p.add_argument("--road-azimuth", type=float, default=None, metavar="DEG",
                   help="road/structure axis in degrees from grid north, to type cracks as "
                   "longitudinal/transverse/diagonal")
    p.add_argument("--standard", choices=("d6433", "ltpp"), default="d6433",
                   help="severity standard (default ASTM D6433)")
    add_postprocess_arguments(p)
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..run import run_pipeline
    from ..vectorize.config import VectorizeConfig
    from .detect import _finish, inference_config_from_args, summary_line

    vcfg = VectorizeConfig(road_azimuth_deg=args.road_azimuth, standard=args.standard,
                           **postprocess_from_args(args))
    res = run_pipeline(args.ortho, args.out, inference_config_from_args(args), progress,
                       vectorize_cfg=vcfg, report=not args.no_report,
                       aoi_shape=aoi_polygon_from_args(args))
    _finish(progress)
    for role, path in res.outputs.items():
        say(progress, f"{role}: {path}")
    say(progress, summary_line(res.detect))
    s = res.summary
    say(progress, f"cracks: {s.get('n_segments', 0)} segments, {s.get('total_len_m', 0.0):.2f} "
                  f"m in total, density {s.get('density_m_m2') or 0.0:.3f} m/m2 over "
                  f"{s.get('area_m2', 0.0):.2f} m2"
                  + (f"; drawn only where the probability reaches {s['seed_threshold']:.2f}"
                     if s.get("seed_threshold") else ""))
    result(progress, outputs={k: str(v) for k, v in res.outputs.items()}, summary=s,
           device=res.detect.device, seconds=round(res.seconds, 2))
    return 0
