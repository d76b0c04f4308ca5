"""``make bench``: throughput, efficiency and memory of tiled inference on this machine.

Measures, in one run (about 10-20 minutes on 2 CPU cores):

1. the device's matmul peak (2048^3) and a 64-channel 3x3 conv (channels_last) per precision;
2. FLOPs of the lite model per tile (``torch.utils.flop_counter.FlopCounterMode``, 2 FLOP per
   multiply-add, convolutions only) and per LR megapixel with the halo overhead;
3. end-to-end ``detect`` (open -> files closed) of the lite model on a synthetic LR orthophoto,
   at the fastest precision the device supports and at fp32: LR Mpix/s, tiles/s, achieved
   GFLOP/s and its fraction of the measured peak of the same precision, peak RSS;
4. a naive baseline (one tile at a time, no halo, no overlap handling, fp32 NCHW, no
   autocast, windowed read + write) and the speed-up of the pipeline over it;
5. peak RSS of the streaming pipeline on 2048^2 and 8192^2 synthetic orthophotos, each in its
   own subprocess. To fit the time budget these runs use a *null* model (x4 nearest
   up-sampling): they measure the pipeline's buffers, which are what could grow with the
   raster; the model's own memory depends only on the tile and batch sizes (item 3);
6. the same on the GPU when one is present;
7. the vectorization benchmark (``scripts/bench_vectorize.py``) when it exists;
8. the survey benchmark (``scripts/bench_survey.py``: 1 and 2 Dask workers, per-worker
   overhead, a huge raster split across workers, the expected scaling on N machines);
9. the shipped models side by side (``scripts/bench_models.py``: throughput per LR pixel of
   lite2 against the first lite model, and the share of the bf16 peak each reaches).

Writes a Markdown report (``--out``, default ``docs/performance.md``) and prints it.
Model weights do not change the cost: the shipped default model is used when present,
otherwise a lite model with random weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HALO = 16
DESIGN = """## How the pipeline works (core/detect/strips.py, core/raster/)

- Reads: one row of tiles by at most 2048 LR columns per window, clipped to the raster and
  reflect-padded with numpy (never `boundless=True`), prefetched by one reader thread
  (bounded: one window ahead); validity from `dataset_mask()` (nodata, alpha, internal mask).
- Tiles: fixed shape (core + halo on each side; the last core of a row/column is shifted back
  inside the raster), batched; entirely invalid cores are skipped and stay nodata; invalid
  pixels inside a tile are filled with the tile's valid mean. CPU: channels_last and bf16
  autocast where the CPU has native bf16 (`core.device`), batch 1; tile and halo from the
  model card (lite2: 256 + 24; this section's pipeline rows use 128 + 16); GPU: batch 8,
  halved on out-of-memory.
- The network as inference runs it (`core/model/fuse.py`, same function to float rounding,
  tested): BatchNorm folded into the convolutions, PReLU as LeakyReLU, and each SFT (the
  BlurSkip and KBPN modulation) without concatenating its spatially constant kernel code to
  the features: that (B, C + D, H, W) concatenation came out channels-first, so its two
  branch convolutions at HR size ran 4-5x slower than their channels_last neighbours; the
  code's share of the first conv is a per-edge constant computed on a 3 x 3 patch.
- Memory (`core.device.keep_freed_memory`, Linux/glibc): a lite2 tile's HR feature maps are
  10-120 MB, above glibc's largest mmap threshold, so by default every one was mapped fresh
  and freed back to the OS: about 650,000 page faults per 304^2 tile, a third of its time.
  The engine turns mmap off for its process (blocks stay in the heap and are reused; the
  peak-RSS rows above are measured with it).
- Stitching: centre crop (each output pixel comes from exactly one tile core, written once).
  Exact for a translation-equivariant network whose receptive-field radius is at most the
  halo. lite2 is tile-exact by construction (fixed input normalisation, no global pooling,
  the blur kernel estimated once per raster): tiled = whole-image inference is tested on a
  real raster for tiles of 64, 128 and 256 LR px (docs/results.md). The first lite model
  (v1) is not: its segmentation input is instance-normalised per tile and its PSP head
  pools over the tile (tile 128 + halo 16: 2.0 % of mask pixels flip).
- Writes: tiled 512 DEFLATE GeoTIFFs (BIGTIFF=IF_SAFER) under a temporary name, one window
  at a time, overviews at the end, then `os.replace`; cancelled or failed runs delete them.
"""


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB (VmHWM: unlike ru_maxrss, not inherited over fork)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ", ".join(f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2")
                                     if f in flags)
    except OSError:
        pass
    return "?"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def make_ortho(path: Path, size: int, seed: int = 0) -> Path:
    """Write a synthetic ``size x size`` RGB orthophoto (8 mm/px, EPSG:32633) block by block."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    t = Affine(0.008, 0, 600000.0, 0, -0.008, 5340000.0)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3,
                       dtype="uint8", crs="EPSG:32633", transform=t, tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate",
                       bigtiff="IF_SAFER") as dst:
        step = 512
        xx = np.arange(size, dtype=np.float32)[None, :]
        for r0 in range(0, size, step):
            rows = min(step, size - r0)
            yy = np.arange(r0, r0 + rows, dtype=np.float32)[:, None]
            base = 140 + 30 * np.sin(xx / 97.0) * np.cos(yy / 61.0)
            crack = (np.abs(((xx + 0.3 * yy) % 700) - 350) < 1.5) * -70.0
            noise = rng.normal(0, 8, (3, rows, size)).astype(np.float32)
            img = np.clip(base[None] + crack[None] + noise, 0, 255).astype(np.uint8)
            dst.write(img, window=Window(0, r0, size, rows))
    return path


class NullNet:
    """A near-zero-FLOP stand-in with the model's interface: x4 nearest up-sampling."""

    scale = 4

    def __new__(cls):  # build a real nn.Module lazily (torch imported here only)
        import torch

        class _Null(torch.nn.Module):
            scale = 4

            def forward(self, x):
                logits = (0.5 - x.mean(dim=1, keepdim=True)) * 8.0
                return None, torch.nn.functional.interpolate(logits, scale_factor=4,
                                                             mode="nearest")

        return _Null()


def _load_lite(kind: str):
    from csbsr.core.model.card import (
        LoadedModel,
        ModelCard,
        build_model,
        default_model_path,
        load_model,
    )
    from csbsr.core.model.config import ModelConfig

    if kind == "null":
        return LoadedModel(model=NullNet(), card=ModelCard(model=ModelConfig(),
                                                           halo_lr_px=HALO), path=None)
    if default_model_path().exists():
        return load_model(default_model_path())
    import torch

    torch.manual_seed(0)
    cfg = ModelConfig()
    return LoadedModel(model=build_model(cfg).eval(),
                       card=ModelCard(model=cfg, halo_lr_px=HALO), path=None)


def child(args: argparse.Namespace) -> int:
    """Subprocess: one ``detect`` run; prints a JSON line with timings and peak RSS."""
    from csbsr.core.detect.config import InferenceConfig, TileConfig
    from csbsr.core.detect.detect import detect

    loaded = _load_lite(args.model)
    cfg = InferenceConfig(device=args.device, precision=args.precision, overwrite=True,
                          tile=TileConfig(tile_px=args.tile, overlap_px=HALO, batch=args.batch),
                          gsd_policy="native")
    if args.warmup:  # first-call costs (oneDNN primitive creation) are not throughput
        with tempfile.TemporaryDirectory() as tmp:
            small = make_ortho(Path(tmp) / "w.tif", args.tile)
            detect(small, tmp, cfg, model=loaded)
    t0, c0 = time.perf_counter(), time.process_time()
    res = detect(args.raster, args.outdir, cfg, model=loaded)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "n_tiles": res.n_tiles,
                      "device": res.device, "peak_rss_mb": _peak_rss_mb()}))
    return 0


def _run_child(raster: Path, outdir: Path, model: str, device: str, precision: str,
               tile: int, batch: int, warmup: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", "--raster", str(raster), "--outdir",
           str(outdir), "--model", model, "--device", device, "--precision", precision,
           "--tile", str(tile), "--batch", str(batch)] + (["--warmup"] if warmup else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _time_best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def peaks(device: str, precisions: list) -> dict:
    """Measured matmul and conv GFLOP/s per precision on ``device``."""
    import torch

    out = {}
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    for p in precisions:
        n = 2048
        a = torch.randn(n, n, device=device, dtype=dt[p])
        b = torch.randn(n, n, device=device, dtype=dt[p])
        mm = _time_best(lambda a=a, b=b: (a @ b).sum().item(), 3)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device=device, dtype=dt[p])
        conv = conv.to(memory_format=torch.channels_last)
        x = torch.randn(2, 64, 224, 224, device=device, dtype=dt[p]).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            cv = _time_best(lambda c=conv, x=x: c(x).sum().item(), 3)
        out[p] = {"matmul_gflops": 2 * n ** 3 / mm / 1e9,
                  "conv_gflops": 2 * 2 * 64 * 64 * 9 * 224 * 224 / cv / 1e9}
    return out


def model_flops(loaded, tile: int) -> float:
    """FLOPs of one forward pass on a (1, 3, tile+2*HALO, tile+2*HALO) input."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    s = tile + 2 * HALO
    x = torch.rand(1, 3, s, s)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        loaded.model.cpu()(x)
    return float(fc.get_total_flops())


def naive(raster: Path, out: Path, loaded, tile: int) -> dict:
    """One tile at a time, no halo, fp32 NCHW, windowed read and write (the baseline)."""
    import rasterio
    import torch
    from rasterio.windows import Window

    net = loaded.model.cpu().to(memory_format=torch.contiguous_format).eval()
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with rasterio.open(raster) as src:
        prof = dict(driver="GTiff", width=src.width * 4, height=src.height * 4, count=1,
                    dtype="uint8", crs=src.crs, transform=src.transform, tiled=True,
                    compress="deflate")
        with rasterio.open(out, "w", **prof) as dst:
            for r in range(0, src.height, tile):
                for c in range(0, src.width, tile):
                    w = Window(c, r, min(tile, src.width - c), min(tile, src.height - r))
                    x = torch.from_numpy(src.read(window=w).astype(np.float32) / 255.0)[None]
                    with torch.no_grad():
                        p = torch.sigmoid(net(x).seg_logits)[0, 0].numpy()
                    dst.write((p * 255).astype(np.uint8)[None], window=Window(
                        c * 4, r * 4, p.shape[1], p.shape[0]))
                    n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "n_tiles": n}


def main(argv=None) -> int:
    """Run the benchmark and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    ap.add_argument("--size", type=int, default=768, help="LR side of the throughput raster")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--rss-sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--raster", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--outdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="lite", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    import torch
    from csbsr.core.device import cpu_bf16_native, resolve_device

    t_all = time.perf_counter()
    lines = []
    say = lines.append
    tmp = Path(tempfile.mkdtemp(prefix="csbsr-bench-"))
    try:
        print(f"bench: writing synthetic rasters under {tmp}", file=sys.stderr)
        thr = make_ortho(tmp / f"ortho_{args.size}.tif", args.size)
        loaded = _load_lite("lite")
        fast = "bf16" if cpu_bf16_native() else "fp32"
        cpu_precisions = sorted({fast, "fp32"}, key=lambda p: p != fast)
        print("bench: peaks", file=sys.stderr)
        cpu_peaks = peaks("cpu", cpu_precisions)
        flops_tile = model_flops(loaded, args.tile)
        grid_tiles = (-(-args.size // args.tile)) ** 2
        lr_mpix = args.size * args.size / 1e6
        runs = {}
        for p in cpu_precisions:
            print(f"bench: lite detect cpu {p}", file=sys.stderr)
            runs[p] = _run_child(thr, tmp / f"out_{p}", "lite", "cpu", p, args.tile, 1, True)
        print("bench: naive baseline", file=sys.stderr)
        nv = naive(thr, tmp / "naive.tif", loaded, args.tile)
        naive_flops = model_flops(loaded, args.tile - 2 * HALO)
        rss = {}
        for size in args.rss_sizes:
            print(f"bench: RSS {size}^2 (null model)", file=sys.stderr)
            path = make_ortho(tmp / f"rss_{size}.tif", size)
            rss[size] = _run_child(path, tmp / f"rss_out_{size}", "null", "cpu", "fp32",
                                   args.tile, 1, False)
            for f in (tmp / f"rss_out_{size}").glob("*"):
                f.unlink()
            path.unlink()
        gpu = None
        choice = resolve_device("auto")
        if choice.is_gpu:
            print("bench: GPU", file=sys.stderr)
            gsize = max(args.size, 2048)
            graster = make_ortho(tmp / f"gpu_{gsize}.tif", gsize)
            gpu = {"choice": choice.description,
                   "peaks": peaks(choice.torch_device, ["fp32", choice.precision]),
                   "size": gsize, "runs": {}}
            for p in sorted({choice.precision, "fp32"}):
                gpu["runs"][p] = _run_child(graster, tmp / f"gpu_out_{p}", "lite",
                                            choice.torch_device, p, 256, 8, True)
            gpu["flops_tile"] = model_flops(loaded, 256)
        vec = None
        vscript = REPO / "scripts" / "bench_vectorize.py"
        if vscript.exists():
            print("bench: vectorization", file=sys.stderr)
            proc = subprocess.run([sys.executable, str(vscript)], capture_output=True,
                                  text=True, check=False, cwd=REPO)
            vec = (proc.stdout.strip() or proc.stderr.strip()[-2000:])
        models = None
        mscript = REPO / "scripts" / "bench_models.py"
        if mscript.exists():
            print("bench: the shipped models side by side", file=sys.stderr)
            md = tmp / "models.md"
            proc = subprocess.run([sys.executable, str(mscript), "--out", str(md)],
                                  capture_output=True, text=True, check=False, cwd=REPO)
            models = (md.read_text(encoding="utf-8") if md.exists()
                      else "## The shipped models side by side\n\nfailed:\n```\n" +
                      proc.stderr.strip()[-2000:] + "\n```\n")
        survey = None
        sscript = REPO / "scripts" / "bench_survey.py"
        if sscript.exists():
            print("bench: surveys on Dask", file=sys.stderr)
            md = tmp / "survey.md"
            proc = subprocess.run([sys.executable, str(sscript), "--markdown", str(md)],
                                  capture_output=True, text=True, check=False, cwd=REPO)
            survey = (md.read_text(encoding="utf-8") if md.exists()
                      else "## Surveys on Dask\n\nfailed:\n```\n" +
                      proc.stderr.strip()[-2000:] + "\n```\n")
    finally:
        for f in sorted(tmp.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        tmp.rmdir()

    # ---- report ----
    tile_in = args.tile + 2 * HALO
    halo_overhead = (tile_in / args.tile) ** 2
    gflop_per_lr_mpix = flops_tile / (args.tile ** 2) * 1e6 / 1e9
    load = os.getloadavg()
    say("# Inference performance (`make bench`)\n")
    say(f"Command: `make bench` (= `nice -n 10 .venv/bin/python scripts/bench.py --out "
        f"docs/performance.md`), {time.strftime('%Y-%m-%d')}, {time.perf_counter() - t_all:.0f} s.")
    say(f"Machine: {_cpu_name()}, {os.cpu_count()} logical CPUs, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; CPU flags: "
        f"{_cpu_flags()}. Load average at the end: {load[0]:.1f} / {load[1]:.1f} (shared "
        "machine: wall times are noisy, CPU times are given beside them). "
        f"GPU: {gpu['choice'] if gpu else 'none'}.\n")
    say(f"Model: {loaded.card.model.name} x{loaded.card.model.scale} (the shipped default, "
        f"{sum(p.numel() for p in loaded.model.parameters()):,} parameters"
        f"{'' if loaded.path else ', random weights: same cost as trained'}). Tiles: "
        f"{args.tile}^2 LR core + {HALO} px halo = {tile_in}^2 input, batch 1 on CPU. "
        f"FLOPs (FlopCounterMode, 2/MAC): {flops_tile / 1e9:.1f} GFLOP per tile = "
        f"{gflop_per_lr_mpix:,.0f} GFLOP per LR Mpix, x{halo_overhead:.2f} halo overhead = "
        f"{gflop_per_lr_mpix * halo_overhead:,.0f} effective GFLOP per LR Mpix.\n")
    say("## Measured peaks (same run)\n")
    say("| precision | matmul 2048^3 GFLOP/s | conv 64->64 3x3 channels_last GFLOP/s |")
    say("|---|---|---|")
    for p, v in cpu_peaks.items():
        say(f"| CPU {p} | {v['matmul_gflops']:.0f} | {v['conv_gflops']:.0f} |")
    say("")
    say(f"## End-to-end throughput, CPU ({args.size}x{args.size} LR synthetic orthophoto, "
        f"{grid_tiles} tiles; open -> all files closed, overviews included)\n")
    threads = torch.get_num_threads()
    say("| path | wall s | CPU s | LR Mpix/s | LR Mpix/s by CPU time | tiles/s | achieved "
        "GFLOP/s | % of matmul peak | peak RSS MB |")
    say("|---|---|---|---|---|---|---|---|---|")
    for p, r in runs.items():
        achieved = flops_tile * r["n_tiles"] / r["wall_s"] / 1e9
        peak = cpu_peaks[p]["matmul_gflops"]
        say(f"| pipeline {p} (channels_last{', autocast' if p != 'fp32' else ''}) | "
            f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {lr_mpix / r['wall_s']:.4f} | "
            f"{lr_mpix * threads / r['cpu_s']:.4f} | "
            f"{r['n_tiles'] / r['wall_s']:.2f} | {achieved:.0f} | {100 * achieved / peak:.0f} % "
            f"| {r['peak_rss_mb']:.0f} |")
    nv_achieved = naive_flops * nv["n_tiles"] / nv["wall_s"] / 1e9
    say(f"| naive loop fp32 (1 tile at a time, no halo, NCHW) | {nv['wall_s']:.1f} | "
        f"{nv['cpu_s']:.1f} | {lr_mpix / nv['wall_s']:.4f} | "
        f"{lr_mpix * threads / nv['cpu_s']:.4f} | {nv['n_tiles'] / nv['wall_s']:.2f} | "
        f"{nv_achieved:.0f} | {100 * nv_achieved / cpu_peaks['fp32']['matmul_gflops']:.0f} % "
        "| - |")
    say(f"\n\"LR Mpix/s by CPU time\" = LR Mpix x {threads} threads / process CPU seconds: "
        "an estimate for an idle machine when other jobs share the cores.")
    best = min(runs.values(), key=lambda r: r["wall_s"])
    say(f"\nSpeed-up of the pipeline at its fastest precision over the naive loop: "
        f"**x{nv['wall_s'] / best['wall_s']:.2f}** in LR Mpix/s (the naive loop computes no "
        f"halo, i.e. {halo_overhead:.2f}x fewer FLOPs, and has seams); fp32 pipeline vs naive: "
        f"x{nv['wall_s'] / runs['fp32']['wall_s']:.2f}.\n")
    say("## Peak RSS vs raster size (streaming pipeline, null model, each in a subprocess)\n")
    say("| LR raster | HR outputs | wall s | LR Mpix/s (plumbing) | peak RSS MB |")
    say("|---|---|---|---|---|")
    for size, r in rss.items():
        say(f"| {size}x{size} | {4 * size}x{4 * size} prob + mask | {r['wall_s']:.1f} | "
            f"{size * size / 1e6 / r['wall_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    if len(rss) >= 2:
        sizes = sorted(rss)
        say("")
        for s0, s1 in zip(sizes[:-1], sizes[1:]):
            a, b = rss[s0]["peak_rss_mb"], rss[s1]["peak_rss_mb"]
            say(f"- RSS growth {s0}^2 -> {s1}^2 ({(s1 / s0) ** 2:.0f}x the pixels): "
                f"{100 * (b - a) / a:+.0f} %")
        say("\nProcessing windows are one row of tiles by at most 2048 LR columns, so the "
            "pipeline's own buffers do not depend on the raster size; what grows on small "
            "rasters is GDAL's block cache, capped at 256 MB (`GDAL_CACHEMAX` in bytes), which "
            "fills once the outputs exceed it: the curve flattens after that.\n")
    if gpu:
        say(f"## GPU: {gpu['choice']} ({gpu['size']}^2 LR, tile 256, batch 8)\n")
        say("| precision | matmul GFLOP/s | wall s | LR Mpix/s | tiles/s | achieved GFLOP/s |")
        say("|---|---|---|---|---|---|")
        for p, r in gpu["runs"].items():
            ach = gpu["flops_tile"] * r["n_tiles"] / r["wall_s"] / 1e9
            say(f"| {p} | {gpu['peaks'].get(p, {}).get('matmul_gflops', 0):.0f} | "
                f"{r['wall_s']:.1f} | {gpu['size'] ** 2 / 1e6 / r['wall_s']:.3f} | "
                f"{r['n_tiles'] / r['wall_s']:.2f} | {ach:.0f} |")
        say("")
    else:
        say("## GPU\n\nNo CUDA device on this machine: no GPU figures.\n")
    if models is not None:
        say(models)
    say(DESIGN)
    if vec is not None:
        say("## Vectorization (`scripts/bench_vectorize.py`)\n")
        say("```\n" + vec + "\n```\n")
    if survey is not None:
        say(survey)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
