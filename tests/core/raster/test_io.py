"""Opening, validating, reading (reflect padding) and writing rasters."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from csbsr.core.errors import InvalidInputError
from csbsr.core.raster.io import (
    OutputRaster,
    describe_raster,
    ground_sampling_distance,
    open_raster,
    raster_env,
    read_padded,
    resampled_view,
    value_range,
)
from rasterio.crs import CRS
from rasterio.transform import from_origin


def _write(path, data, crs="EPSG:32633", transform=None, **kw):
    count, h, w = data.shape
    if transform is None:
        transform = from_origin(500000.0, 4000000.0, 0.01, 0.01)
    profile = dict(driver="GTiff", width=w, height=h, count=count, dtype=str(data.dtype),
                   transform=transform, **kw)
    if crs is not None:
        profile["crs"] = crs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return path


def _rgb(h=20, w=30, dtype=np.uint8):
    return np.random.default_rng(1).integers(0, 200, (3, h, w)).astype(dtype)


def test_describe_projected(tmp_path):
    p = _write(tmp_path / "a.tif", _rgb())
    with open_raster(p) as src:
        info = describe_raster(src, (1, 2, 3))
    assert info.epsg == 32633 and not info.geographic
    assert info.gsd_m == pytest.approx((0.01, 0.01))
    assert info.width == 30 and info.height == 20 and info.dtype == "uint8"


def test_gsd_in_feet_crs():
    crs = CRS.from_epsg(2263)  # NAD83 / New York Long Island (ftUS)
    gsd = ground_sampling_distance(crs, from_origin(1e6, 2e5, 0.5, 0.5), 10, 10)
    assert gsd[0] == pytest.approx(0.5 * 1200 / 3937, rel=1e-9)


def test_gsd_geographic_on_ellipsoid():
    crs = CRS.from_epsg(4326)
    # at the equator one degree of longitude is 111 319.49 m on WGS84
    gx, gy = ground_sampling_distance(crs, from_origin(10.0, 0.5e-5, 1e-5, 1e-5), 1, 1)
    assert gx == pytest.approx(1.1131949, rel=1e-6)
    assert gy == pytest.approx(1.1057427, rel=1e-4)  # meridian degree at the equator
    # at 60 degrees north a degree of longitude is about half as long
    gx60, _ = ground_sampling_distance(crs, from_origin(10.0, 60.0, 1e-5, 1e-5), 0, 0)
    assert gx60 == pytest.approx(gx / 2, rel=0.01)


def test_no_crs_is_clear_error(tmp_path):
    p = _write(tmp_path / "nocrs.tif", _rgb(), crs=None)
    with open_raster(p) as src, pytest.raises(InvalidInputError, match="no CRS.*gdal_edit"):
        describe_raster(src, (1, 2, 3))


def test_no_geotransform_is_clear_error(tmp_path):
    p = _write(tmp_path / "nogt.tif", _rgb(), transform=Affine.identity())
    with open_raster(p) as src, pytest.raises(InvalidInputError, match="no geotransform"):
        describe_raster(src, (1, 2, 3))


def test_rotated_geotransform_is_clear_error(tmp_path):
    p = _write(tmp_path / "rot.tif", _rgb(), transform=Affine(0.01, 0.001, 5e5, 0.001, -0.01, 4e6))
    with open_raster(p) as src, pytest.raises(InvalidInputError, match="rotated.*gdalwarp"):
        describe_raster(src, (1, 2, 3))


def test_too_few_bands(tmp_path):
    p = _write(tmp_path / "gray.tif", _rgb()[:1])
    with open_raster(p) as src, pytest.raises(InvalidInputError, match="1 band.*--bands"):
        describe_raster(src, (1, 2, 3))


def test_unsupported_dtype(tmp_path):
    p = _write(tmp_path / "f64.tif", _rgb().astype(np.float64))
    with open_raster(p) as src, pytest.raises(InvalidInputError, match="float64.*gdal_translate"):
        describe_raster(src, (1, 2, 3))


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\x13" * 200)
    with pytest.raises(InvalidInputError, match="corrupt"):
        open_raster(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        open_raster(tmp_path / "missing.tif")


def test_truncated_file_read_is_clear_error(tmp_path):
    p = _write(tmp_path / "t.tif", _rgb(300, 300), compress="deflate", tiled=True,
               blockxsize=64, blockysize=64)
    raw = p.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InvalidInputError, match="corrupt"):
        with raster_env(), open_raster(cut) as src:
            read_padded(src, (1, 2, 3), 0, 300, 0, 300)


def test_read_padded_reflects_at_edges(tmp_path):
    data = _rgb(20, 30)
    p = _write(tmp_path / "a.tif", data)
    with open_raster(p) as src:
        got, valid = read_padded(src, (1, 2, 3), -5, 12, 25, 37)
    full = np.pad(data, ((0, 0), (5, 5), (5, 7)), mode="reflect")
    np.testing.assert_array_equal(got, full[:, 0:17, 30:42])
    assert valid.all() and valid.shape == (17, 12)


def test_read_padded_band_choice_and_alpha(tmp_path):
    data = np.concatenate([_rgb(), np.full((1, 20, 30), 255, np.uint8)])
    data[3, :, :10] = 0
    p = _write(tmp_path / "rgba.tif", data, photometric="RGB", alpha="unspecified")
    with rasterio.open(p, "r+") as d:
        d.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                         rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    with open_raster(p) as src:
        got, valid = read_padded(src, (3, 2, 1), 0, 20, 0, 30)
    np.testing.assert_array_equal(got, data[[2, 1, 0]])
    assert not valid[:, :10].any() and valid[:, 10:].all()


def test_value_range_16bit(tmp_path):
    data = (np.linspace(0, 4000, 3 * 50 * 60).reshape(3, 50, 60)).astype(np.uint16)
    p = _write(tmp_path / "u16.tif", data)
    with open_raster(p) as src:
        lo, hi = value_range(src, (1, 2, 3))
    assert 0 <= lo < 40 and 3960 < hi <= 4000


def test_resampled_view_keeps_extent(tmp_path):
    p = _write(tmp_path / "a.tif", _rgb(20, 30))
    with open_raster(p) as src, resampled_view(src, 2.0) as vrt:
        assert (vrt.width, vrt.height) == (60, 40)
        assert vrt.bounds == pytest.approx(tuple(src.bounds))
        assert vrt.res == pytest.approx((0.005, 0.005))


def test_output_raster_commit_and_abort(tmp_path):
    crs = CRS.from_epsg(32633)
    t = from_origin(0, 0, 1, 1)
    out = OutputRaster(tmp_path / "o.tif", 600, 600, 1, "uint8", crs, t, internal_mask=True)
    out.write(np.ones((1, 600, 600), np.uint8), 0, 0, np.ones((600, 600), bool))
    assert not (tmp_path / "o.tif").exists()
    out.commit()
    assert [f.name for f in tmp_path.iterdir()] == ["o.tif"]
    with rasterio.open(tmp_path / "o.tif") as d:
        assert d.overviews(1) == [2] and d.profile["tiled"] and d.compression is not None
    out2 = OutputRaster(tmp_path / "p.tif", 50, 50, 1, "uint8", crs, t)
    out2.write(np.ones((1, 50, 50), np.uint8), 0, 0)
    out2.abort()
    assert [f.name for f in tmp_path.iterdir()] == ["o.tif"]
