"""QGIS fields built from the one attribute schema of ``core.records``, and the copy of the
engine's crack layers into Processing's feature sinks.

The engine's GeoPackage and the plugin's feature sinks share ``FIELDS`` / ``NODE_FIELDS``
(names of at most 10 characters, so Shapefiles keep them): a layer written by either has the
same table.
"""
from __future__ import annotations

from typing import Any, List, Sequence

from qgis.core import QgsFeature, QgsFeatureSink, QgsField, QgsFields, QgsProcessingException
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


def copy_features(source: Any, sink: Any, fields: QgsFields, feedback: Any = None) -> int:
    """Copy the features of ``source`` (a layer of the engine's GeoPackage) into ``sink``
    with the schema ``fields``; return the number written (stops early when cancelled).

    Raises:
        QgsProcessingException: the sink refused a feature.
    """
    names = fields.names()
    have = set(source.fields().names())
    batch, n = [], 0
    for feat in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            break
        out = QgsFeature(fields)
        out.setGeometry(feat.geometry())
        out.setAttributes([feat[name] if name in have else None for name in names])
        batch.append(out)
        if len(batch) >= 1000:
            n += _add(sink, batch)
            batch = []
    return n + _add(sink, batch)


def _add(sink: Any, feats: List[QgsFeature]) -> int:
    if feats and not sink.addFeatures(feats, QgsFeatureSink.FastInsert):
        raise QgsProcessingException(f"could not write the crack features: {sink.lastError()}")
    return len(feats)
