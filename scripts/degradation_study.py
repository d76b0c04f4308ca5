"""Which part of the realistic degradation costs the crack lines, per data set.

The "realistic" protocol (``core/train/degrade.py``) stacks an exposure change, a slight
motion blur, sensor noise and JPEG on the paper's blur and x4 down-scale. This study runs the
product's line metrics (``core/train/fieldeval.py``: the product's post-processing, recall
and precision within 2 cm at the nominal 8 mm/px input) on the val images of the chosen
data sets under the paper protocol and under the realistic one with its sensor parts switched
off one at a time (:class:`core.train.degrade.Camera`; every other random draw stays the
same), at the model card's threshold with and without its hysteresis seed.

Usage: ``python scripts/degradation_study.py [--datasets uav75 kaggle_uav_crack]
[--model M] [--json runs/degradation_study.json]``; prints a Markdown table (about 1 CPU-
minute per variant for UAV75's 19 photos).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MANIFESTS = [DATA / "cracks" / "manifest.tsv", DATA / "cracks" / "manifest_extra.tsv"]


def variants() -> List[Tuple[str, str, Any]]:
    """(label, protocol, camera) of every row of the study, in table order."""
    from csbsr.core.train.degrade import REALISTIC_CAMERA, Camera

    return [
        ("paper (blur + x4 down-scale, 8 bit)", "paper", None),
        ("realistic without noise and JPEG (exposure, motion)", "realistic",
         Camera(noise=False, jpeg_quality=None)),
        ("... + sensor noise only", "realistic", Camera(noise=True, jpeg_quality=None)),
        ("... + JPEG 50-95 only", "realistic", Camera(noise=False, jpeg_quality=(50, 95))),
        ("... + noise + JPEG 85-95", "realistic", Camera(noise=True, jpeg_quality=(85, 95))),
        ("realistic (noise + JPEG 50-95)", "realistic", REALISTIC_CAMERA),
    ]


def main(argv: Optional[List[str]] = None) -> int:
    from csbsr.core.model.card import load_model
    from csbsr.core.train.fieldeval import candidate_key, card_candidate, evaluate_field

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["uav75"],
                    help="data sets of the val splits (manifest 'dataset' column)")
    ap.add_argument("--model", default=None, help="model (default: the shipped one)")
    ap.add_argument("--json", default=str(REPO / "runs" / "degradation_study.json"))
    args = ap.parse_args(argv)
    t, seed = card_candidate(load_model(args.model, device="cpu").card)
    cands = [(t, seed), (t, None)] if seed is not None else [(t, None)]
    out: Dict[str, Any] = {"datasets": args.datasets, "rows": []}
    lines = ["| degradation | " + " | ".join(
        f"R / P / F1 at {candidate_key(c)}" for c in cands) + " |",
        "|---|" + "---|" * len(cands)]
    for label, protocol, camera in variants():
        r = evaluate_field(args.model, MANIFESTS, degradation=protocol, thresholds=cands,
                           datasets=args.datasets, camera=camera)
        cells = []
        for c in cands:
            tot = r["by_threshold"][candidate_key(c)]["total"]
            if not tot["n_images"]:
                print(f"no val images of {args.datasets} in {[str(m) for m in MANIFESTS]}; "
                      "check the --datasets names", file=sys.stderr)
                return 2
            cells.append(" / ".join("n/a" if tot[k] is None else f"{tot[k]:.3f}"
                                    for k in ("recall_2cm", "precision_2cm", "f1_2cm")))
        out["rows"].append({"label": label, "protocol": protocol, "result": r})
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
