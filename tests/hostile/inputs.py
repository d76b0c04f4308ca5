"""Hostile inputs, built from real data: a 96 x 96 px crop of the shipped sample orthophoto
(8 mm/px, EPSG:32633) and a crop of a real 15 cm USGS orthophoto, then damaged, re-projected,
re-typed or emptied one way each. Every builder writes one file and returns its path."""
from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, Dict

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "sample_ortho.tif"
MODEL = REPO / "resources" / "models" / "csbsr_lite2_x4.safetensors"
USGS = REPO.parent / "shared" / "data" / "ortho" / "usgs_hro_colorado_201404_13SED190110_15cm.tif"
CROP_PX = 96
#: the file a booby-trapped pickle creates when it is unpickled (it never must be)
PWNED = "PWNED_BY_PICKLE"


def sample_crop(path: Path, size: int = CROP_PX, col: int = 100, row: int = 100) -> Path:
    """A ``size`` x ``size`` px crop of the shipped sample (uint8 RGB, 8 mm/px, EPSG:32633)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(SAMPLE) as src:
        win = Window(col, row, size, size)
        prof = src.profile.copy()
        prof.update(width=size, height=size, transform=src.window_transform(win))
        prof.pop("blockxsize", None), prof.pop("blockysize", None)
        prof["tiled"] = False
        data = src.read(window=win)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)
    return path


def _rewrite(src_path: Path, path: Path, data: np.ndarray | None = None, **profile) -> Path:
    """Write ``src_path``'s pixels (or ``data``) with profile changes (crs, transform...)."""
    import rasterio

    with rasterio.open(src_path) as src:
        prof = src.profile.copy()
        arr = src.read() if data is None else data
    prof.update(count=arr.shape[0], dtype=str(arr.dtype), **profile)
    if prof.get("crs") is None:
        prof.pop("crs", None)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
    return path


def build_inputs(folder: Path) -> Dict[str, Path]:
    """Write every hostile raster into ``folder``; returns them by name."""
    import rasterio
    from affine import Affine
    from rasterio.transform import from_origin

    folder.mkdir(parents=True, exist_ok=True)
    good = sample_crop(folder / "good.tif")
    raw = good.read_bytes()
    out: Dict[str, Path] = {"good": good}

    def put(name: str, make: Callable[[Path], object]) -> None:
        path = folder / name
        make(path)
        out[Path(name).stem] = path

    put("corrupt.tif", lambda p: p.write_bytes(raw[:512] + bytes(np.random.default_rng(1)
                                                                 .integers(0, 256, 4000,
                                                                           np.uint8))))
    put("truncated.tif", lambda p: p.write_bytes(raw[: len(raw) * 2 // 5]))
    put("empty.tif", lambda p: p.write_bytes(b""))
    put("text.tif", lambda p: p.write_text("this is a text file, not a GeoTIFF\n"))
    put("nocrs.tif", lambda p: _rewrite(good, p, crs=None))
    put("webmerc.tif", lambda p: _rewrite(good, p, crs="EPSG:3857",
                                          transform=from_origin(1.5e6, 6.0e6, 0.008, 0.008)))
    deg = 0.008 / 111_320.0  # ~8 mm at the equator, in degrees
    put("wgs84.tif", lambda p: _rewrite(good, p, crs="EPSG:4326",
                                        transform=from_origin(15.0, 48.0, deg, deg)))
    with rasterio.open(good) as src:
        t = src.transform
    rot = t * Affine.rotation(20.0)
    put("rotated.tif", lambda p: _rewrite(good, p, transform=rot))
    put("nogeo.tif", lambda p: _rewrite(good, p, crs=None, transform=Affine.identity()))
    with rasterio.open(good) as src:
        rgb = src.read()
    put("one_band.tif", lambda p: _rewrite(good, p, data=rgb[:1]))
    put("two_band.tif", lambda p: _rewrite(good, p, data=rgb[:2]))
    put("nan.tif", lambda p: _rewrite(good, p, data=np.full((3, CROP_PX, CROP_PX), np.nan,
                                                            np.float32), nodata=None))
    put("nodata.tif", lambda p: _rewrite(good, p, data=np.zeros_like(rgb), nodata=0))
    put("tiny.tif", lambda p: sample_crop(p, size=4))
    put("coarse.tif", lambda p: _usgs_crop(p))
    put("huge_gsd.tif", lambda p: _rewrite(good, p, transform=from_origin(601000.0, 5340000.0,
                                                                          50.0, 50.0)))
    put("nan_gsd.tif", lambda p: _rewrite(good, p, transform=Affine(math.inf, 0, 0, 0, -1, 0)))
    return out


def _usgs_crop(path: Path) -> Path:
    """A 96 x 80 px crop of a real 15 cm orthophoto (too coarse for the model)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(USGS) as src:
        win = Window(120, 60, 96, 80)
        prof = src.profile.copy()
        prof.update(width=96, height=80, transform=src.window_transform(win))
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return path


def huge_sparse(path: Path, side: int = 200_000) -> Path:
    """A sparse ``side`` x ``side`` px GeoTIFF (a few KB on disk, 120 GB of pixels)."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=3,
                       dtype="uint8", crs="EPSG:32633", tiled=True, blockxsize=512,
                       blockysize=512, sparse_ok=True, compress="deflate",
                       transform=from_origin(601000.0, 5340000.0, 0.008, 0.008)) as dst:
        dst.write(np.full((3, 512, 512), 128, np.uint8),
                  window=rasterio.windows.Window(0, 0, 512, 512))
    return path


class _Booby:
    """Unpickling this creates the file :data:`PWNED` in the current folder."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_model(path: Path, marker: Path) -> Path:
    """A booby-trapped pickle (what ``torch.save`` writes): unpickling it creates ``marker``."""
    path.write_bytes(pickle.dumps({"state_dict": _Booby(str(marker))}))
    return path


def copy_model(folder: Path, name: str = "model", card: Dict | None = None,
               weights: bytes | None = None) -> Path:
    """A copy of the shipped model in ``folder`` as ``name.safetensors`` + ``name.json``, with
    the card replaced by ``card`` (a dict) and the weights by ``weights`` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.safetensors"
    if weights is None:
        shutil.copyfile(MODEL, dst)
    else:
        dst.write_bytes(weights)
    doc = card if card is not None else shipped_card()
    (folder / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    return dst


def shipped_card() -> Dict:
    """The shipped model's card, as a dict."""
    return json.loads(MODEL.with_suffix(".json").read_text(encoding="utf-8"))


def snapshot(folder: Path) -> Dict[str, tuple]:
    """Every file under ``folder``: relative name -> (size, mtime_ns, SHA-1 of the bytes)."""
    import hashlib

    snap = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(root) / name
            st = p.stat()
            snap[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns,
                                                hashlib.sha1(p.read_bytes()).hexdigest())
    return snap
