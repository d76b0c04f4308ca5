"""``csbsr:crackreport``: the PDF report, headless, checked with poppler (pdfinfo, pdftotext)."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.qgis,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is missing"),
]

REPO = Path(__file__).resolve().parents[2]


def _builder():
    """``build_run_folder`` of tests/core/report/test_html.py (one synthetic run folder recipe)."""
    spec = importlib.util.spec_from_file_location(
        "csbsr_report_run_builder", REPO / "tests" / "core" / "report" / "test_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_run_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _builder()(tmp_path_factory.mktemp("pdf") / "run")


def _pdf_info(path: Path) -> dict:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return dict(re.findall(r"^([^:]+):\s+(.*)$", out.stdout, re.M))


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def _gpkg_totals(run_dir: Path) -> dict:
    from pyogrio.raw import read

    _m, _f, _g, data = read(str(run_dir / "site_cracks.gpkg"), layer="crack_sum",
                            read_geometry=False)
    rows = list(zip(*[list(c) for c in data]))
    _t, _s, len_m, n_seg, dens = next(r for r in rows if r[0] == "ALL" and r[1] == "ALL")
    return {"len_m": float(len_m), "n_seg": int(n_seg), "dens": float(dens)}


def test_pdf_report_pages_and_totals(provider, run_dir: Path, tmp_path: Path) -> None:
    import processing

    out = tmp_path / "report.pdf"
    res = processing.run("csbsr:crackreport", {
        "RUN_DIR": str(run_dir), "TITLE": "Test road", "PAGE_SIZE": 0, "TOP_N": 5,
        "OUTPUT": str(out)})
    assert Path(res["OUTPUT"]) == out and out.is_file()
    info = _pdf_info(out)
    assert res["N_ZONES"] >= 2
    assert int(info["Pages"]) == res["PAGES"] == 2 + res["N_ZONES"]
    assert "A4" in info["Page size"]
    text = _pdf_text(out)
    tot = _gpkg_totals(run_dir)
    assert f"Total crack length (m): {tot['len_m']:.2f}" in text
    assert f"Crack density (m/m2): {tot['dens']:.3f}" in text
    assert f"Crack segments: {tot['n_seg']}" in text
    assert "Test road" in text and "lite (x4 super-resolution)" in text
    assert "CPU (2 threads, fp32)" in text and "orthophoto 8.0 mm/px" in text
    # the type x severity table's Total row holds the same total length
    total_row = [ln for ln in text.splitlines() if ln.strip().startswith("Total ")
                 and "(m)" not in ln]
    assert total_row and f"{tot['len_m']:.2f}" in total_row[0]
    assert "Longest cracks" in text and "Widest cracks" in text
    for k in range(1, res["N_ZONES"] + 1):
        assert f"Zone Z{k:02d} - site" in text
    assert not list(tmp_path.glob(".*partial*"))


def test_pdf_letter_with_user_zones_in_another_crs(provider, run_dir: Path,
                                                   tmp_path: Path) -> None:
    import processing
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsField,
        QgsGeometry,
        QgsProject,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant

    zones = QgsVectorLayer("Polygon?crs=EPSG:4326", "aoi", "memory")
    zones.dataProvider().addAttributes([QgsField("name", QVariant.String)])
    zones.updateFields()
    xf = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"),
                                QgsCoordinateReferenceSystem("EPSG:4326"),
                                QgsProject.instance())
    feats = []
    for name, wkt in (("west", "POLYGON((500000 4999998.8,500000.9 4999998.8,500000.9 5000000,"
                                "500000 5000000,500000 4999998.8))"),
                      ("east", "POLYGON((500000.9 4999998.8,500001.8 4999998.8,500001.8 "
                               "5000000,500000.9 5000000,500000.9 4999998.8))")):
        g = QgsGeometry.fromWkt(wkt)
        g.transform(xf)
        f = QgsFeature(zones.fields())
        f.setGeometry(g)
        f.setAttributes([name])
        feats.append(f)
    zones.dataProvider().addFeatures(feats)
    out = tmp_path / "letter.pdf"
    res = processing.run("csbsr:crackreport", {
        "RUN_DIR": str(run_dir), "PAGE_SIZE": 1, "ZONES": zones, "OUTPUT": str(out)})
    info = _pdf_info(out)
    assert res["N_ZONES"] == 2 and int(info["Pages"]) == 4
    assert "letter" in info["Page size"].lower()
    text = _pdf_text(out)
    assert "Zone west" in text and "Zone east" in text


def test_template_round_trip(qgis_app, run_dir: Path, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.algorithms.crack_report import (
        ITEM_IDS,
        TEMPLATE_PATH,
        build_report_pdf,
        save_template,
    )

    shipped = TEMPLATE_PATH.read_text(encoding="utf-8")
    for item_id in ITEM_IDS:
        assert f'id="{item_id}"' in shipped, item_id
    # a user edit: drop the north arrow, rename a heading; the report still fills the rest
    tpl = save_template(tmp_path / "mine.qpt")
    text = tpl.read_text(encoding="utf-8").replace("Longest cracks", "Longest (edited)")
    text = re.sub(r'<LayoutItem [^>]*id="north_arrow".*?</LayoutItem>', "", text, flags=re.S)
    tpl.write_text(text, encoding="utf-8")
    res = build_report_pdf(run_dir, tmp_path / "t.pdf", template=tpl, zone_cell=10.0)
    assert res.pages == 3 and int(_pdf_info(res.pdf)["Pages"]) == 3
    pdf_text = _pdf_text(res.pdf)
    assert "Longest (edited)" in pdf_text
    assert f"{_gpkg_totals(run_dir)['len_m']:.2f}" in pdf_text


def test_refuses_existing_pdf_and_bad_folder(qgis_app, run_dir: Path, tmp_path: Path) -> None:
    from csbsr.core.errors import InvalidInputError, OutputExistsError
    from csbsr.csbsr_plugin.algorithms.crack_report import build_report_pdf

    out = tmp_path / "r.pdf"
    out.write_bytes(b"user file")
    with pytest.raises(OutputExistsError):
        build_report_pdf(run_dir, out)
    assert out.read_bytes() == b"user file"
    with pytest.raises(InvalidInputError, match="csbsr run"):
        build_report_pdf(tmp_path, tmp_path / "x.pdf")
