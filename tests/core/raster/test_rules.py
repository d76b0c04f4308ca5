"""The shared words of the orthophoto rules: what the engine says when it refuses a raster is
exactly these words (the dock says them too, before Run: tests/hostile/test_dock_hostile.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from csbsr.core.errors import InvalidInputError
from csbsr.core.raster.io import describe_raster
from csbsr.core.raster.rules import mercator, no_crs
from csbsr.core.vectorize.measure import make_georef


def test_the_words_name_the_raster_the_problem_and_the_fix() -> None:
    text = no_crs("'ortho'")
    assert text.startswith("'ortho' has no CRS") and "gdal_edit.py -a_srs" in text
    text = mercator("b.tif", "WGS 84 / Pseudo-Mercator")
    assert text.startswith("b.tif is in WGS 84 / Pseudo-Mercator, a (Web) Mercator")
    assert "UTM zone" in text and "gdalwarp -t_srs" in text


def test_the_engine_refuses_in_these_words(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8",
                       transform=Affine(0.01, 0, 500000, 0, -0.01, 5000000)) as dst:
        dst.write(np.zeros((3, 8, 8), np.uint8))
    with rasterio.open(path) as src, pytest.raises(InvalidInputError) as info:
        describe_raster(src, (1, 2, 3))
    assert str(info.value) == no_crs("nocrs.tif")
    with pytest.raises(InvalidInputError) as info:
        make_georef(Affine(0.01, 0, 0, 0, -0.01, 0), "EPSG:3857")
    assert str(info.value) == mercator("the raster", "'WGS 84 / Pseudo-Mercator'")
    with pytest.raises(InvalidInputError) as info:
        make_georef(Affine(0.01, 0, 0, 0, -0.01, 0), "EPSG:3857", "b.tif")
    assert str(info.value) == mercator("b.tif", "'WGS 84 / Pseudo-Mercator'")
    with pytest.raises(InvalidInputError) as info:
        make_georef(Affine(0.01, 0, 0, 0, -0.01, 0), None)
    assert str(info.value) == no_crs("the raster")


def test_csbsr_run_names_the_mercator_file(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    from csbsr.core.cli import main

    path = tmp_path / "webmerc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8",
                       crs="EPSG:3857",
                       transform=Affine(0.01, 0, 500000, 0, -0.01, 5000000)) as dst:
        dst.write(np.zeros((3, 8, 8), np.uint8))
    assert main(["-q", "run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip()
    assert err == "csbsr: error: " + mercator("webmerc.tif", "'WGS 84 / Pseudo-Mercator'")
