"""Detection flicker: a crack the OLD run traced no line for, but whose probability map shows
it just below the threshold, is not ``new`` in NEW (real rasters and GeoPackages)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from csbsr.core.compare import CompareConfig, compare_inspections
from csbsr.core.layout import SEGMENT_LAYER, RunLayout
from shapely import wkt


def _drop_crack(run: RunLayout, truth: Dict[str, Any]) -> Any:
    """Remove the longest crack network far from the planted changes from the run's lines;
    return its geometry (OLD map frame)."""
    meta, _fids, wkb, cols = pyogrio.raw.read(str(run.path("cracks")), layer=SEGMENT_LAYER)
    names = list(meta["fields"])
    geoms = shapely.from_wkb(wkb)
    cid = np.asarray(cols[names.index("crack_id")])
    plants = shapely.union_all([wkt.loads(c["old_wkt"] or c["new_wkt"]).buffer(0.2)
                                for c in truth["changes"]])
    lengths: List[Tuple[float, int]] = []
    for c in np.unique(cid):
        g = shapely.union_all(geoms[cid == c])
        if not g.intersects(plants):
            lengths.append((g.length, int(c)))
    _, victim = max(lengths)
    keep = cid != victim
    run.path("cracks").unlink()
    pyogrio.raw.write(str(run.path("cracks")), shapely.to_wkb(geoms[keep]),
                      [np.asarray(c)[keep] for c in cols], names, layer=SEGMENT_LAYER,
                      driver="GPKG", geometry_type="LineString", crs=meta["crs"])
    return shapely.union_all(geoms[~keep])


@pytest.mark.parametrize("with_prob", [False, True])
def test_a_crack_seen_below_the_threshold_is_not_new(change_pair: Path, truth: Dict[str, Any],
                                                     tmp_path: Path, with_prob: bool) -> None:
    old = RunLayout(tmp_path / "old", "site_2021")
    shutil.copytree(change_pair / "truth_runs" / "site_2021", old.folder)
    missed = _drop_crack(old, truth)
    if with_prob:  # the OLD detector saw every crack at p = 0.3 (threshold 0.5)
        with rasterio.open(old.path("mask")) as src:
            profile, mask = src.profile, src.read(1)
        with rasterio.open(old.path("prob"), "w", **profile) as dst:
            dst.write((mask > 0).astype(np.uint8) * 77, 1)
    res = compare_inspections(old.folder, change_pair / "truth_runs" / "site_2024",
                              tmp_path / "out", CompareConfig(report=False))
    t = np.array(truth["transform_old_to_new"])
    zone = shapely.transform(missed, lambda xy: xy @ t[:, :2].T + t[:, 2]).buffer(0.01)
    classes: Dict[str, float] = {}
    for g, f in res.features:
        if f["part"] == "line" and g.within(zone):
            classes[f["change"]] = classes.get(f["change"], 0.0) + g.length
            if with_prob:
                assert f["evid"] == pytest.approx(77 / 255, abs=0.03)
    total = sum(classes.values())
    assert total > 0.3
    if with_prob:
        assert classes.get("unchanged", 0.0) / total > 0.9, classes
    else:
        assert classes.get("new", 0.0) / total > 0.9, classes
