"""What detection reads: the region of interest, the GSD policy, normalised LR windows."""
from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError
from ..progress import Progress
from ..raster.io import (
    MAX_UPSAMPLE,
    RasterInfo,
    find_edge_collar,
    read_padded,
    resampled_view,
)
from ..raster.tiling import fill_invalid
from .config import InferenceConfig


class TileReader:
    """Reads normalised LR windows of the region (reflect-padded beyond the raster).

    ``read(row0, col0, h, w)`` (region pixels, may extend past the region) returns
    (data (3, h, w) float32 in [0, 1] with invalid pixels filled, valid (h, w) bool).
    """

    def __init__(self, ds: Any, bands: Any, offset: Tuple[int, int],
                 norm: Tuple[float, float, bool], collar: Any = None) -> None:
        self.ds, self.bands, self.collar = ds, bands, collar
        self.row_off, self.col_off = offset
        self.lo, hi, self.clip = norm
        self.inv_range = 1.0 / (hi - self.lo)

    def read(self, row0: int, col0: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        """One window; see the class doc."""
        r, c = self.row_off + row0, self.col_off + col0
        data, valid = read_padded(self.ds, self.bands, r, r + h, c, c + w, self.collar)
        x = data.astype(np.float32)
        x -= self.lo
        x *= self.inv_range
        if self.clip:
            np.clip(x, 0.0, 1.0, out=x)
        return fill_invalid(x, valid), valid


def aoi_region(ds: Any, aoi: Optional[Tuple[float, float, float, float]]
                ) -> Tuple[int, int, int, int]:
    """(row_off, col_off, height, width) of the AOI snapped outwards to whole pixels."""
    if aoi is None:
        return 0, 0, int(ds.height), int(ds.width)
    inv = ~ds.transform
    xs, ys = (aoi[0], aoi[2]), (aoi[1], aoi[3])
    cols, rows = [], []
    for x in xs:
        for y in ys:
            c, r = inv @ (x, y)
            cols.append(c)
            rows.append(r)
    c0, c1 = max(0, math.floor(min(cols) + 1e-9)), min(ds.width, math.ceil(max(cols) - 1e-9))
    r0, r1 = max(0, math.floor(min(rows) + 1e-9)), min(ds.height, math.ceil(max(rows) - 1e-9))
    if c1 <= c0 or r1 <= r0:
        raise InvalidInputError(
            f"the AOI {tuple(aoi)} does not overlap the raster (bounds {tuple(ds.bounds)}, in "
            "the raster's CRS): give the extent in the raster's CRS, or none for the whole raster"
        )
    return r0, c0, r1 - r0, c1 - c0


def gsd_view(src: Any, info: RasterInfo, card_gsd: Optional[float], cfg: InferenceConfig,
              progress: Progress, stack: ExitStack) -> Tuple[Any, float, float]:
    """Apply the GSD policy; return (dataset to read, GSD the model sees in m, factor)."""
    gsd = info.mean_gsd_m
    if not card_gsd:
        return src, gsd, 1.0
    ratio = gsd / float(card_gsd)  # > 1: the raster is coarser than the model's input
    if abs(ratio - 1.0) <= cfg.gsd_tolerance:
        return src, gsd, 1.0
    text = (f"raster GSD {gsd * 1000:.3g} mm/px differs from the model's input GSD "
            f"{card_gsd * 1000:.3g} mm/px")
    if cfg.gsd_policy == "native":
        progress.warn(f"{text}; running at the raster's own GSD as requested (results may be poor)")
        return src, gsd, 1.0
    if ratio > MAX_UPSAMPLE:
        raise InvalidInputError(
            f"{text}: the raster is {ratio:.0f}x too coarse, cracks are not visible at this "
            f"resolution; use imagery of at most {card_gsd * MAX_UPSAMPLE * 1000:.3g} mm/px, or "
            "pass --gsd-policy native to run at the raster's own GSD anyway"
        )
    view = stack.enter_context(resampled_view(src, ratio))
    progress.warn(
        f"{text}: resampling the input x{ratio:.3g} ({src.width}x{src.height} -> "
        f"{view.width}x{view.height} px); pass --gsd-policy native to keep the native GSD"
    )
    return view, gsd * src.width / view.width, ratio



def edge_collar(src: Any, ds: Any, cfg: InferenceConfig, progress: Progress) -> Any:
    """The constant border of ``src`` touching its edge (a warp collar without nodata), mapped
    onto ``ds`` (the raster or its resampled view), said in the log; None when there is none."""
    import dataclasses
    from pathlib import Path

    progress.set_status("checking the raster's border for a nodata collar")
    collar = find_edge_collar(src, cfg.bands)
    if collar is None:
        return None
    value = ", ".join(f"{v:g}" for v in collar.value)
    progress.warn(
        f"{Path(str(src.name)).name} has a constant border of value ({value}) touching its "
        f"edge ({collar.fraction:.1%} of the raster) and no nodata value: treating it as "
        "nodata (a reprojection collar). Give the raster a nodata value or an alpha band if "
        "that border is real imagery")
    return dataclasses.replace(collar, factor=ds.width / src.width)
