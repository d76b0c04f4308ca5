"""``csbsr train``: staged CSBSR training (resumable) on a crack manifest."""
from __future__ import annotations

import argparse
import json
from typing import Any

from . import say

VARIANT_HELP = ("joint (ablation d), joint_wf (e), joint_wf_blurskip (f, default: the shipped "
                "model), separate (c), hr_seg (a), bicubic_seg (b)")


def register(sub: Any) -> None:
    """Add the ``train`` sub-command."""
    from ..train.schedule import PHASES, VARIANTS

    p = sub.add_parser(
        "train", help="train CSBSR (staged, resumable)",
        description="Train a CSBSR model in phases P1 non-blind SR, P2 kernel estimator, "
        "P3 blind SR, P4 joint, P5 BlurSkip. Checkpoints go to OUT/ckpt (resume with "
        "--resume), per-phase exports to OUT/phase_Pn.safetensors, the final model to "
        "OUT/model.safetensors, losses and validation metrics to OUT/log.jsonl.")
    p.add_argument("--config", choices=("lite2", "lite", "paper"), default="lite2",
                   help="training recipe: lite2 = thin-crack CPU recipe (default), lite = the "
                        "first CPU recipe, paper = GPU")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--data", nargs="+", default=None, metavar="MANIFEST",
                   help="manifest TSV(s) (default: ../shared/data/cracks/manifest.tsv and "
                        "manifest_extra.tsv)")
    p.add_argument("--negatives", default=None, metavar="FOLDER",
                   help="orthophotos for the negative bank (default: ../shared/data/ortho)")
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


def shared_data() -> Any:
    """The shared data folder beside the repository (``../shared/data``)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[3] / "shared" / "data"


def default_manifest() -> Any:
    """The shared crack manifest beside the repository, if present."""
    return shared_data() / "cracks" / "manifest.tsv"


def default_manifests() -> list:
    """Both shared manifests (the original and the added sets)."""
    root = shared_data() / "cracks"
    return [root / "manifest.tsv", root / "manifest_extra.tsv"]


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
    from ..errors import ConfigError
    from ..train.config import named_train_config
    from ..train.trainer import train

    overrides = parse_overrides(args.set)
    if args.device:
        overrides["device"] = args.device
    try:
        cfg = named_train_config(args.config, **overrides)
    except TypeError as exc:
        raise ConfigError(f"--set: {exc}") from exc
    manifest = args.data or (default_manifests() if cfg.model == "lite2"
                             else [default_manifest()])
    negatives = args.negatives or (shared_data() / "ortho" if cfg.bank_fraction > 0 else None)
    path = train(cfg, args.out, variant=args.variant, manifest=manifest, phases=args.phases,
                 init=args.init, resume=args.resume, progress=progress, negatives=negatives)
    if hasattr(progress, "finish"):
        progress.finish()
    say(progress, json.dumps({"model": str(path)}))
    return 0
