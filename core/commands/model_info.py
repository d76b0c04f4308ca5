"""``csbsr model-info``: parameter counts and cost of a named architecture or a model file."""
from __future__ import annotations

import argparse
import json
from typing import Any

from . import say


def register(sub: Any) -> None:
    """Add the ``model-info`` sub-command."""
    p = sub.add_parser("model-info", help="parameters and GFLOPs of an architecture or model",
                       description="Print parameter counts and forward GFLOPs per 64x64 LR "
                       "input of a named configuration (paper, lite) or of a model file.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", choices=("paper", "lite"), default=None,
                     help="a named architecture (default: lite)")
    src.add_argument("--model", default=None, help="a .safetensors model (with its .json card)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--time", action="store_true",
                   help="also time one CPU forward pass on a 64x64 LR tile (median of 3)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..model.card import build_model, load_model
    from ..model.config import named_model_config
    from ..model.summary import summarise, time_forward

    if args.model:
        loaded = load_model(args.model)
        model, cfg = loaded.model, loaded.card.model
    else:
        cfg = named_model_config(args.config or "lite")
        model = build_model(cfg)
    info = {"config": cfg.name, "scale": cfg.scale, **summarise(model).as_dict()}
    if args.time:
        info["cpu_forward_s_64px_lr"] = round(time_forward(model, repeats=3), 4)
    if args.json:
        say(progress, json.dumps(info, indent=2))
    else:
        say(progress, f"{cfg.name} (x{cfg.scale}): SR {info['params_sr']:,} + seg "
              f"{info['params_seg']:,} + BlurSkip {info['params_blurskip']:,} = "
              f"{info['params_total']:,} parameters;"
              f" {info['gflops_per_64px_lr']:.2f} GFLOPs per 64x64 LR input"
              + (f"; CPU forward {info['cpu_forward_s_64px_lr']:.3f} s" if args.time else ""))
    return 0
