"""One palette: the QML styles use the colours of ``core/report/style.py`` (the reports'),
and the legends say the width limits, the standard and the probability as 0-1."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

STYLES = Path(__file__).resolve().parents[2] / "resources" / "styles"


def _hex(rgba: str) -> str:
    r, g, b = (int(v) for v in rgba.split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def test_crack_line_colours_are_the_report_palette() -> None:
    from csbsr.core.report.style import SEVERITY_COLOURS

    root = ET.parse(STYLES / "crack_lines.qml").getroot()
    renderer = root.find("renderer-v2")
    assert renderer.get("attr") == "sev"
    symbol_of = {c.get("value"): c.get("symbol") for c in renderer.iter("category")}
    assert set(symbol_of) == set(SEVERITY_COLOURS)
    for sev, colour in SEVERITY_COLOURS.items():
        symbol = next(s for s in renderer.find("symbols") if s.get("name") == symbol_of[sev])
        line = {o.get("name"): o.get("value") for o in symbol.iter("Option")
                if o.get("name")}["line_color"]
        assert _hex(line) == colour.lower(), sev


def test_legends_carry_limits_standard_and_probability_range() -> None:
    root = ET.parse(STYLES / "crack_lines.qml").getroot()
    labels = {c.get("value"): c.get("label") for c in root.iter("category")}
    assert labels["L"] == "Low: < 10 mm, ASTM D6433"
    assert labels["M"] == "Medium: 10-75 mm, ASTM D6433"
    assert labels["H"] == "High: > 75 mm, ASTM D6433"
    prob = ET.parse(STYLES / "crack_prob.qml").getroot()
    items = [(float(i.get("value")), i.get("label")) for i in prob.iter("item")]
    assert items[0] == (0.0, "0.00") and items[-1] == (255.0, "1.00")  # x255 shown as 0-1
    assert all(0.0 <= float(label) <= 1.0 for _v, label in items)


@pytest.mark.qgis
def test_qgis_reads_the_styles(qgis_app, synthetic_prob: Path) -> None:
    from csbsr.core.report.style import SEVERITY_COLOURS
    from csbsr.csbsr_plugin.styling import apply_style
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    lines = QgsVectorLayer("LineString?crs=EPSG:32633&field=sev:string", "l", "memory")
    assert apply_style(lines, "crack_lines")
    colours = {c.value(): c.symbol().color().name() for c in lines.renderer().categories()}
    assert colours == {k: v.lower() for k, v in SEVERITY_COLOURS.items()}
    prob = QgsRasterLayer(str(synthetic_prob), "p", "gdal")
    assert apply_style(prob, "crack_prob")
    shader = prob.renderer().shader().rasterShaderFunction()
    assert [i.label for i in shader.colorRampItemList()][-1] == "1.00"
