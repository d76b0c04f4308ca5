"""A bank of crack-free scene content cut from real orthophotos (hard negatives for training).

Orthophotos hold what a crack detector must leave alone: tree crowns, cars, kerbs, road
markings, roof edges, shadows, manholes. :class:`NegativeBank` loads the RGB (and validity)
of every GeoTIFF in a folder and serves crack-free crops from the **training part** of each
raster: the columns left of ``TRAIN_FRACTION`` of its width. The rest (the right part) is
held out for the false-positive measurement (``scripts/fp_density.py``), so no pixel both
trains and measures.

Crops are up-sampled by a random factor (1-4x), as the model may meet such scenes at its
own GSD or coarser.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError

#: share of each raster's width (from the left) used for training; the rest is held out
TRAIN_FRACTION = 0.7
#: minimum share of valid (non-nodata) pixels in a served crop
MIN_VALID = 0.95

PathLike = Union[str, Path]


@dataclass
class BankImage:
    """One raster's RGB (H, W, 3) uint8 and validity (H, W) bool, and its name."""

    name: str
    image: np.ndarray
    valid: np.ndarray


def read_rgb(path: PathLike) -> BankImage:
    """Read bands 1-3 of a raster and its dataset mask (alpha, nodata) as a :class:`BankImage`."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.count < 3:
                raise InvalidInputError(f"{path}: needs 3 bands (RGB), has {ds.count}")
            rgb = ds.read([1, 2, 3])
            valid = ds.dataset_mask() > 0
    except rasterio.errors.RasterioError as exc:
        raise InvalidInputError(f"cannot read {path} ({exc})") from exc
    if rgb.dtype != np.uint8:
        lo, hi = np.percentile(rgb[:, valid], (0.5, 99.5)) if valid.any() else (0, 1)
        rgb = np.clip((rgb.astype(np.float32) - lo) / max(hi - lo, 1e-6) * 255, 0, 255)
        rgb = rgb.astype(np.uint8)
    return BankImage(Path(path).stem, np.ascontiguousarray(rgb.transpose(1, 2, 0)), valid)


def split_columns(width: int, part: str) -> Tuple[int, int]:
    """Column range [c0, c1) of the "train" or "heldout" part of a raster ``width`` wide."""
    cut = int(round(width * TRAIN_FRACTION))
    if part == "train":
        return 0, cut
    if part == "heldout":
        return cut, width
    raise ValueError(f"part must be 'train' or 'heldout', got {part!r}")


class NegativeBank:
    """Crack-free crops from the training part of real orthophotos.

    Args:
        paths: GeoTIFFs (or a single folder holding ``*.tif``).
        part: "train" (default) or "heldout" (what the false-positive measurement uses).
    """

    def __init__(self, paths: Union[PathLike, Sequence[PathLike]], part: str = "train") -> None:
        if isinstance(paths, (str, Path)) and Path(paths).is_dir():
            paths = sorted(Path(paths).glob("*.tif"))
        elif isinstance(paths, (str, Path)):
            paths = [paths]
        self.images: List[BankImage] = []
        for p in paths:
            im = read_rgb(p)
            c0, c1 = split_columns(im.image.shape[1], part)
            self.images.append(BankImage(im.name, im.image[:, c0:c1], im.valid[:, c0:c1]))
        if not self.images:
            raise InvalidInputError(f"no rasters for the negative bank in {paths}")
        area = np.array([im.valid.sum() for im in self.images], np.float64)
        self.weights = area / area.sum()

    def crop(self, size: int, rng: np.random.Generator, max_up: float = 4.0) -> np.ndarray:
        """One crack-free crop (size, size, 3) uint8, up-sampled by a random 1..max_up."""
        import cv2

        for _ in range(20):
            im = self.images[int(rng.choice(len(self.images), p=self.weights))]
            h, w = im.valid.shape
            up = float(np.exp(rng.uniform(0.0, np.log(max_up))))
            src = max(8, min(h, w, int(round(size / up))))
            y0 = int(rng.integers(0, h - src + 1))
            x0 = int(rng.integers(0, w - src + 1))
            if im.valid[y0:y0 + src, x0:x0 + src].mean() < MIN_VALID:
                continue
            patch = im.image[y0:y0 + src, x0:x0 + src]
            return cv2.resize(np.ascontiguousarray(patch), (size, size),
                              interpolation=cv2.INTER_CUBIC if src < size else cv2.INTER_AREA)
        raise InvalidInputError("the negative bank has no valid area large enough for a crop")
