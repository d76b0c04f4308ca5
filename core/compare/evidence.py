"""Cross-inspection evidence: the other run's crack probability along a line.

A detector does not find a faint crack every time: under a different blur, exposure or noise
it falls just below the threshold in one flight and just above it in the other. Before a
line is called ``new`` (or an added piece an extension, or an OLD line ``gone``), the other
inspection's probability map is read along it: if the crack was visible there at a lower
level (median over the line of the largest probability within +-``half`` metres across it
>= ``evidence_ratio`` x that run's threshold), the line was there all along and is not a
change. Runs without a probability raster (e.g. lines drawn by hand) give no evidence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class Witness:
    """The other inspection's evidence: ``sample(geom)`` -> median probability (0-1) along a
    working-frame line or None; the crack was visible there when it reaches ``level``."""

    sample: Callable[[Any], Optional[float]]
    level: float

    def seen(self, geom: Any) -> Tuple[bool, Optional[float]]:
        """(visible at ``level``, the median probability)."""
        v = self.sample(geom)
        return (v is not None and v >= self.level), v


class ProbSampler:
    """Samples one run's probability raster along working-frame lines; use as a context.

    Args:
        prob: the ``<stem>_prob.tif`` (uint8 x 255, or float 0-1).
        to_run: geometry of the working frame -> the run's CRS (registration undone).
        half: half-width in metres of the band searched across the line.
        step: spacing of the samples along the line, metres.
        px: pixel size of the raster in metres (the band is sampled every half pixel, the
            nearest pixel's value, so a one-pixel line is never averaged away).
    """

    def __init__(self, prob: Path, to_run: Callable[[Any], Any], half: float,
                 step: float, px: float) -> None:
        self.prob, self.to_run, self.half, self.step = prob, to_run, half, step
        self.n_across = int(min(61, 2 * math.ceil(2.0 * half / max(px, 1e-9)) + 1))
        self._src: Any = None

    def __enter__(self) -> ProbSampler:
        import rasterio

        self._src = rasterio.open(str(self.prob))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._src is not None:
            self._src.close()
            self._src = None

    def __call__(self, geom: Any) -> Optional[float]:
        """Median over the line of the band maximum of the probability (0-1), or None."""
        import shapely
        from rasterio.windows import Window
        from scipy.ndimage import map_coordinates

        src = self._src
        if src is None or geom is None or geom.is_empty or geom.length <= 0:
            return None
        n = max(2, int(math.ceil(geom.length / self.step)) + 1)
        d = np.linspace(0.0, geom.length, n)
        pts = shapely.get_coordinates(shapely.line_interpolate_point(geom, d))
        ahead = shapely.get_coordinates(shapely.line_interpolate_point(
            geom, np.clip(d + self.step, 0, geom.length)))
        behind = shapely.get_coordinates(shapely.line_interpolate_point(
            geom, np.clip(d - self.step, 0, geom.length)))
        t = ahead - behind
        t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-12)[:, None]
        normal = np.column_stack((-t[:, 1], t[:, 0]))
        offsets = np.linspace(-self.half, self.half, self.n_across)
        xy = (pts[:, None, :] + offsets[None, :, None] * normal[:, None, :]).reshape(-1, 2)
        xy = shapely.get_coordinates(self.to_run(shapely.multipoints(xy)))
        inv = ~src.transform
        col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
        row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
        c0, r0 = int(math.floor(np.min(col))) - 2, int(math.floor(np.min(row))) - 2
        c1, r1 = int(math.ceil(np.max(col))) + 2, int(math.ceil(np.max(row))) + 2
        win = Window(c0, r0, c1 - c0, r1 - r0)
        arr = src.read(1, window=win, boundless=True, fill_value=0).astype(np.float32)
        valid = src.read_masks(1, window=win, boundless=True) > 0
        arr[~valid] = 0.0
        if src.dtypes[0] == "uint8":
            arr /= 255.0
        p = map_coordinates(arr, [row - r0 - 0.5, col - c0 - 0.5], order=0, mode="constant",
                            cval=0.0).reshape(n, len(offsets))
        return float(np.median(p.max(axis=1)))


def open_sampler(prob: Optional[Path], to_run: Callable[[Any], Any], half: float,
                 step: float, px: float) -> Optional[ProbSampler]:
    """A sampler when ``prob`` exists, else None (no evidence)."""
    if prob is None or not Path(prob).is_file():
        return None
    return ProbSampler(Path(prob), to_run, half, step, px)
