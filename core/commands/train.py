"""``csbsr train``: staged CSBSR training (resumable) on a crack manifest."""
from __future__ import annotations

import argparse
import json
from typing import Any

VARIANT_HELP = ("joint (ablation d), joint_wf (e), joint_wf_blurskip (f, default: the shipped "
                "model), separate (c), hr_seg (a), bicubic_seg (b)")


def register(sub: Any) -> None:
    """Add the ``train`` sub-command."""
    from ..train import PHASES, VARIANTS

    p = sub.add_parser(
        "train", help="train CSBSR (staged, resumable)",
        description="Train a CSBSR model in phases P1 non-blind SR, P2 kernel estimator, "
        "P3 blind SR, P4 joint, P5 BlurSkip. Checkpoints go to OUT/ckpt (resume with "
        "--resume), per-phase exports to OUT/phase_Pn.safetensors, the final model to "
        "OUT/model.safetensors, losses and validation metrics to OUT/log.jsonl.")
    p.add_argument("--config", choices=("lite", "paper"), default="lite",
                   help="training recipe: lite = CPU, paper = GPU (default lite)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--data", default=None,
                   help="manifest TSV (default: ../shared/data/cracks/manifest.tsv)")
    p.add_argument("--variant", choices=VARIANTS, default="joint_wf_blurskip", help=VARIANT_HELP)
    p.add_argument("--phases", nargs="+", choices=PHASES, default=None,
                   help="run only these phases of the variant")
    p.add_argument("--init", default=None,
                   help="start from these weights (e.g. another run's phase_P3.safetensors)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override recipe fields, e.g. --set iters_p4=500 batch_size=4")
    p.add_argument("--device", default=None, help="auto, cpu or a GPU (default: the recipe's)")
    p.set_defaults(func=_run)


def default_manifest() -> Any:
    """The shared crack manifest beside the repository, if present."""
    from pathlib import Path

    return Path(__file__).resolve().parents[3] / "shared" / "data" / "cracks" / "manifest.tsv"


def parse_overrides(items: Any) -> dict:
    """Parse KEY=VALUE strings (values as JSON when possible, else strings)."""
    from ..errors import ConfigError

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, val = item.split("=", 1)
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..config import named_train_config
    from ..errors import ConfigError
    from ..train import train

    overrides = parse_overrides(args.set)
    if args.device:
        overrides["device"] = args.device
    try:
        cfg = named_train_config(args.config, **overrides)
    except TypeError as exc:
        raise ConfigError(f"--set: {exc}") from exc
    manifest = args.data or default_manifest()
    path = train(cfg, args.out, variant=args.variant, manifest=manifest, phases=args.phases,
                 init=args.init, resume=args.resume, progress=progress)
    if hasattr(progress, "finish"):
        progress.finish()
    print(json.dumps({"model": str(path)}))
    return 0
