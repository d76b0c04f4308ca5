"""Build the demo sample ``resources/sample/`` deterministically from val-split crack photos.

Output (``make sample``):

- ``sample_ortho.tif``: a 4x4 mosaic of the 16 UAV75 *val* photos with the most crack pixels
  (native-resolution drone images of concrete, 512x512 each), taken as 2 mm/px HR, degraded
  like a drone orthophoto with the training's "realistic" protocol (anisotropic blur plus a
  little motion blur, x4 bicubic down-scale, sensor noise, JPEG), i.e. 512x512 px at 8 mm/px,
  georeferenced in EPSG:32633 (UTM 33N), tiled DEFLATE GeoTIFF;
- ``sample_truth.gpkg``: the ground-truth crack centre-lines (layer ``cracks``) from the HR
  masks, skeletonized at HR (skimage) and traced into lines (skan), in the same CRS;
- ``README.md``: provenance (source images, licence, degradation, seed, grid).

Only rows with ``recommended_role == val`` are used, never training images. The result is a
pure function of the shared data and the constants below.

Usage: ``python scripts/make_sample.py [--cracks DIR] [--out DIR]``
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CRACKS = REPO.parent / "shared" / "data" / "cracks"
DATASET = "uav75"
GRID = 4  # tiles per side
TILE_HR = 512  # HR px per photo
SCALE = 4
HR_GSD_M = 0.002  # nominal HR pixel size: 2 mm/px -> LR 8 mm/px
EPSG = 32633
ORIGIN = (601000.0, 5340000.0)  # upper-left corner (UTM 33N), metres
SEED = 20240401
FEATHER_HR = 16  # photos are cross-faded over 2 x 16 HR px around each seam


def _select(cracks: Path) -> list:
    with open(cracks / "manifest.tsv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")
                if r["recommended_role"] == "val" and r["dataset"] == DATASET
                and int(r["width"]) == TILE_HR and int(r["height"]) == TILE_HR]
    rows.sort(key=lambda r: (-float(r["crack_fraction"]), r["stem"]))
    if len(rows) < GRID * GRID:
        sys.exit(f"make_sample: need {GRID * GRID} {DATASET} val images, found {len(rows)}")
    return rows[:GRID * GRID]


def _ramp(n: int, feather: int) -> np.ndarray:
    """Weights of a photo extended by ``feather`` px on both sides: 0 at the outer edge of the
    extension, 0.5 on the photo border, 1 from ``feather`` px inside it."""
    d = np.minimum(np.arange(n + 2 * feather), np.arange(n + 2 * feather)[::-1]) + 0.5
    return np.clip(d / (2.0 * feather), 0.0, 1.0)


def _mosaic(cracks: Path, rows: list) -> tuple:
    """The HR mosaic and its crack mask; neighbouring photos are cross-faded over
    2*FEATHER_HR px around each seam (each photo mirror-extended by FEATHER_HR px), so the
    mosaic has no hard photo borders that a detector could take for cracks."""
    import cv2

    n = GRID * TILE_HR
    f = FEATHER_HR
    acc = np.zeros((n + 2 * f, n + 2 * f, 3), np.float64)
    wsum = np.zeros((n + 2 * f, n + 2 * f, 1), np.float64)
    ramp = _ramp(TILE_HR, f)
    weight = (ramp[:, None] * ramp[None, :])[:, :, None]
    mask = np.zeros((n, n), bool)
    for i, r in enumerate(rows):
        y, x = (i // GRID) * TILE_HR, (i % GRID) * TILE_HR
        bgr = cv2.imread(str(cracks / r["image"]), cv2.IMREAD_COLOR)
        m = cv2.imread(str(cracks / r["mask"]), cv2.IMREAD_GRAYSCALE)
        if bgr is None or m is None:
            sys.exit(f"make_sample: cannot read {r['image']} or {r['mask']}")
        ext = np.pad(bgr[:, :, ::-1].astype(np.float64), ((f, f), (f, f), (0, 0)),
                     mode="reflect")
        acc[y:y + TILE_HR + 2 * f, x:x + TILE_HR + 2 * f] += ext * weight
        wsum[y:y + TILE_HR + 2 * f, x:x + TILE_HR + 2 * f] += weight
        mask[y:y + TILE_HR, x:x + TILE_HR] = m > 127
    img = (acc / np.maximum(wsum, 1e-9))[f:f + n, f:f + n]
    return np.clip(np.round(img), 0, 255).astype(np.uint8), mask


def _degrade(img: np.ndarray) -> np.ndarray:
    import torch
    from csbsr.core.train.degrade import degrade

    hr = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    out = degrade(hr, np.random.default_rng(SEED), protocol="realistic", scale=SCALE)
    lr = (out.lr[0].clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return lr


def _truth_lines(mask: np.ndarray, transform) -> list:
    """Skeleton paths of the HR mask as shapely LineStrings in map coordinates."""
    from shapely.geometry import LineString
    from skan import Skeleton
    from skimage.morphology import skeletonize

    skel = skeletonize(mask)
    lines = []
    if not skel.any():
        return lines
    sk = Skeleton(skel)
    for i in range(sk.n_paths):
        rc = sk.path_coordinates(i)
        if len(rc) < 2:
            continue
        xy = [transform @ (c + 0.5, r + 0.5) for r, c in rc]
        lines.append(LineString(xy))
    return lines


def main(argv=None) -> int:
    """Build the sample; return 0."""
    import pyogrio.raw
    import rasterio
    import shapely
    from affine import Affine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cracks", type=Path, default=DEFAULT_CRACKS)
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "sample")
    args = ap.parse_args(argv)
    rows = _select(args.cracks)
    img, mask = _mosaic(args.cracks, rows)
    lr = _degrade(img)
    args.out.mkdir(parents=True, exist_ok=True)
    lr_gsd = HR_GSD_M * SCALE
    t_lr = Affine(lr_gsd, 0.0, ORIGIN[0], 0.0, -lr_gsd, ORIGIN[1])
    t_hr = Affine(HR_GSD_M, 0.0, ORIGIN[0], 0.0, -HR_GSD_M, ORIGIN[1])
    ortho = args.out / "sample_ortho.tif"
    with rasterio.open(ortho, "w", driver="GTiff", width=lr.shape[2], height=lr.shape[1],
                       count=3, dtype="uint8", crs=f"EPSG:{EPSG}", transform=t_lr,
                       tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                       predictor=2, photometric="RGB") as dst:
        dst.write(lr)
        dst.update_tags(SOURCE=f"make_sample.py: {DATASET} val mosaic, realistic degradation",
                        GSD_M=str(lr_gsd))
    lines = _truth_lines(mask, t_hr)
    truth = args.out / "sample_truth.gpkg"
    if truth.exists():
        truth.unlink()
    lengths = np.array([ln.length for ln in lines], dtype=np.float64)
    pyogrio.raw.write(
        str(truth), shapely.to_wkb(np.array(lines, dtype=object)),
        [np.arange(1, len(lines) + 1, dtype=np.int64), lengths],
        ["id", "length_m"], layer="cracks", driver="GPKG", geometry_type="LineString",
        crs=f"EPSG:{EPSG}")
    listing = "\n".join(
        f"| {i + 1} | {r['stem']} | {r['image']} | {float(r['crack_fraction']):.4f} |"
        for i, r in enumerate(rows))
    title = "# Demo sample (built by `scripts/make_sample.py`, `make sample`)"
    (args.out / "README.md").write_text(f"""{title}

- `sample_ortho.tif`: {lr.shape[2]}x{lr.shape[1]} px RGB, {lr_gsd * 1000:g} mm/px, EPSG:{EPSG}
  (WGS 84 / UTM zone 33N), upper-left corner ({ORIGIN[0]:.1f}, {ORIGIN[1]:.1f}) m. A fictitious
  site: the georeferencing is nominal.
- `sample_truth.gpkg`, layer `cracks`: {len(lines)} ground-truth crack centre-lines
  ({lengths.sum():.2f} m in total), skeletons of the HR masks at {HR_GSD_M * 1000:g} mm/px
  (skimage `skeletonize`, paths traced with skan), same CRS.

## How it was made
1. The {GRID * GRID} photos of `{DATASET}` with `recommended_role == val` in
   `../shared/data/cracks/manifest.tsv` that have the most crack pixels (ties by stem), in
   row-major order in a {GRID}x{GRID} mosaic of {TILE_HR}x{TILE_HR} px photos, taken as
   {HR_GSD_M * 1000:g} mm/px HR; neighbouring photos are cross-faded over {2 * FEATHER_HR} HR px
   around each seam (photos mirror-extended by {FEATHER_HR} px), so the mosaic has no hard
   photo borders; the ground-truth masks keep the photo borders.
2. Degraded once, as a whole, with `csbsr.core.degrade.degrade(protocol="realistic",
   scale={SCALE})`, seed {SEED}: anisotropic Gaussian blur with a little motion blur, bicubic
   x{SCALE} down-scale, exposure change, sensor noise and JPEG, quantised to 8 bit.

No training image is used. Source: UAV75 (Benz et al. 2019), concrete drone imagery,
**GPL-3.0**: this derived sample is distributed under the same terms.

| # | stem | image | crack fraction |
|---|---|---|---|
{listing}
""", encoding="utf-8")
    print(f"wrote {ortho} ({ortho.stat().st_size / 1e6:.2f} MB), {truth} ({len(lines)} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
