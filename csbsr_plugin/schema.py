"""QGIS fields and features built from the one attribute schema of ``core.measure``.

The CLI export and the plugin's feature sinks share ``FIELDS`` / ``NODE_FIELDS`` (names of at
most 10 characters, so Shapefiles keep them), so a layer written by either has the same table.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from qgis.core import QgsFeature, QgsField, QgsFields, QgsGeometry, QgsLineString, QgsPoint
from qgis.PyQt.QtCore import QVariant

_TYPES = {"int": QVariant.Int, "float": QVariant.Double, "str": QVariant.String}


def make_field(name: str, kind: str, comment: str = "") -> QgsField:
    """A QgsField of core type ``kind`` ("int", "float", "str").

    QGIS 3.22 takes a ``QVariant.Type``; QGIS >= 3.38 (and Qt6) prefer ``QMetaType.Type``, which
    is what the compat branch would switch to.
    """
    field = QgsField(name, _TYPES[kind])
    if comment:
        field.setComment(comment)
    return field


def fields_from(schema: Sequence[Any]) -> QgsFields:
    """QgsFields for a ``core.records`` schema (``Field``: name, type, description...)."""
    fields = QgsFields()
    for f in schema:
        fields.append(make_field(f.name, f.type, f.description))
    return fields


def line_fields() -> QgsFields:
    """Fields of the crack line layer (``core.records.FIELDS``)."""
    from ..core.records import FIELDS

    return fields_from(FIELDS)


def node_fields() -> QgsFields:
    """Fields of the crack node layer (``core.records.NODE_FIELDS``)."""
    from ..core.records import NODE_FIELDS

    return fields_from(NODE_FIELDS)


def _geometry(shape: Any) -> QgsGeometry:
    """QgsGeometry of a shapely LineString/Point from its coordinates (full precision).

    Coordinates rather than WKB: inside ``qgis_process`` shapely's GEOS symbols can resolve to
    QGIS's older GEOS, whose WKB writer rejects shapely 2's default output dimension.
    """
    kind = shape.geom_type
    if kind == "LineString":
        xy = list(shape.coords)
        return QgsGeometry(QgsLineString([p[0] for p in xy], [p[1] for p in xy]))
    if kind == "Point":
        return QgsGeometry(QgsPoint(float(shape.x), float(shape.y)))
    import shapely

    geom = QgsGeometry()
    geom.fromWkb(shapely.to_wkb(shape, output_dimension=2))
    return geom


def to_features(items: Sequence[Any], fields: QgsFields) -> List[QgsFeature]:
    """Features from core ``CrackSegment``/``CrackNode`` objects (geometry + attributes)."""
    names = fields.names()
    out = []
    for item in items:
        feat = QgsFeature(fields)
        feat.setGeometry(_geometry(item.geometry))
        attrs: Dict[str, Any] = item.attributes
        feat.setAttributes([_value(attrs.get(n)) for n in names])
        out.append(feat)
    return out


def _value(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float) and v != v:  # NaN -> NULL
        return None
    return v
