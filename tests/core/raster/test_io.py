"""Opening, validating, reading (reflect padding) and writing rasters."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from csbsr.core.errors import InvalidInputError
from csbsr.core.raster.io import (
    OutputRaster,
    describe_raster,
    find_edge_collar,
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


SAMPLE = Path(__file__).resolve().parents[3] / "resources" / "sample" / "sample_ortho.tif"


def warp_with_collar(src_path, out_path, crs="EPSG:4326"):
    """Reproject a real orthophoto to ``crs`` the way a careless export does it: no nodata,
    no alpha, so the rotated footprint sits in a black collar. Returns (path, true valid)."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src_path) as src:
        t, w, h = calculate_default_transform(src.crs, crs, src.width, src.height,
                                              *src.bounds)
        data = np.zeros((3, h, w), np.uint8)
        for b in range(3):
            reproject(rasterio.band(src, b + 1), data[b], dst_transform=t, dst_crs=crs,
                      resampling=Resampling.bilinear)
        inside = np.zeros((h, w), np.uint8)
        reproject(np.full((src.height, src.width), 1, np.uint8), inside,
                  src_transform=src.transform, src_crs=src.crs, dst_transform=t, dst_crs=crs,
                  resampling=Resampling.nearest)
    _write(out_path, data, crs=crs, transform=t)
    return out_path, inside > 0


def test_warp_collar_of_a_real_orthophoto_is_nodata(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("the sample orthophoto is missing")
    path, inside = warp_with_collar(SAMPLE, tmp_path / "sample_4326.tif")
    with rasterio.open(path) as ds:
        collar = find_edge_collar(ds, (1, 2, 3))
        assert collar is not None and collar.value == (0.0, 0.0, 0.0)
        valid = collar.valid(0, ds.height, 0, ds.width)
        # every collar pixel is excluded; the real image loses only the 2 px fringe
        assert not (valid & ~inside).any()
        assert (~valid & inside).sum() < 0.03 * inside.sum()
        assert collar.fraction == pytest.approx((~inside).mean(), abs=0.02)
        _data, ok = read_padded(ds, (1, 2, 3), -8, 40, -8, 40, collar)
        assert ok.shape == (48, 48) and not ok[8:40, 8:40].all()
        # a resampled view (2x finer) maps its windows onto the native runs
        half = dataclasses.replace(collar, factor=2.0)
        assert (half.valid(0, 2 * ds.height, 0, 2 * ds.width)[::2, ::2] == valid).all()
    with rasterio.open(SAMPLE) as ds:  # the original has no collar
        assert find_edge_collar(ds, (1, 2, 3)) is None


def test_collar_check_leaves_masked_rasters_alone(tmp_path):
    data = np.zeros((3, 30, 30), np.uint8)
    data[:, 10:20, 10:20] = 120
    with_nodata = _write(tmp_path / "n.tif", data, nodata=0)
    without = _write(tmp_path / "w.tif", data)
    with rasterio.open(with_nodata) as ds:
        assert find_edge_collar(ds, (1, 2, 3)) is None  # GDAL's mask already does it
    with rasterio.open(without) as ds:
        c = find_edge_collar(ds, (1, 2, 3))
        assert c is not None
        v = c.valid(0, 30, 0, 30)
        assert v[12:18, 12:18].all() and not v[:8].any() and not v[:, :8].any()
    speckled = _rgb(30, 30)  # natural image: no constant border
    with rasterio.open(_write(tmp_path / "s.tif", speckled)) as ds:
        assert find_edge_collar(ds, (1, 2, 3)) is None
