"""``csbsr compare``: what changed between two inspections of one site (re-inspection)."""
from __future__ import annotations

import argparse
from typing import Any

from . import result, say


def register(sub: Any) -> None:
    """Add the ``compare`` sub-command."""
    p = sub.add_parser(
        "compare", help="what changed since the last inspection: new, extended, widened, "
        "unchanged and gone cracks",
        description="Compare two inspections of one site (run folders of 'csbsr run' or "
        "survey folders of 'csbsr survey'): estimate the residual transform between the two "
        "orthophotos, move the earlier lines by it, match the crack lines and class each as "
        "new, extended, widened, unchanged or gone "
        "beyond the measurement uncertainty. Writes DIR/change.gpkg (layer crack_change), "
        "DIR/change_summary.json and DIR/change_report.html.")
    p.add_argument("old", metavar="OLD", help="the earlier inspection (run or survey folder)")
    p.add_argument("new", metavar="NEW", help="the later inspection (run or survey folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--no-registration", action="store_true",
                   help="trust the georeferencing: no co-registration (already aligned data)")
    p.add_argument("--registration-error", type=float, default=None, metavar="CM",
                   help="with --no-registration: the misregistration to assume, in cm "
                   "(default one GSD of the coarser orthophoto)")
    p.add_argument("--transform", dest="reg_model", default="auto",
                   choices=("auto", "translation", "similarity", "affine"),
                   help="registration transform (default auto: the simplest the tie points "
                   "support, by BIC)")
    p.add_argument("--old-ortho", default=None, metavar="FILE",
                   help="the earlier orthophoto, if it moved since its run")
    p.add_argument("--new-ortho", default=None, metavar="FILE",
                   help="the later orthophoto, if it moved since its run")
    p.add_argument("--k", type=float, default=2.0,
                   help="coverage factor of the uncertainties (default 2, about 95 %%)")
    p.add_argument("--evidence-ratio", type=float, default=0.5, metavar="R",
                   help="a line missing from the other run is no change when that run's "
                   "probability along it reaches R x its threshold (default 0.5; 0 = off)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..compare.compare import compare_inspections
    from ..compare.config import CompareConfig
    from ..compare.content import summary_lines
    from ..errors import ConfigError

    if args.registration_error is not None and not args.no_registration:
        raise ConfigError("--registration-error needs --no-registration")
    cfg = CompareConfig(
        register=not args.no_registration, reg_model=args.reg_model, k=args.k,
        evidence_ratio=args.evidence_ratio,
        assumed_reg_error_m=None if args.registration_error is None
        else args.registration_error / 100.0,
        report=not args.no_report, overwrite=args.overwrite)
    res = compare_inspections(args.old, args.new, args.out, cfg, progress,
                              old_ortho=args.old_ortho, new_ortho=args.new_ortho)
    if hasattr(progress, "finish"):
        progress.finish()
    for role, path in res.outputs.items():
        say(progress, f"{role}: {path}")
    for line in summary_lines(res.summary):
        say(progress, line)
    result(progress, outputs={k: str(v) for k, v in res.outputs.items()}, summary=res.summary,
           seconds=round(float(res.summary.get("seconds") or 0.0), 2))
    return 0
