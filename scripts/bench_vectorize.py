"""Vectorization throughput: mask megapixels per second and peak RSS on a synthetic mosaic.

Usage: ``python scripts/bench_vectorize.py [--size 4096] [--window 2048]``; prints one JSON
object (``mpx_per_s``, ``seconds``, ``peak_rss_mb``, counts). The mosaic comes from
:func:`csbsr.core.synthetic.mosaic` (random-walk cracks + block grids, 0/255 uint8 GeoTIFF).
Then, in the same run, the hysteresis: the mosaic as a probability (cracks at 0.7, one pixel
at 1.0 in 70 % of the connected regions) vectorized at threshold 0.5 without and with seed
0.98 (``seeds``: both throughputs and their ratio, the regions' share that was dropped).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np
    import rasterio
    from affine import Affine
    from csbsr.core.vectorize.api import vectorize_array, vectorize_raster
    from csbsr.core.vectorize.config import VectorizeConfig
    from csbsr.core.vectorize.synthetic import mosaic

    img = mosaic(args.size, seed=args.seed)
    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "mosaic.tif"
        prof = {"driver": "GTiff", "height": img.shape[0], "width": img.shape[1], "count": 1,
                "dtype": "uint8", "crs": "EPSG:32633", "tiled": True,
                "transform": Affine(0.002, 0, 500000, 0, -0.002, 5600000),
                "compress": "deflate"}
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(img, 1)
        fg = float(np.mean(img > 0))
        del img
        cfg = VectorizeConfig(window_px=args.window)
        # warm the numba JIT of skan on a small raster so the timing is steady-state
        small = mosaic(512, seed=args.seed + 1)
        vectorize_array(small, prof["transform"], prof["crs"], cfg)
        t0 = time.perf_counter()
        net = vectorize_raster(path, cfg)
        dt = time.perf_counter() - t0
        seeds = _seeds_bench(img_path=path, td=Path(td), prof=prof, window=args.window,
                             seed=args.seed, mpx=args.size * args.size / 1e6)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mpx = args.size * args.size / 1e6
    print(json.dumps({
        "bench": "vectorize",
        "size_px": args.size,
        "window_px": args.window,
        "foreground": round(fg, 4),
        "seconds": round(dt, 2),
        "mpx_per_s": round(mpx / dt, 3),
        "peak_rss_mb": round(rss_kb / 1024.0, 1),
        "segments": net.summary.n_segments,
        "total_len_m": round(net.summary.total_len_m, 2),
        "seeds": seeds,
    }))
    return 0


def _seeds_bench(img_path: Path, td: Path, prof: dict, window: int, seed: int,
                 mpx: float) -> dict:
    """Throughput without and with the hysteresis seed on a probability version of the
    mosaic (see the module doc)."""
    import numpy as np
    import rasterio
    from csbsr.core.vectorize.api import vectorize_raster
    from csbsr.core.vectorize.config import VectorizeConfig
    from scipy import ndimage as ndi

    with rasterio.open(img_path) as src:
        m = src.read(1) > 0
    lab, n = ndi.label(m, structure=np.ones((3, 3), bool))
    prob = np.where(m, 179, 0).astype(np.uint8)  # 0.70
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(n) < 0.7) + 1
    first = ndi.find_objects(lab)
    for k in chosen:  # one sure pixel (1.0) in 70 % of the regions
        sl = first[k - 1]
        ys, xs = np.nonzero(lab[sl] == k)
        prob[sl][ys[0], xs[0]] = 255
    del lab, m
    path = td / "prob.tif"
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(prob, 1)
    del prob
    out = {"regions": int(n)}
    for name, s in (("no_seed", None), ("seed_0.98", 0.98)):
        cfg = VectorizeConfig(threshold=0.5, seed_threshold=s, window_px=window)
        t0 = time.perf_counter()
        net = vectorize_raster(path, cfg)
        dt = time.perf_counter() - t0
        out[name] = {"seconds": round(dt, 2), "mpx_per_s": round(mpx / dt, 3),
                     "total_len_m": round(net.summary.total_len_m, 2)}
    out["throughput_ratio_seed_vs_none"] = round(
        out["no_seed"]["seconds"] / out["seed_0.98"]["seconds"], 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
