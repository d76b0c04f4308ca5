"""Run the paper's ablation (rows a-f) on our data and write ``docs/results.md``.

Rows (same PSP-lite segmentation network and the same segmentation budget, ``iters_p4`` of
the lite recipe, for every row; evaluated on the whole val split, paper degradation, seed 5):

  (a) segmentation on HR images (upper bound)      train --variant hr_seg, evaluate --mode hr
  (b) segmentation on bicubic-upscaled LR          train --variant bicubic_seg, --mode bicubic
  (c) SR and segmentation trained separately       train --variant separate --phases P4
                                                   --init <default>/phase_P3 (SR frozen, seg
                                                   trained on HR), evaluate the cascade
  (d) CSBSR joint                                  train --variant joint --phases P4
                                                   --init <default>/phase_P3
  (e) + w^F                                        the default run after P4 (phase_P4)
  (f) + w^F + BlurSkip                             the default run after P5 (shipped model)

Rows (c)-(f) share the SR pre-training P1-P3 of the default run (``runs/default``, made by
``make train``). Each step resumes: finished trainings and evaluations are reused, so the
script can be stopped and re-run. Rows whose runs do not exist yet are marked as such in the
table, never filled in.

Usage: ``python scripts/ablation.py [--rows d c b a] [--default runs/default] [--limit N]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO.parent / "shared" / "data" / "cracks" / "manifest.tsv"
ROWS = {
    "a": ("Segmentation on HR images (upper bound)", "hr_seg", "hr"),
    "b": ("Segmentation on bicubic-upscaled LR", "bicubic_seg", "bicubic"),
    "c": ("SR and segmentation trained separately", "separate", "joint"),
    "d": ("CSBSR joint", "joint", "joint"),
    "e": ("CSBSR + w^F", None, "joint"),
    "f": ("CSBSR + w^F + BlurSkip (shipped)", None, "joint"),
}
METRICS = ("iou_max", "aiu", "hd95_min", "ahd95", "psnr", "ssim", "f1_ods", "best_threshold")


def row_paths(row: str, default: Path, out: Path) -> tuple:
    """(run dir, model path) of an ablation row."""
    if row == "e":
        return default, default / "phase_P4.safetensors"
    if row == "f":
        return default, default / "model.safetensors"
    return out / row, out / row / "model.safetensors"


def train_command(row: str, default: Path, out: Path) -> list:
    """The ``csbsr train`` arguments of a row (rows e/f come from the default run)."""
    _, variant, _ = ROWS[row]
    if variant is None:
        return ["train", "--config", "lite", "--out", str(default)]
    args = ["train", "--config", "lite", "--variant", variant, "--out", str(out / row)]
    if variant in ("separate", "joint"):
        args += ["--phases", "P4", "--init", str(default / "phase_P3.safetensors")]
    return args


def eval_path(row: str, out: Path, limit: int | None) -> Path:
    return out / f"{row}_val{'' if limit is None else f'_limit{limit}'}.json"


def run_row(row: str, default: Path, out: Path, manifest: Path, limit: int | None) -> dict:
    """Train (or resume) and evaluate one row; returns its metrics."""
    from csbsr.core.progress import ConsoleProgress
    from csbsr.core.train.config import named_train_config
    from csbsr.core.train.evaluate import evaluate_model
    from csbsr.core.train.trainer import train

    run_dir, model = row_paths(row, default, out)
    progress = ConsoleProgress()
    _, variant, mode = ROWS[row]
    if not model.exists():
        if variant is None:
            raise SystemExit(f"row {row}: {model} is missing: run `make train` first")
        init = None
        phases = None
        if variant in ("separate", "joint"):
            init = default / "phase_P3.safetensors"
            phases = ["P4"]
            if not init.exists():
                raise SystemExit(f"row {row}: {init} is missing: run `make train` first")
        t0 = time.perf_counter()
        train(named_train_config("lite"), run_dir, variant=variant, manifest=manifest,
              phases=phases, init=init, resume=(run_dir / "ckpt" / "last.json").exists(),
              progress=progress)
        progress.finish()
        print(f"row {row}: trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    res_file = eval_path(row, out, limit)
    if res_file.exists():
        return json.loads(res_file.read_text(encoding="utf-8"))
    res = evaluate_model(model, manifest, split="val", degradation="paper", seed=5, mode=mode,
                         limit=limit, progress=progress)
    progress.finish()
    res_file.parent.mkdir(parents=True, exist_ok=True)
    res_file.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return res


def wall_time(row: str, default: Path, out: Path) -> str:
    """Training wall time of the row's segmentation budget (P4, plus P5 for row f).

    Rows (c)-(f) also share the default run's SR pre-training P1-P3 (reported separately).
    """
    _, model = row_paths(row, default, out)
    card = model.with_suffix(".json")
    if not card.exists():
        return "n/a"
    phase = json.loads(card.read_text(encoding="utf-8")).get("training", {}).get(
        "phase_wall_s", {})
    keys = ("P4", "P5") if row == "f" else ("P4",)
    return f"{sum(phase.get(k, 0.0) for k in keys) / 60:.1f} min"


def shared_sr_minutes(default: Path) -> str:
    """Wall time of the shared SR pre-training P1-P3 of the default run."""
    card = default / "model.json"
    if not card.exists():
        return "n/a"
    phase = json.loads(card.read_text(encoding="utf-8")).get("training", {}).get(
        "phase_wall_s", {})
    return f"{sum(phase.get(k, 0.0) for k in ('P1', 'P2', 'P3')) / 60:.1f} min"


def fmt(v: object, key: str) -> str:
    if v is None:
        return "n/a"
    if key in ("hd95_min", "ahd95", "psnr", "best_threshold"):
        return f"{float(v):.2f}"
    return f"{float(v):.3f}"


def write_table(results: dict, default: Path, out: Path, limit: int | None, path: Path) -> None:
    """(Re)write the results table in ``path`` between markers, keeping the rest."""
    head = ("| row | model | IoU_max | AIU | HD95_min | AHD95 | PSNR | SSIM | F1 (ODS, 2 px) "
            "| best t | seg-phase wall |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for row, (name, _, _) in ROWS.items():
        res = results.get(row)
        if res is None:
            lines.append(f"| ({row}) | {name} | not yet run | | | | | | | | |")
            continue
        cells = " | ".join(fmt(res.get(k), k) for k in METRICS)
        lines.append(f"| ({row}) | {name} | {cells} | {wall_time(row, default, out)} |")
    scope = "whole val split" if limit is None else f"{limit}-image stratified val subset"
    block = (f"<!-- ablation-table:start -->\nVal split ({scope}, n = "
             f"{next((r['n_images'] for r in results.values()), '?')}), paper degradation, "
             f"seed 5, whole images at effective resolution.\n\n" + head + "\n".join(lines)
             + f"\n\nRows (c)-(f) also share the default run's SR pre-training P1-P3 "
             f"({shared_sr_minutes(default)}); wall times are for a 2-core machine shared "
             "with other jobs.\n<!-- ablation-table:end -->")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if "<!-- ablation-table:start -->" in text:
        pre = text.split("<!-- ablation-table:start -->")[0]
        post = text.split("<!-- ablation-table:end -->", 1)[1]
        text = pre + block + post
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=["f", "e", "d", "c", "b", "a"],
                    choices=sorted(ROWS))
    ap.add_argument("--default", default=str(REPO / "runs" / "default"))
    ap.add_argument("--out", default=str(REPO / "runs" / "ablation"))
    ap.add_argument("--manifest", default=str(MANIFEST))
    ap.add_argument("--limit", type=int, default=None, help="evaluate a val subset")
    ap.add_argument("--table", default=str(REPO / "docs" / "results.md"))
    ap.add_argument("--table-only", action="store_true", help="only rewrite the table")
    ap.add_argument("--install-baselines", action="store_true",
                    help="copy the trained rows (a)-(c) to resources/models/baselines/")
    args = ap.parse_args(argv)
    default, out = Path(args.default), Path(args.out)
    if not args.table_only:
        for row in args.rows:
            res = run_row(row, default, out, Path(args.manifest), args.limit)
            print(json.dumps({"row": row, **{k: res.get(k) for k in METRICS}}), flush=True)
    results = {}
    for row in ROWS:
        f = eval_path(row, out, args.limit)
        if f.exists():
            results[row] = json.loads(f.read_text(encoding="utf-8"))
    write_table(results, default, out, args.limit, Path(args.table))
    if args.install_baselines:
        install_baselines(out, results)
    return 0


def install_baselines(out: Path, results: dict) -> None:
    """Save rows (a)-(c) beside the shipped model (cards carry their val metrics)."""
    import dataclasses

    from csbsr.core.model.card import load_model, save_model

    dest = REPO / "resources" / "models" / "baselines"
    for row, name in (("a", "hr_seg"), ("b", "bicubic_seg"), ("c", "separate")):
        src = out / row / "model.safetensors"
        if not src.exists():
            continue
        loaded = load_model(src)
        metrics = {k: results[row].get(k) for k in METRICS} if row in results else {}
        card = dataclasses.replace(
            loaded.card, created_utc="",
            metrics={**loaded.card.metrics, f"ablation_row_{row}": metrics},
            description=f"Ablation row ({row}) baseline: {ROWS[row][0]}; evaluate with "
                        f"`csbsr evaluate --mode {ROWS[row][2]}`")
        print(f"installed {save_model(loaded.model, card, dest / f'csbsr_lite_x4_{name}')}",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
