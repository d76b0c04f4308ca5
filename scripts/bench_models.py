"""The shipped models side by side, in one run: inference throughput per LR pixel and the
share of the CPU's bf16 peak they reach (``make bench`` calls it; also runs alone).

For each model (the first lite model and lite2): ``csbsr detect`` end to end on a real
orthophoto (the demo sample, 512 x 512 LR px at 8 mm/px), with the model's default tiling
(tile and halo from its card) at the precision the device picks, best of ``--repeats`` runs
in this process; the FLOPs of one tile (``torch.utils.flop_counter``, 2 per multiply-add)
times the tiles; the measured 2048^3 matmul peak of the same precision in the same run.

Usage: ``python scripts/bench_models.py [--out section.md] [--repeats 3]``
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "sample" / "sample_ortho.tif"
MODELS = {"lite (v1)": REPO / "resources" / "models" / "csbsr_lite_x4.safetensors",
          "lite2 (v2)": REPO / "resources" / "models" / "csbsr_lite2_x4.safetensors"}


def matmul_peak(precision: str) -> float:
    """GFLOP/s of a 2048^3 matmul at ``precision`` (best of 3)."""
    import torch

    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    n = 2048
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    (a @ b).sum().item()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def tile_flops(loaded: Any, tile_shape: tuple) -> float:
    """FLOPs of one forward pass on one tile (halo included), as inference runs it."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, *tile_shape)
    net = loaded.model.cpu().eval()
    kw: Dict[str, Any] = {}
    if getattr(net, "kernel_scope", "tile") == "raster":
        kw["kernel"] = net.estimate_kernel(x)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        net(x, **kw)
    return float(fc.get_total_flops())


def bench_model(path: Path, repeats: int) -> Optional[Dict[str, Any]]:
    """End-to-end detection figures of one model (None when it is not installed)."""
    import json

    from csbsr.core.detect.config import InferenceConfig
    from csbsr.core.detect.detect import detect
    from csbsr.core.model.card import load_model

    if not path.exists():
        return None
    loaded = load_model(path)
    best, res = float("inf"), None
    for i in range(repeats + 1):  # the first run warms up (oneDNN primitives, page cache)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            r = detect(SAMPLE, Path(tmp) / "o", InferenceConfig(model_path=str(path)),
                       model=loaded)
            dt = time.perf_counter() - t
            run = json.loads(Path(r.config_path).read_text(encoding="utf-8"))
        if i > 0 and dt < best:
            best, res = dt, (r, run)
    assert res is not None
    r, run = res
    tiles = run["tiles"]
    core = tiles["core_px"]
    halo = tiles["halo_px"]
    shape = (core[0] + 2 * halo, core[1] + 2 * halo)
    flops = tile_flops(loaded, shape) * r.n_tiles
    w, h = run["input"]["width"], run["input"]["height"]
    return {"seconds": best, "lr_mpix_s": w * h / best / 1e6, "tiles": r.n_tiles,
            "tile": f"{core[1]}+2x{halo}", "overhead": tiles["overhead"],
            "gflop": flops / 1e9, "gflops": flops / best / 1e9, "device": r.device,
            "precision": run["device"]["precision"]}


def report(results: Dict[str, Optional[Dict[str, Any]]], peak: Dict[str, float]) -> str:
    """The Markdown section."""
    lines = ["## The shipped models side by side (`scripts/bench_models.py`)", "",
             f"`csbsr detect` end to end on the demo orthophoto ({SAMPLE.name}, 512 x 512 LR "
             "px), default tiling from each model card, best of the timed runs. Peak: 2048^3 "
             f"matmul in the same run: bf16 {peak.get('bf16', 0):.0f} GFLOP/s, fp32 "
             f"{peak.get('fp32', 0):.0f} GFLOP/s.", "",
             "| model | tile (core+halo) | tiles | halo overhead | s | LR Mpix/s | GFLOP | "
             "GFLOP/s | share of peak | precision |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if r is None:
            lines.append(f"| {name} | not installed | | | | | | | | |")
            continue
        share = r["gflops"] / peak[r["precision"]] if r["precision"] in peak else float("nan")
        lines.append(f"| {name} | {r['tile']} | {r['tiles']} | {r['overhead']:.2f} | "
                     f"{r['seconds']:.2f} | {r['lr_mpix_s']:.4f} | {r['gflop']:.0f} | "
                     f"{r['gflops']:.0f} | {share:.0%} | {r['precision']} |")
    v1, v2 = results.get("lite (v1)"), results.get("lite2 (v2)")
    if v1 and v2:
        ratio = v2["lr_mpix_s"] / v1["lr_mpix_s"]
        lines += ["", f"Throughput per LR pixel, lite2 / lite: **{ratio:.2f}x**."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="also write the Markdown section here")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    peak = {p: matmul_peak(p) for p in ("bf16", "fp32")}
    results = {name: bench_model(path, args.repeats) for name, path in MODELS.items()}
    text = report(results, peak)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
