"""The ground resolution of a layer against the model's, said before a run.

The engine resamples an orthophoto to the model's GSD and refuses one more than
:data:`MAX_UPSAMPLE` times coarser (``core/raster/io.py``); the dock says so as soon as a layer
is chosen, in words: what resolution it has, what the model expects, what that means for the
cracks that can be seen, and what the GSD policy will do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from qgis.core import (
    QgsDistanceArea,
    QgsPointXY,
    QgsProject,
    QgsUnitTypes,
)

MAX_UPSAMPLE = 8.0  # core.raster.io.MAX_UPSAMPLE (not imported: that module needs numpy)
TOLERANCE = 0.25  # core.detect.config.InferenceConfig.gsd_tolerance
RESOLVABLE_PX = 2.5  # core.vectorize.config.VectorizeConfig.resolvable_px


def layer_gsd_mm(layer: Any) -> Optional[float]:
    """The mean pixel size of a raster layer in millimetres (geodesic for degrees)."""
    if layer is None or not layer.isValid() or layer.width() <= 0:
        return None
    crs = layer.crs()
    dx, dy = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    if crs.isGeographic():
        c = layer.extent().center()
        da = QgsDistanceArea()
        da.setSourceCrs(crs, QgsProject.instance().transformContext())
        da.setEllipsoid(crs.ellipsoidAcronym() or "EPSG:7030")
        mx = da.measureLine(QgsPointXY(c.x(), c.y()), QgsPointXY(c.x() + dx, c.y()))
        my = da.measureLine(QgsPointXY(c.x(), c.y()), QgsPointXY(c.x(), c.y() + dy))
        mx = da.convertLengthMeasurement(mx, QgsUnitTypes.DistanceMeters)
        my = da.convertLengthMeasurement(my, QgsUnitTypes.DistanceMeters)
    else:
        f = QgsUnitTypes.fromUnitToUnitFactor(crs.mapUnits(), QgsUnitTypes.DistanceMeters)
        mx, my = dx * f, dy * f
    if not (mx > 0 and my > 0):
        return None
    return math.sqrt(mx * my) * 1000.0


@dataclass(frozen=True)
class GsdVerdict:
    """What a run at this resolution will do, for the dock.

    Attributes:
        text: one or two sentences.
        level: "ok", "info", "warning" or "refused".
        ratio: layer GSD / model GSD (1 = as trained).
    """

    text: str
    level: str
    ratio: float


def _mm(v: float) -> str:
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def gsd_verdict(layer_mm: Optional[float], model_mm: Optional[float], scale: int = 4,
                policy: str = "auto") -> GsdVerdict:
    """Say what the layer's GSD means for the run (see the module doc).

    Args:
        layer_mm: the orthophoto's GSD in mm/px (None: unknown).
        model_mm: the model's input GSD in mm/px (None: the model takes any).
        scale: the model's super-resolution factor.
        policy: "auto" (resample to the model's GSD) or "native".
    """
    if layer_mm is None:
        return GsdVerdict("The orthophoto's resolution is unknown.", "warning", 1.0)
    if not model_mm:
        return GsdVerdict(f"Orthophoto: {_mm(layer_mm)} mm/px (the model takes any "
                          "resolution).", "info", 1.0)
    ratio = layer_mm / model_mm
    seen = max(layer_mm, model_mm) if policy == "auto" else layer_mm
    analysed = (model_mm if policy == "auto" else layer_mm) / max(scale, 1)
    head = f"Orthophoto: {_mm(layer_mm)} mm/px; the model expects {_mm(model_mm)} mm/px."
    if abs(ratio - 1.0) <= TOLERANCE:
        return GsdVerdict(
            f"{head} Cracks narrower than ~{_mm(seen / 2)} mm may be missed; widths under "
            f"~{_mm(RESOLVABLE_PX * analysed)} mm are reported as 'not resolvable'.", "ok",
            ratio)
    if ratio < 1.0:
        what = (f"It is resampled to {_mm(model_mm)} mm/px, so cracks narrower than "
                f"~{_mm(seen / 2)} mm cannot be seen." if policy == "auto" else
                "It runs at its own resolution, finer than the model was trained for: "
                "results may be poor.")
        return GsdVerdict(f"{head} {what}", "info", ratio)
    words = (f"{head} Cracks narrower than ~{_mm(seen / 2)} mm cannot be seen at "
             f"{_mm(layer_mm)} mm/px.")
    if policy == "auto" and ratio > MAX_UPSAMPLE:
        return GsdVerdict(
            f"{words} The run will be refused ({ratio:.0f}x coarser than the model's, the most "
            f"is {MAX_UPSAMPLE:.0f}x): use imagery of at most "
            f"{_mm(model_mm * MAX_UPSAMPLE)} mm/px, or set the GSD policy to 'Keep the "
            "orthophoto's own resolution' to run anyway.", "refused", ratio)
    tail = (f" It is upsampled {ratio:.1f}x to the model's resolution (no detail is added)."
            if policy == "auto" else " It runs at its own resolution; expect poor results.")
    return GsdVerdict(words + tail, "warning", ratio)
