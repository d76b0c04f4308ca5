"""A raster run in blocks (detection windows and vectorization tiles handed to a BlockMap)
gives the files of the sequential run: rasters byte for byte, the same crack lines."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import pytest


def read_lines(gpkg: Path) -> Tuple[list, Dict[str, Any]]:
    """(WKB geometries, attribute columns) of a run's crack_seg layer."""
    from pyogrio.raw import read

    meta, _fids, wkb, data = read(str(gpkg), layer="crack_seg")
    return list(wkb), {n: data[i] for i, n in enumerate(meta["fields"])}


def assert_same_lines(a: Path, b: Path) -> int:
    """The two GeoPackages hold the same lines with the same attributes; returns the count."""
    ga, ca = read_lines(a)
    gb, cb = read_lines(b)
    assert ga == gb
    assert ca.keys() == cb.keys()
    for name in ca:
        x, y = ca[name], cb[name]
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name
    return len(ga)


def line_rows(gpkg: Path, raster: Path) -> list:
    """(min row, max row, min col, max col) in raster pixels of every line."""
    import rasterio
    import shapely

    wkb, _ = read_lines(gpkg)
    with rasterio.open(raster) as ds:
        t = ds.transform
    out = []
    for g in shapely.from_wkb(wkb):
        xy = np.asarray(g.coords)
        c, r = (xy[:, 0] - t.c) / t.a, (xy[:, 1] - t.f) / t.e
        out.append((r.min(), r.max(), c.min(), c.max()))
    return out


@pytest.mark.parametrize("variant", ["uint8", "float16+sr"])
def test_blocked_run_equals_the_sequential_run(tmp_path: Path, make_ortho, line_model: Path,
                                               survey_settings, variant: str) -> None:
    from csbsr.core.raster.tiling import LocalBlockMap
    from csbsr.core.run import run_pipeline

    ortho = make_ortho(tmp_path / "site.tif")
    cfg = survey_settings(line_model)
    inf = dataclasses.replace(cfg.inference, threads=1)
    if variant != "uint8":
        inf = dataclasses.replace(inf, prob_dtype="float16", save_sr=True)
    seq = run_pipeline(ortho, tmp_path / "seq", inf, vectorize_cfg=cfg.vectorize, report=False)
    # 5000 px blocks: each 32-row window of detection and each vectorization tile alone
    blk = run_pipeline(ortho, tmp_path / "blk", inf, vectorize_cfg=cfg.vectorize, report=False,
                       block_map=LocalBlockMap(5000))
    for role in ("prob", "mask", *(["sr"] if variant != "uint8" else [])):
        assert seq.outputs[role].read_bytes() == blk.outputs[role].read_bytes(), role
    assert assert_same_lines(seq.outputs["cracks"], blk.outputs["cracks"]) >= 1
    assert seq.summary == blk.summary
    if variant == "uint8":
        # the crack crosses the detection blocks (HR rows 128, 256) and the vectorization
        # tiles (columns 192, 384, 576) and stays one line
        (r0, r1, c0, c1), = line_rows(blk.outputs["cracks"], blk.outputs["mask"])
        assert r0 < 128 < 256 < r1 and c0 < 192 < 576 < c1
