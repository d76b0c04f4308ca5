"""The paper's ablation (rows a-f) with the lite2 architecture, and the v1/v2 comparison:
writes the tables of ``docs/results.md``.

Every row trains the same ThinCrackUNet for the same segmentation budget (``--p4`` joint or
segmentation iterations of the lite2 recipe; row f adds the recipe's P5 BlurSkip phase);
rows (c)-(f) start from the SR pre-training P1-P3 of the shipped model's run
(``runs/lite2/phase_P3``), so they differ only in what the paper's rows differ in:

  (a) segmentation on HR images (upper bound)      --variant hr_seg, evaluate --mode hr
  (b) segmentation on bicubic-upscaled LR          --variant bicubic_seg, --mode bicubic
  (c) SR and segmentation trained separately       --variant separate (SR frozen)
  (d) CSBSR joint                                  --variant joint
  (e) + w^F                                        --variant joint_wf
  (f) + w^F + BlurSkip                             --variant joint_wf_blurskip (P4 + P5)

Two reference rows: the first lite model (v1, ``resources/models/csbsr_lite_x4``) and the
shipped lite2 model (the long run). Every model is evaluated on the whole val split of
``manifest.tsv`` (paper degradation, seed 5: the figures of v1 stay comparable) and, per data
set, on both val splits. Finished trainings and evaluations are reused: the script can be
stopped and run again.

Usage: ``python scripts/ablation.py [--rows a b c d e f] [--p4 1000] [--install-baselines]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MANIFEST = DATA / "cracks" / "manifest.tsv"
EXTRA = DATA / "cracks" / "manifest_extra.tsv"
ROWS = {
    "a": ("Segmentation on HR images (upper bound)", "hr_seg", "hr"),
    "b": ("Segmentation on bicubic-upscaled LR", "bicubic_seg", "bicubic"),
    "c": ("SR and segmentation trained separately", "separate", "joint"),
    "d": ("CSBSR joint", "joint", "joint"),
    "e": ("CSBSR + w^F", "joint_wf", "joint"),
    "f": ("CSBSR + w^F + BlurSkip", "joint_wf_blurskip", "joint"),
}
REFERENCES = {
    "v1": ("First lite model (PSP-lite, shipped before)", REPO / "resources" / "models"
           / "csbsr_lite_x4.safetensors"),
    "v2": ("lite2, the shipped model (long run)", REPO / "resources" / "models"
           / "csbsr_lite2_x4.safetensors"),
}
METRICS = ("iou_max", "aiu", "hd95_min", "ahd95", "psnr", "ssim", "f1_ods", "best_threshold")


def run_row(row: str, main_run: Path, out: Path, p4: int) -> Path:
    """Train (or resume) one ablation row; return its model path."""
    from csbsr.core.progress import ConsoleProgress
    from csbsr.core.train.config import named_train_config
    from csbsr.core.train.trainer import train

    _, variant, _ = ROWS[row]
    run_dir = out / row
    model = run_dir / "model.safetensors"
    if model.exists():
        return model
    init, phases = None, None
    if variant not in ("hr_seg", "bicubic_seg"):
        init = main_run / "phase_P3.safetensors"
        phases = ["P4", "P5"] if variant == "joint_wf_blurskip" else ["P4"]
        if not init.exists():
            raise SystemExit(f"row {row}: {init} is missing: run `make train` first")
    cfg = named_train_config("lite2", iters_p4=p4, wf_start=min(500, p4 // 5),
                             checkpoint_every=250)
    progress = ConsoleProgress()
    t0 = time.perf_counter()
    train(cfg, run_dir, variant=variant, manifest=[MANIFEST, EXTRA], phases=phases, init=init,
          resume=(run_dir / "ckpt" / "last.json").exists(), progress=progress,
          negatives=DATA / "ortho")
    progress.finish()
    print(f"row {row}: trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return model


def evaluated(key: str, model: Path, mode: str, out: Path) -> Dict[str, dict]:
    """{"val": the whole manifest.tsv val split, with per-data-set F1} (cached). HD95 on every
    fifth threshold (20 of 99) to keep eight evaluations affordable on 2 cores."""
    from csbsr.core.progress import ConsoleProgress
    from csbsr.core.train.evaluate import evaluate_model

    res: Dict[str, dict] = {}
    for name, manifests, by in (("val", MANIFEST, True),):
        f = out / f"{key}_{name}.json"
        if f.exists():
            res[name] = json.loads(f.read_text(encoding="utf-8"))
            continue
        progress = ConsoleProgress()
        r = evaluate_model(model, manifests, split="val", degradation="paper", seed=5,
                           mode=mode, progress=progress, by_dataset=by,
                           hd_every=5)
        progress.finish()
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
        res[name] = r
    return res


def _fmt(v: object, key: str = "") -> str:
    if v is None:
        return "n/a"
    if key in ("hd95_min", "ahd95", "psnr", "best_threshold"):
        return f"{float(v):.2f}"
    return f"{float(v):.3f}"


def _minutes(model: Path, phases: tuple) -> str:
    card = model.with_suffix(".json")
    if not card.exists():
        return "n/a"
    wall = json.loads(card.read_text(encoding="utf-8")).get("training", {}).get(
        "phase_wall_s", {})
    return f"{sum(wall.get(k, 0.0) for k in phases) / 60:.1f} min"


def tables(results: Dict[str, Dict[str, dict]], models: Dict[str, Path], p4: int) -> str:
    """The markdown of the ablation table and the per-data-set table."""
    head = ("| row | model | IoU_max | AIU | HD95_min | AHD95 | PSNR | SSIM | F1 (ODS, 2 px) "
            "| best t | seg-phase wall |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    labels = {**{k: (f"({k}) {v[0]}") for k, v in ROWS.items()},
              **{k: v[0] for k, v in REFERENCES.items()}}
    for key in [*ROWS, *REFERENCES]:
        r = results.get(key, {}).get("val")
        if r is None:
            lines.append(f"| {key} | {labels[key]} | not yet run | | | | | | | | |")
            continue
        phases = ("P4", "P5") if key in ("f", "v2") else ("P4",)
        cells = " | ".join(_fmt(r.get(m), m) for m in METRICS)
        lines.append(f"| {key} | {labels[key]} | {cells} | {_minutes(models[key], phases)} |")
    n = next((r["val"]["n_images"] for r in results.values() if "val" in r), "?")
    out = [f"Val split of `manifest.tsv` (n = {n}), paper degradation, seed 5, whole images at "
           f"effective resolution. Rows (a)-(f): lite2 architecture, {p4} P4 iterations each "
           "(row f + the recipe's P5); (c)-(f) start from the SR pre-training P1-P3 of the "
           "shipped run. HD95 over every fifth threshold.\n", head + "\n".join(lines), ""]
    sets = sorted({d for r in results.values() for d in r.get("val", {}).get(
        "per_dataset", {})})
    if sets:
        out.append("F1 (ODS, 2 px) per data set of that val split:\n")
        out.append("| row | " + " | ".join(sets) + " |\n|---|" + "---|" * len(sets))
        for key in [*ROWS, *REFERENCES]:
            per = results.get(key, {}).get("val", {}).get("per_dataset", {})
            if per:
                out.append(f"| {key} | " + " | ".join(
                    _fmt(per.get(s, {}).get("f1_ods")) for s in sets) + " |")
    return "\n".join(out)


def write_block(text: str, path: Path) -> None:
    """(Re)write the generated block of ``path`` between markers, keeping the rest."""
    block = f"<!-- ablation-table:start -->\n{text}\n<!-- ablation-table:end -->"
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    if "<!-- ablation-table:start -->" in doc:
        pre = doc.split("<!-- ablation-table:start -->")[0]
        post = doc.split("<!-- ablation-table:end -->", 1)[1]
        doc = pre + block + post
    else:
        doc = doc + ("\n" if doc else "") + block + "\n"
    path.write_text(doc, encoding="utf-8")


def install_baselines(out: Path, results: Dict[str, Dict[str, dict]]) -> None:
    """Save rows (a)-(c) beside the shipped model (cards carry their val metrics)."""
    import dataclasses

    from csbsr.core.model.card import load_model, save_model

    dest = REPO / "resources" / "models" / "baselines"
    for row, name in (("a", "hr_seg"), ("b", "bicubic_seg"), ("c", "separate")):
        src = out / row / "model.safetensors"
        if not src.exists():
            continue
        loaded = load_model(src)
        val = results.get(row, {}).get("val", {})
        card = dataclasses.replace(
            loaded.card, created_utc="", input_gsd_m=0.008,
            metrics={f"ablation_row_{row}": {k: val.get(k) for k in METRICS}},
            description=f"Ablation row ({row}) baseline: {ROWS[row][0]} (lite2 architecture); "
                        f"evaluate with `csbsr evaluate --mode {ROWS[row][2]}`")
        print(f"installed {save_model(loaded.model, card, dest / f'csbsr_lite2_x4_{name}')}",
              file=sys.stderr)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=sorted(ROWS))
    ap.add_argument("--main-run", default=str(REPO / "runs" / "lite2"))
    ap.add_argument("--out", default=str(REPO / "runs" / "ablation3"))
    ap.add_argument("--p4", type=int, default=1000, help="P4 iterations of every row")
    ap.add_argument("--table", default=str(REPO / "docs" / "results.md"))
    ap.add_argument("--table-only", action="store_true", help="only rewrite the table")
    ap.add_argument("--install-baselines", action="store_true",
                    help="copy the trained rows (a)-(c) to resources/models/baselines/")
    args = ap.parse_args(argv)
    main_run, out = Path(args.main_run), Path(args.out)
    models = {row: out / row / "model.safetensors" for row in ROWS}
    models.update({k: v[1] for k, v in REFERENCES.items()})
    if not args.table_only:
        for row in args.rows:
            run_row(row, main_run, out, args.p4)
    results: Dict[str, Dict[str, dict]] = {}
    for key, model in models.items():
        if model.exists():
            mode = ROWS[key][2] if key in ROWS else "joint"
            results[key] = evaluated(key, model, mode, out / "eval")
    write_block(tables(results, models, args.p4), Path(args.table))
    if args.install_baselines:
        install_baselines(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
