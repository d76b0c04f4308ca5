"""Survey fixtures: a tiny model that finds a dark line, small orthophotos in several CRSs."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import pytest

#: LR size of the test orthophotos and the tiling that gives several windows/tiles each
H, W, TILE = 96, 160, 32


@pytest.fixture(scope="session")
def line_model(tmp_path_factory: pytest.TempPathFactory, tiny_cfg) -> Path:
    """A random tile-exact tiny model whose final layer is shifted and sharpened so that it
    marks the dark line of :func:`make_ortho` as a crack (about 3 % of the pixels) and
    nothing else: one long crack line per orthophoto."""
    import torch
    from csbsr.core.model.card import ModelCard, build_model, save_model

    torch.manual_seed(0)
    cfg = tiny_cfg("thin_unet")
    model = build_model(cfg)
    with torch.no_grad():
        final = model.seg_net.final
        final.weight.mul_(250.0)
        final.bias.sub_(0.9).mul_(5.0)
    card = ModelCard(model=cfg, input_gsd_m=None, recommended_threshold=0.5, halo_lr_px=8)
    return save_model(model, card, tmp_path_factory.mktemp("model") / "line.safetensors")


def _write(path: Path, crs: Optional[str], seed: int, x0: float, y0: float) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    img = (rng.random((3, H, W)) * 60 + 150).astype(np.uint8)
    for c in range(W):  # a dark diagonal crack across every tile row and column
        r = int(20 + c * 0.4)
        img[:, r:r + 3, c] = 40
    kw = dict(driver="GTiff", width=W, height=H, count=3, dtype="uint8",
              transform=from_origin(x0, y0, 0.008, 0.008))
    if crs:
        kw["crs"] = crs
    with rasterio.open(path, "w", **kw) as ds:
        ds.write(img)
    return path


@pytest.fixture()
def make_ortho() -> Callable[..., Path]:
    """``make_ortho(path, crs="EPSG:32633", seed=0, x0=500000, y0=5000000)`` writes a 160x96
    RGB orthophoto (8 mm/px) with a dark diagonal crack; ``crs=None`` = no CRS."""

    def make(path: Path, crs: Optional[str] = "EPSG:32633", seed: int = 0,
             x0: float = 500000.0, y0: float = 5000000.0) -> Path:
        return _write(Path(path), crs, seed, x0, y0)

    return make


@pytest.fixture()
def batch(tmp_path: Path, make_ortho) -> Path:
    """A folder of five orthophotos: a (UTM 33N), a bad one without CRS, a corrupt one,
    b (UTM 32N: another CRS), e (UTM 33N)."""
    d = tmp_path / "in"
    d.mkdir()
    make_ortho(d / "a.tif")
    make_ortho(d / "b_nocrs.tif", crs=None, seed=2)
    (d / "c_corrupt.tif").write_bytes(b"II*\x00" + b"not a tiff" * 20)
    make_ortho(d / "d.tif", crs="EPSG:32632", seed=1)
    make_ortho(d / "e.tif", seed=3, x0=500002.0)
    return d


def inference(model: Path, **kw):
    """The inference settings of the survey tests (CPU fp32, 32 px tiles: 15 tiles)."""
    from csbsr.core.detect.config import InferenceConfig, TileConfig

    return InferenceConfig(model_path=str(model), device="cpu", precision="fp32",
                           tile=TileConfig(tile_px=TILE), **kw)


@pytest.fixture(scope="session")
def survey_settings() -> Callable[..., object]:
    """``survey_settings(model, **SurveyConfig fields)``: report off, 256 px vectorization
    windows (8 tiles on the 640x384 probability raster, so lines cross tile seams)."""
    from csbsr.core.survey.config import SurveyConfig
    from csbsr.core.vectorize.config import VectorizeConfig

    def make(model: Path, **kw: object) -> SurveyConfig:
        kw.setdefault("report", False)
        return SurveyConfig(inference=inference(model),
                            vectorize=VectorizeConfig(window_px=256, overlap_px=64), **kw)

    return make


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


def line_extents(gpkg: Path, raster: Path) -> list:
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


@pytest.fixture(scope="session")
def lines() -> SimpleNamespace:
    """``lines.read(gpkg)``, ``lines.assert_same(a, b)`` and ``lines.extents(gpkg, raster)``
    on the crack_seg layer of run GeoPackages."""
    return SimpleNamespace(read=read_lines, assert_same=assert_same_lines,
                           extents=line_extents)
