"""``csbsr evaluate``: the paper's metrics of a model on a manifest split, as JSON."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from . import say


def register(sub: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    p = sub.add_parser(
        "evaluate", help="IoU/AIU/HD95/PSNR/SSIM/F1 of a model on a data split",
        description="Degrade every image of a manifest split once (fixed seed), run the model "
        "on the whole LR image and print the metrics as JSON (keys iou_max, aiu, hd95_min, "
        "ahd95, psnr, ssim, f1_ods, best_threshold, n_images).")
    p.add_argument("--model", default=None,
                   help="a .safetensors model with its .json card (default: the shipped model)")
    p.add_argument("--manifest", required=True, nargs="+",
                   help="manifest TSV(s) (paths relative to each)")
    p.add_argument("--split", default="val", help="recommended_role to evaluate (default val)")
    p.add_argument("--degradation", choices=("paper", "realistic"), default="paper")
    p.add_argument("--seed", type=int, default=5, help="seed of the degraded set (default 5)")
    p.add_argument("--mode", choices=("joint", "hr", "bicubic"), default="joint",
                   help="joint = LR->SR->seg; hr = seg of the HR image; bicubic = seg of the "
                   "bicubic-upscaled LR")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate a fixed stratified subset of N images")
    p.add_argument("--hr-policy", choices=("effective", "stored"), default="effective",
                   help="effective: upsampled sets at their effective resolution (default)")
    p.add_argument("--padding", choices=("reflect", "zero"), default="reflect",
                   help="blur padding of the degradation (zero = the reference)")
    p.add_argument("--device", default="auto")
    p.add_argument("--hd-every", type=_positive_int, default=1, metavar="N",
                   help="HD95 at every N-th of the 99 thresholds only (default 1 = all, the "
                   "exact metric; HD95 dominates the time on textured images)")
    p.add_argument("--no-hd", action="store_true",
                   help="skip HD95 (hd95_min and ahd95 become null): IoU, F1 and PSNR only")
    p.add_argument("--by-dataset", action="store_true",
                   help="add per-data-set F1 (2 px and 2 cm) and P/R at --threshold")
    p.add_argument("--threshold", type=float, default=None,
                   help="threshold of the per-data-set P/R/F1 (default: the model card's)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=_run)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (one clear line otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..errors import OutputExistsError
    from ..train.evaluate import evaluate_model

    if args.json and Path(args.json).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.json} exists: pass --overwrite to replace it")
    threshold = args.threshold
    if args.by_dataset and threshold is None:
        from ..model.card import default_model_path, read_card

        threshold = read_card(args.model or default_model_path()).recommended_threshold
    manifests = args.manifest[0] if len(args.manifest) == 1 else args.manifest
    res = evaluate_model(args.model, manifests, split=args.split,
                         degradation=args.degradation, seed=args.seed, mode=args.mode,
                         limit=args.limit, hr_policy=args.hr_policy, padding=args.padding,
                         device=args.device, precision="fp32", progress=progress,
                         hd_every=args.hd_every, with_hd=not args.no_hd,
                         by_dataset=args.by_dataset, report_threshold=threshold)
    if hasattr(progress, "finish"):
        progress.finish()
    text = json.dumps(res, indent=2)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.part")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, out)
    say(progress, text)
    return 0
