"""Survey benchmark (``make bench``): ``csbsr survey`` throughput with 1 and 2 workers, the
per-worker overhead (cluster start, model load) and a huge raster split across workers.

Each configuration runs in its own subprocess (fresh torch, fresh cluster) on the same
synthetic orthophotos (``scripts/bench.py``'s ``make_ortho``, 8 mm/px), with the shipped
lite model (or a random lite model: same cost), CPU, reports off (the engine, not the HTML):

- ``inproc 1x2``: ``--workers 1`` (this process, no Dask), 2 torch threads;
- ``dask 1x2`` / ``dask 2x1``: a ``LocalCluster`` of 1 worker x 2 torch threads / 2 workers x
  1 thread (the survey's own rule on 2 cores with several orthophotos);
- ``split``: one larger orthophoto in-process (2 threads) and split in blocks over 2
  workers x 1 thread, and its serial part (the blocks run in one process, timed apart).

Prints one JSON object per configuration; ``--markdown FILE`` also writes the Markdown
section of ``docs/performance.md`` (``--update DOC`` replaces that section in DOC).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
SECTION = "## Surveys on Dask (`scripts/bench_survey.py`)"


def _model_path(tmp: Path) -> Path:
    """The shipped lite model, or a random lite model saved in ``tmp`` (same cost)."""
    from csbsr.core.model.card import ModelCard, build_model, default_model_path, save_model
    from csbsr.core.model.config import ModelConfig

    if default_model_path().exists():
        return default_model_path()
    import torch

    torch.manual_seed(0)
    cfg = ModelConfig()
    return save_model(build_model(cfg), ModelCard(model=cfg, halo_lr_px=16),
                      tmp / "lite.safetensors")


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the Dask workers)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def child(args: argparse.Namespace) -> int:
    """One configuration; prints a JSON line."""
    from csbsr.core.detect.config import InferenceConfig
    from csbsr.core.model.cache import ModelRef
    from csbsr.core.survey.config import SurveyConfig
    from csbsr.core.survey.merge import merge_lines, target_crs
    from csbsr.core.survey.survey import run_survey

    inputs = [Path(p) for p in args.inputs]
    inf = InferenceConfig(model_path=str(args.model_file), device="cpu", gsd_policy="native")
    if args.config == "big_serial":
        return serial_part(args, inputs[0], inf)
    kw = dict(inference=inf, report=False, threads=args.threads,
              split_mpix=args.split_mpix, block_mpix=args.block_mpix)
    t0, c0 = time.perf_counter(), _cpu_s()
    out: dict = {"config": args.config, "workers": args.workers, "threads": args.threads}
    cluster = client = None
    if args.workers == 0:  # in-process
        from csbsr.core.model.card import load_model

        t = time.perf_counter()
        load_model(args.model_file)
        out["model_load_s"] = time.perf_counter() - t
        cfg = SurveyConfig(workers=1, **kw)
    else:
        from csbsr.core.survey.cluster import SurveyPlugin
        from distributed import Client, LocalCluster

        t = time.perf_counter()
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0",
                               env={"OMP_NUM_THREADS": str(args.threads)})
        client = Client(cluster)
        client.wait_for_workers(args.workers)
        out["cluster_start_s"] = time.perf_counter() - t
        t = time.perf_counter()  # the survey's plugin: torch threads + model, every worker
        client.register_plugin(SurveyPlugin(ModelRef.of(args.model_file), args.threads))
        out["model_load_s"] = time.perf_counter() - t
        # CPU seconds of each worker process so far: start, imports, model
        setup = client.run(time.process_time)
        out["worker_setup_cpu_s"] = sum(setup.values()) / len(setup)
        cfg = SurveyConfig(scheduler=cluster.scheduler_address, **kw)
    t, c = time.perf_counter(), time.process_time()
    res = run_survey(inputs, args.outdir, cfg)
    out["survey_s"] = time.perf_counter() - t
    out["survey_cpu_s"] = time.process_time() - c  # this process (in-process: the work)
    if client is not None:  # + the workers' CPU during the survey
        after = client.run(time.process_time)
        out["survey_cpu_s"] += sum(after[w] - setup.get(w, 0.0) for w in after)
    t = time.perf_counter()  # the survey's serial tail: merging the lines, again
    merge_lines([(r.stem, Path(r.folder) / f"{r.stem}_cracks.gpkg") for r in res.records],
                target_crs(None, [res.summary["crs_wkt"]])[0], Path(args.outdir) / "m.gpkg")
    out["merge_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if client is not None:
        client.close()
        cluster.close()
    out["close_s"] = time.perf_counter() - t
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = _cpu_s() - c0
    out["statuses"] = sorted({r.status for r in res.records})
    out["blocks"] = [r.blocks for r in res.records]
    out["run_s"] = [r.seconds for r in res.records]
    out["lines"] = res.summary["n_lines"]
    out["out_mb"] = sum(p.stat().st_size for p in Path(args.outdir).rglob("*")
                        if p.is_file()) / 1e6
    print(json.dumps(out))
    return 0


class TimedBlockMap:
    """A BlockMap that runs the blocks here, one after the other, and sums their CPU time
    (process CPU: every thread, GDAL's included)."""

    def __init__(self, block_px: int) -> None:
        self.block_px = block_px
        self.cpu_s = 0.0
        self.n = 0

    def __call__(self, fn, items):
        for item in items:
            c = time.process_time()
            out = fn(item)
            self.cpu_s += time.process_time() - c
            self.n += 1
            yield out


def serial_part(args: argparse.Namespace, ortho: Path, inf) -> int:
    """The split run's serial part: the pipeline with its blocks run here, 1 torch thread;
    process CPU outside the blocks = what the coordinating task does alone."""
    import dataclasses

    import torch
    from csbsr.core.model.cache import ModelRef, cached_model
    from csbsr.core.run import run_pipeline

    torch.set_num_threads(1)
    loaded = cached_model(ModelRef.of(args.model_file))
    bmap = TimedBlockMap(int(args.block_mpix * 1e6))
    t, c = time.perf_counter(), time.process_time()
    run_pipeline(ortho, args.outdir, dataclasses.replace(inf, threads=1), model=loaded,
                 report=False, block_map=bmap)
    total = time.process_time() - c
    print(json.dumps({"config": "big_serial", "survey_s": time.perf_counter() - t,
                      "cpu_s": total, "serial_cpu_s": total - bmap.cpu_s,
                      "block_cpu_s": bmap.cpu_s, "blocks": [bmap.n]}))
    return 0


def _run(config: str, inputs, outdir: Path, model: Path, workers: int, threads: int,
         split_mpix: float = 0.0, block_mpix: float = 4.0) -> dict:
    cmd = [sys.executable, __file__, "--child", config, "--model-file", str(model),
           "--outdir", str(outdir), "--workers", str(workers), "--threads", str(threads),
           "--split-mpix", str(split_mpix), "--block-mpix", str(block_mpix),
           "--inputs", *map(str, inputs)]
    print(f"bench_survey: {config}", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if proc.returncode != 0:
        raise SystemExit(f"bench_survey child {config} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(res), file=sys.stderr)
    return res


def markdown(r: dict, n: int, size: int, big: int, load: tuple) -> str:
    """The report section: the measured table, then the scaling worked out from it."""
    cores = os.cpu_count() or 1
    mpix = n * size * size / 1e6
    lines = [SECTION, "",
             f"Command: `nice -n 10 .venv/bin/python scripts/bench_survey.py` (run by `make "
             f"bench`), {time.strftime('%Y-%m-%d')}; {cores} logical CPUs, load average at the "
             f"end {load[0]:.1f} / {load[1]:.1f} (a shared machine: a training ran beside it, "
             "so wall times are noisy and CPU times are what the scaling below uses). Lite "
             f"model, CPU, default precision, tiles 128 + halo 16, reports off. {n} synthetic "
             f"orthophotos of {size}x{size} LR px ({mpix:.2f} LR Mpix in all); the split run: "
             f"one of {big}x{big} LR px. Every configuration runs in a fresh process.", "",
             "| configuration | cluster start s | worker set-up s (CPU s each) | survey s | "
             "LR Mpix/s | survey CPU s | start + survey + close s | merge s |",
             "|---|---|---|---|---|---|---|---|"]
    for key, label in (("inproc", "`--workers 1`: this process, 2 torch threads"),
                       ("dask1", "LocalCluster 1 worker x 2 threads"),
                       ("dask2", "LocalCluster 2 workers x 1 thread (default, 2+ orthophotos)")):
        x = r[key]
        setup = (f" ({x['worker_setup_cpu_s']:.1f})" if "worker_setup_cpu_s" in x else "")
        lines.append(
            f"| {label} | {x.get('cluster_start_s', 0.0):.1f} | {x['model_load_s']:.2f}"
            f"{setup} | {x['survey_s']:.1f} | {mpix / x['survey_s']:.4f} | "
            f"{x['survey_cpu_s']:.0f} | {x['wall_s']:.1f} | {x['merge_s']:.2f} |")
    d1, d2, ip = r["dask1"], r["dask2"], r["inproc"]
    ratio = d1["survey_s"] / d2["survey_s"]
    lines += ["", "\"Worker set-up\" = registering the survey's worker plugin: torch imported, "
              "threads set and the model loaded from its path + SHA-256 on every worker, in "
              "parallel (in-process: loading the model); in brackets the CPU seconds of one "
              "worker process from its start to then. \"Survey CPU\" = the survey's process "
              "plus every worker's CPU during the survey (torch threads included).", "",
              f"- Throughput with 2 workers x 1 thread over 1 worker x 2 threads: "
              f"**x{ratio:.2f}** in wall time (one run), "
              f"x{d1['survey_cpu_s'] / d2['survey_cpu_s']:.2f} in CPU time; 2 workers over "
              "in-process 2 threads: "
              f"x{ip['survey_s'] / d2['survey_s']:.2f} wall.",
              "- Reading it: 2 workers x 1 thread spend a few % more CPU (a second process, "
              "Dask) but keep both cores busy without synchronisation; 1 worker x 2 threads "
              "meets at every layer of a small tile, and a 2-thread parallel region waits for "
              "its slower thread (any other job on the machine), which busy-waiting OpenMP "
              "threads pay in CPU. Hence the rule: processes first, threads only for fewer "
              "orthophotos (or blocks) than cores.",
              f"- Per-worker overhead: cluster start {d2['cluster_start_s']:.1f} s (2 workers; "
              f"{d1['cluster_start_s']:.1f} s for 1), worker set-up {d2['model_load_s']:.1f} s "
              f"(2 workers; {d1['model_load_s']:.1f} s for 1; in-process model load "
              f"{ip['model_load_s']:.1f} s), shutdown {d2['close_s']:.1f} s; CPU of one "
              f"worker's start-up and set-up: {d2['worker_setup_cpu_s']:.1f} s.",
              f"- Survey tail (merging every line into the survey GeoPackage, on the client): "
              f"{d2['merge_s']:.2f} s for {d2['lines']} lines of {n} orthophotos.",
              f"- Outputs: {d2['out_mb'] / mpix:.1f} MB per LR Mpix (prob, mask, lines, JSON).",
              "", "| huge raster | survey s | LR Mpix/s | blocks | survey CPU s |",
              "|---|---|---|---|---|"]
    bmp = big * big / 1e6
    for key, label in (("big_inproc", "in-process, 2 threads"),
                       ("big_split", "split over 2 workers x 1 thread")):
        x = r[key]
        lines.append(f"| {label} | {x['survey_s']:.1f} | {bmp / x['survey_s']:.4f} | "
                     f"{x['blocks'][0]} | {x['survey_cpu_s']:.0f} |")
    se = r["big_serial"]
    lines += ["", f"Serial part of a split run (the same {se['blocks'][0]} blocks run one after "
              "the other in one process, 1 torch thread, process CPU time): the coordinating "
              f"work (kernel estimate, GeoTIFF writes and overviews, value scan, stitching, "
              f"measuring, GeoPackage) {se['serial_cpu_s']:.1f} CPU s, the blocks "
              f"{se['block_cpu_s']:.1f} CPU s."]
    lines += ["", scaling(r, cores, mpix, bmp), "", DESIGN]
    return "\n".join(lines) + "\n"


DESIGN = """### How a split orthophoto gives the files of a single-process run

- Detection blocks are runs of consecutive processing windows (rows of tile cores, at most
  2048 LR columns, with the model's halo) of the run's one `TileGrid`: a block reads exactly
  the windows the sequential loop reads (reflect padding and nodata filling included), and
  returns the arrays as they are written (quantized probability, mask, SR).
- A `kernel_scope="raster"` model's blur kernel is estimated once, by the coordinating task,
  and sent to every block with the grid and the normalisation; the model itself goes as its
  path + SHA-256 and is loaded once per worker.
- The coordinating task writes the windows in grid order with the same GeoTIFF writer (GDAL
  places tiles in the file in write order, so the order matters for byte identity), then
  vectorizes: the tiles of the vectorization grid go to workers in blocks, each returning
  its pieces clipped to the tile core and its analysed area; the coordinator concatenates
  them in tile order, joins the pieces across tile seams (`merge_seams`, which also joins
  lines across block borders) and measures, as `vectorize_raster` does: the same lines, and
  the same sums in the same order.
- Same torch thread count and device everywhere: torch's CPU reductions round differently
  with another number of threads (measured: 3 of 245,760 probability pixels off by 1/255
  between 1 and 2 threads), so a survey is identical to `csbsr run --threads T` with its
  workers' T."""


def scaling(r: dict, cores: int, mpix: float, bmp: float) -> str:
    """The expected scaling on N machines, worked out from the measured figures."""
    d2 = r["dask2"]
    k = d2["survey_cpu_s"] / mpix  # CPU s per LR Mpix on 1-thread workers, Dask included
    per_machine = cores / k
    setup = d2["cluster_start_s"] + d2["model_load_s"] + d2["close_s"]
    mb = d2["out_mb"] / mpix
    fs_n = 1000.0 / (per_machine * mb)
    coord, blocks = r["big_serial"]["serial_cpu_s"], r["big_serial"]["block_cpu_s"]
    f = coord / (coord + blocks) if coord + blocks > 0 else float("nan")
    merge_one = d2["merge_s"] / max(1, len(d2["run_s"]))
    return "\n".join([
        "### Expected scaling on N machines (worked out from the figures above)", "",
        f"- **Work**: {k:.0f} CPU s per LR Mpix (survey CPU of the 2-worker run: workers with "
        "1 torch thread, Dask and the client included; worker set-up excluded), so one "
        f"{cores}-core machine of this kind does "
        f"{per_machine:.4f} LR Mpix/s when its workers x threads fill its cores, and N "
        f"machines N times that, as long as the points below hold. A survey of M "
        "orthophotos keeps at most M workers busy: with fewer orthophotos than worker "
        "processes, split them (`--split-mpix`) so that blocks fill the cluster.",
        f"- **Fixed cost** per survey, not per machine: cluster start + worker set-up + "
        f"shutdown = {setup:.0f} s here (workers start and load the model in parallel). It "
        f"is negligible once each worker has minutes of work: with N machines the survey "
        f"lasts about {k:.0f} x LR Mpix / ({cores} x N) s, so the fixed cost stays below "
        f"10 % while LR Mpix / N > {10 * setup * cores / k:.1f}.",
        f"- **Shared storage** is the first limit of a file-per-orthophoto survey: "
        f"{mb:.1f} MB written per LR Mpix, i.e. {per_machine * mb:.3f} MB/s per machine here; "
        f"a 1 GB/s NFS server saturates near {fs_n:,.0f} such CPU machines, and as many "
        "times sooner as a worker is faster (a GPU worker: its throughput over this "
        "machine's, see the GPU section).",
        f"- **Survey tail** (client, serial): merging the lines takes {merge_one:.2f} s per "
        "orthophoto here (opening each GeoPackage dominates at this crack density), so "
        f"about {merge_one * 1000 / 60:.0f} min for 1000 orthophotos, whatever N: it matters "
        "only for surveys of many small orthophotos on many machines.",
        f"- **One huge raster** (split): the coordinating task writes the rasters, stitches "
        f"and measures the lines alone: {coord:.1f} CPU s of {coord + blocks:.1f} here, a "
        f"serial fraction f = {f:.2f}, so its speed-up on W workers is 1 / (f + (1 - f) / W)"
        f": at most {1 / f if f == f and f > 0 else float('inf'):.0f}x however many machines"
        " (Amdahl); on GPU workers the blocks get faster but the coordinator's GDAL writes and "
        "vectorization do not, so the limit comes sooner. Many orthophotos do not have this "
        "limit: each is its own task.",
        "- **Scheduler**: Dask's scheduler costs about 1 ms per task (its documentation's "
        "rule of thumb); with tasks of tens of seconds (an orthophoto, a block of "
        "`--block-mpix 4`) it handles thousands of workers before it matters."])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="orthophotos of the throughput survey")
    ap.add_argument("--size", type=int, default=384, help="their LR side")
    ap.add_argument("--big", type=int, default=768, help="LR side of the split raster")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--update", type=Path, default=None,
                    help="replace the survey section of this Markdown file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--outdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--split-mpix", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--block-mpix", type=float, default=4.0, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", nargs="*", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.config = args.child
        return child(args)

    from bench import make_ortho

    r = {}
    with tempfile.TemporaryDirectory(prefix="csbsr-bench-survey-") as tmpd:
        tmp = Path(tmpd)
        model = _model_path(tmp)
        orthos = [make_ortho(tmp / f"o{i}.tif", args.size, seed=i) for i in range(args.n)]
        big = make_ortho(tmp / "big.tif", args.big, seed=99)
        r["inproc"] = _run("inproc", orthos, tmp / "s_inproc", model, 0, 2)
        r["dask1"] = _run("dask1", orthos, tmp / "s_dask1", model, 1, 2)
        r["dask2"] = _run("dask2", orthos, tmp / "s_dask2", model, 2, 1)
        r["big_inproc"] = _run("big_inproc", [big], tmp / "b_inproc", model, 0, 2)
        # blocks of one 128-px tile row (768 x 128 LR px = 0.098 Mpix)
        r["big_split"] = _run("big_split", [big], tmp / "b_split", model, 2, 1,
                              split_mpix=0.25, block_mpix=0.09)
        r["big_serial"] = _run("big_serial", [big], tmp / "b_serial", model, 0, 1,
                               block_mpix=0.09)
    md = markdown(r, args.n, args.size, args.big, os.getloadavg())
    print(md)
    if args.markdown:
        args.markdown.write_text(md, encoding="utf-8")
    if args.update:
        doc = args.update.read_text(encoding="utf-8")
        head, sep, tail = doc.partition(SECTION)
        rest = tail[tail.find("\n## ", 1) + 1:] if sep and "\n## " in tail[1:] else ""
        args.update.write_text(head.rstrip() + "\n\n" + md + ("\n" + rest if rest else ""),
                               encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
