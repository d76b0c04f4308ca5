"""Area of interest: an extent and/or polygons from Processing parameters, in the raster CRS."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProcessingException,
    QgsRectangle,
)


def polygons_union(source: Any, crs: QgsCoordinateReferenceSystem, context: Any,
                   feedback: Any = None) -> Optional[QgsGeometry]:
    """Union of the polygons of a feature source, transformed to ``crs``; None if none.

    Raises:
        QgsProcessingException: when the source holds no polygon.
    """
    if source is None:
        return None
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    parts = []
    for feat in source.getFeatures(QgsFeatureRequest()):
        if feedback is not None and feedback.isCanceled():
            return None
        geom = QgsGeometry(feat.geometry())
        if geom.isEmpty():
            continue
        geom.transform(transform)
        parts.append(geom)
    if not parts:
        raise QgsProcessingException(
            "the area-of-interest layer has no polygon (or none is selected): select polygons, "
            "untick 'Selected features only', or leave the AOI empty for the whole raster")
    union = QgsGeometry.unaryUnion(parts)
    if union.isEmpty() or union.area() <= 0:
        raise QgsProcessingException(
            "the area-of-interest features are not polygons with an area: use a polygon layer")
    return union


def aoi_box(extent: Optional[QgsRectangle], polygons: Optional[QgsGeometry]
            ) -> Optional[Tuple[float, float, float, float]]:
    """(xmin, ymin, xmax, ymax) of extent ∩ polygons' bounding box (raster CRS); None = all.

    Raises:
        QgsProcessingException: when the extent and the polygons do not overlap.
    """
    box = None
    if extent is not None and not extent.isNull() and not extent.isEmpty():
        box = QgsRectangle(extent)
    if polygons is not None:
        pbox = polygons.boundingBox()
        box = pbox if box is None else box.intersect(pbox)
        if box.isEmpty():
            raise QgsProcessingException(
                "the extent and the area-of-interest polygons do not overlap: clear one of them")
    if box is None:
        return None
    return (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())


def write_wkt(geom: Optional[QgsGeometry], folder: Any) -> Optional[str]:
    """Write ``geom`` as WKT into a new file in ``folder`` (the engine's ``--aoi-polygon``);
    None stays None."""
    if geom is None:
        return None
    import tempfile

    fd, path = tempfile.mkstemp(prefix="csbsr_aoi_", suffix=".wkt", dir=str(folder))
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(geom.asWkt(17))
    return path
