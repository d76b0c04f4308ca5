"""A raster run in blocks (detection windows and vectorization tiles handed to a BlockMap)
gives the files of the sequential run: rasters byte for byte, the same crack lines."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest


@pytest.mark.parametrize("variant", ["uint8", "float16+sr", "uint8+seeds"])
def test_blocked_run_equals_the_sequential_run(tmp_path: Path, make_ortho, line_model: Path,
                                               survey_settings, lines, variant: str) -> None:
    from csbsr.core.raster.tiling import LocalBlockMap
    from csbsr.core.run import run_pipeline

    ortho = make_ortho(tmp_path / "site.tif")
    cfg = survey_settings(line_model)
    inf = dataclasses.replace(cfg.inference, threads=1)
    vcfg = cfg.vectorize
    if variant == "float16+sr":
        inf = dataclasses.replace(inf, prob_dtype="float16", save_sr=True)
    if variant == "uint8+seeds":  # the hysteresis is decided over the whole raster
        vcfg = dataclasses.replace(vcfg, seed_threshold=0.9)
    seq = run_pipeline(ortho, tmp_path / "seq", inf, vectorize_cfg=vcfg, report=False)
    # 5000 px blocks: each 32-row window of detection and each vectorization tile alone
    blk = run_pipeline(ortho, tmp_path / "blk", inf, vectorize_cfg=vcfg, report=False,
                       block_map=LocalBlockMap(5000))
    if variant == "uint8+seeds":
        assert seq.summary["seed_threshold"] == 0.9
    for role in ("prob", "mask", *(["sr"] if variant == "float16+sr" else [])):
        assert seq.outputs[role].read_bytes() == blk.outputs[role].read_bytes(), role
    assert lines.assert_same(seq.outputs["cracks"], blk.outputs["cracks"]) >= 1
    assert seq.summary == blk.summary
    if variant != "float16+sr":
        # the crack crosses the detection blocks (HR rows 128, 256) and the vectorization
        # tiles (columns 192, 384, 576) and stays one line
        (r0, r1, c0, c1), = lines.extents(blk.outputs["cracks"], blk.outputs["mask"])
        assert r0 < 128 < 256 < r1 and c0 < 192 < 576 < c1
