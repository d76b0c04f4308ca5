"""Vectorization throughput: mask megapixels per second and peak RSS on a synthetic mosaic.

Usage: ``python scripts/bench_vectorize.py [--size 4096] [--window 2048]``; prints one JSON
object (``mpx_per_s``, ``seconds``, ``peak_rss_mb``, counts). The mosaic comes from
:func:`csbsr.core.synthetic.mosaic` (random-walk cracks + block grids, 0/255 uint8 GeoTIFF).
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
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
