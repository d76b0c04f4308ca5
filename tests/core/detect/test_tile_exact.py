"""Tiled inference equals whole-image inference for the tile-exact model (lite2), on a real
raster; the first lite model (per-tile normalisation, pyramid pooling, per-tile kernel) fails
the same test (negative control)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from csbsr.core.detect.config import InferenceConfig, TileConfig
from csbsr.core.detect.detect import detect
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "resources" / "models"
SAMPLE = REPO / "resources" / "sample" / "sample_ortho.tif"
CROP = 320  # LR px: tiles of 64, 128 and 256 all cut it; one 320 px tile is the whole image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 320 x 320 px piece of the demo orthophoto (8 mm/px drone concrete)."""
    out = tmp_path_factory.mktemp("crop") / "crop.tif"
    with rasterio.open(SAMPLE) as src:
        win = Window(96, 96, CROP, CROP)
        prof = src.profile.copy()
        prof.update(width=CROP, height=CROP, transform=src.window_transform(win))
        with rasterio.open(out, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return out


def _prob(raster: Path, model: Path, tile: int, out: Path) -> np.ndarray:
    cfg = InferenceConfig(model_path=str(model), device="cpu", precision="fp32",
                          prob_dtype="float16", tile=TileConfig(tile_px=tile))
    res = detect(raster, out, cfg)
    with rasterio.open(res.prob_path) as src:
        return src.read(1).astype(np.float64)


_WHOLE: dict = {}  # (raster, model) -> whole-image probability, shared by the tile sizes


def _differences(raster: Path, model: Path, tmp: Path, tile: int) -> tuple:
    from csbsr.core.model.card import read_card

    key = (str(raster), str(model))
    if key not in _WHOLE:
        _WHOLE[key] = _prob(raster, model, CROP, tmp / "whole")
    whole = _WHOLE[key]
    tiled = _prob(raster, model, tile, tmp / f"t{tile}")
    thr = read_card(model).recommended_threshold  # the mask the product draws
    flips = float(np.mean((whole >= thr) != (tiled >= thr)))
    return float(np.max(np.abs(whole - tiled))), flips


@pytest.mark.parametrize("tile", [64, 128, 256])
def test_tiled_equals_whole_image_for_the_tile_exact_model(crop: Path, tmp_path: Path,
                                                           tile: int) -> None:
    model = MODELS / "csbsr_lite2_x4.safetensors"
    if not model.exists():
        pytest.skip("the lite2 model is not installed (make train)")
    dmax, flips = _differences(crop, model, tmp_path, tile)
    assert dmax <= 1.0 / 255.0, f"tile {tile}: max |dp| {dmax:.4f}"
    assert flips <= 0.001, f"tile {tile}: {flips:.4%} mask pixels flipped"


def test_the_first_lite_model_is_not_tile_exact(crop: Path, tmp_path: Path) -> None:
    """Negative control: per-tile instance norm, PSP pooling and kernel break the equality."""
    model = MODELS / "csbsr_lite_x4.safetensors"
    if not model.exists():
        pytest.skip("the first lite model is not installed")
    dmax, flips = _differences(crop, model, tmp_path, 128)
    assert dmax > 1.0 / 255.0 and flips > 0.0
