"""How the outputs look in QGIS: QML styles, field aliases/precision/value maps, legend labels
with the width limits and the standard, layer names that carry the orthophoto's name.

Every number format, alias, colour and label comes from the engine's pure-Python modules
(``core.records`` for the fields, ``core.report.style`` for the palette and the legend), so the
map, the attribute table and the reports agree.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from qgis.core import QgsEditorWidgetSetup, QgsVectorLayer

from ..core.records import FIELDS, NODE_FIELDS, VALUE_MAPS
from ..core.report.style import severity_legend
from .paths import style_path

#: run-folder role -> (QML style, words in the layer name, visible when added)
ROLES: Dict[str, tuple] = {
    "cracks": ("crack_lines", "crack lines", True),
    "nodes": ("crack_nodes", "crack nodes", False),
    "prob": ("crack_prob", "crack probability (0-1)", True),
    "mask": ("crack_mask", "crack mask", False),
    "sr": ("crack_sr", "super-resolved image", True),
}


def layer_name(stem: str, role: str) -> str:
    """E.g. ``"sample_ortho - crack lines"``."""
    return f"{stem} - {ROLES[role][1]}"


def apply_style(layer: Any, style: str) -> bool:
    """Load ``resources/styles/<style>.qml`` into ``layer``; return True on success."""
    path = style_path(style)
    if layer is None or not path.is_file():
        return False
    _msg, ok = layer.loadNamedStyle(str(path))
    layer.triggerRepaint()
    return bool(ok)


def configure_fields(layer: QgsVectorLayer, schema: Sequence[Any],
                     value_maps: Optional[Dict[str, Dict[str, str]]] = None) -> None:
    """Aliases, display precision, value maps (codes -> words) and hidden technical fields.

    Args:
        layer: a layer whose fields follow ``schema`` (``core.records`` ``Field`` list).
        schema: the fields (name, type, description, alias, precision, technical).
        value_maps: field -> {code: words} (``core.records.VALUE_MAPS``).
    """
    value_maps = value_maps or {}
    fields = layer.fields()
    table = layer.attributeTableConfig()
    columns = table.columns()
    hidden = set()
    for f in schema:
        idx = fields.indexOf(f.name)
        if idx < 0:
            continue
        layer.setFieldAlias(idx, f.alias)
        if f.technical:
            hidden.add(f.name)
            layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("Hidden", {}))
        elif f.name in value_maps:
            pairs = [{words: code} for code, words in value_maps[f.name].items()]
            layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("ValueMap", {"map": pairs}))
        elif f.type == "int" and f.description.startswith("1 if"):  # a 0/1 flag
            layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("ValueMap", {
                "map": [{"Yes": 1}, {"No": 0}]}))
        elif f.type == "float":
            layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("Range", {
                "Precision": int(f.precision), "Step": 10.0 ** -int(f.precision),
                "Min": -1e12, "Max": 1e12, "AllowNull": True, "Style": "SpinBox"}))
    chars = {f.name: max([len(f.alias), 6] + [len(w) for w in value_maps.get(f.name, {})
                                               .values()]) for f in schema}
    for col in columns:
        if col.name in hidden or col.name == "fid":  # fid: the GeoPackage's row id
            col.hidden = True
        elif col.name in chars:
            col.width = 16 + 7 * chars[col.name]
    table.setColumns(columns)
    layer.setAttributeTableConfig(table)


def set_severity_legend(layer: QgsVectorLayer, summary: Optional[Dict[str, Any]]) -> None:
    """Label the severity classes with their limits and the run's standard
    (``Low: < 10 mm, ASTM D6433``), in the palette of ``core.report.style``."""
    renderer = layer.renderer()
    if renderer is None or renderer.type() != "categorizedSymbol" or not summary:
        return
    items = {item.code: item for item in severity_legend(summary)}
    for i, cat in enumerate(renderer.categories()):
        item = items.get(str(cat.value()))
        if item is not None:
            renderer.updateCategoryLabel(i, f"{item.label}: {item.limits}")
    layer.triggerRepaint()


def style_layer(layer: Any, role: str, stem: Optional[str] = None,
                summary: Optional[Dict[str, Any]] = None) -> None:
    """Style, name and (vector layers) configure the fields of a run output of ``role``."""
    if role not in ROLES:
        return
    apply_style(layer, ROLES[role][0])
    if stem:
        layer.setName(layer_name(stem, role))
    if role == "cracks":
        configure_fields(layer, FIELDS, VALUE_MAPS)
        set_severity_legend(layer, summary)
    elif role == "nodes":
        configure_fields(layer, NODE_FIELDS)
