"""``csbsr:crackreport``: the PDF lays out the engine's report content; any run folder (dock,
toolbox, batch) works; the main-thread part is short. Checked with poppler (pdfinfo,
pdftotext)."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import time
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


def test_pdf_lays_out_the_engine_content(provider, run_dir: Path, tmp_path: Path) -> None:
    import processing

    out = tmp_path / "report.pdf"
    res = processing.run("csbsr:crackreport", {
        "RUN_DIR": str(run_dir), "TITLE": "Test road", "PAGE_SIZE": 0, "TOP_N": 5,
        "OUTPUT": str(out)})
    assert Path(res["REPORT_PDF"]) == out and out.is_file()
    # the content the PDF shows is the engine's, written beside the run with the HTML
    content = json.loads((run_dir / "site_report.json").read_text(encoding="utf-8"))
    assert Path(res["REPORT_HTML"]) == run_dir / "site_report.html"
    assert Path(res["REPORT_HTML"]).is_file()
    info = _pdf_info(out)
    details = [z for z in content["zones"] if z["detail"]]
    assert res["N_ZONES"] == len(details) >= 2
    assert int(info["Pages"]) == res["PAGES"] == 2 + res["N_ZONES"]
    assert "A4" in info["Page size"]
    text = _pdf_text(out)
    flat = " ".join(text.split())
    assert content["title"] == "Test road" and "Test road" in text
    for figure in content["key_figures"]:
        assert figure["label"] in flat and figure["text"] in flat, figure
    for item in content["legend"]:  # the width classes with their limits and standard
        assert f"{item['label']}: {item['limits']}" in flat
    assert "FHWA LTPP" in flat and "Low: < 6 mm" in flat
    total = content["tables"]["type_severity"]["rows"][-1]
    assert f"{total[5]:.2f}" in flat
    assert "Longest cracks (top 5)" in flat and "Widest cracks" in flat
    for z in details:
        assert f"Zone {z['zone_id']} - site" in text
    assert "Finds cracks in photos of pavement" in flat  # the model in plain words
    assert not list(tmp_path.glob(".*partial*"))


def test_any_run_folder_makes_a_report(provider, run_dir: Path, tmp_path: Path) -> None:
    """A batch folder holds several orthophotos' runs; a detect-only folder is not a run."""
    import processing
    from qgis.core import QgsProcessingException

    batch = tmp_path / "batch"
    batch.mkdir()
    for f in run_dir.iterdir():
        if f.is_file() and f.name.startswith("site_") and not f.name.startswith(
                "site_report"):
            for stem in ("north", "south"):
                shutil.copyfile(f, batch / f.name.replace("site_", f"{stem}_"))
    with pytest.raises(QgsProcessingException, match="several runs.*Orthophoto name"):
        processing.run("csbsr:crackreport", {"RUN_DIR": str(batch)})
    res = processing.run("csbsr:crackreport", {"RUN_DIR": str(batch), "STEM": "south",
                                                "PAGE_SIZE": 1})
    assert Path(res["REPORT_PDF"]) == batch / "south_report.pdf"
    assert "letter" in _pdf_info(batch / "south_report.pdf")["Page size"].lower()
    assert (batch / "south_report.html").is_file() and not (batch / "north_report.pdf").exists()
    (batch / "north_cracks.gpkg").unlink()
    with pytest.raises(QgsProcessingException, match="Inspect cracks"):
        processing.run("csbsr:crackreport", {"RUN_DIR": str(batch), "STEM": "north"})


def test_the_main_thread_part_is_short(provider, run_dir: Path, tmp_path: Path) -> None:
    """What froze QGIS (rendering the maps) happens in the worker thread: every map is a
    picture rendered by ``prepare``, and the main-thread ``write`` only places those pictures
    (it renders nothing: the pictures and the work folder are untouched). Times are printed,
    not asserted (speed is measured by make bench)."""
    from csbsr.core.layout import RunLayout
    from csbsr.csbsr_plugin.algorithms.crack_report import ReportJob
    from qgis.core import QgsApplication, QgsProcessingFeedback

    alg = QgsApplication.processingRegistry().createAlgorithmById("csbsr:crackreport")
    job = ReportJob(RunLayout.find(run_dir), tmp_path / "r.pdf")
    t0 = time.perf_counter()
    assert job.prepare(alg, QgsProcessingFeedback(), [])
    prepared = time.perf_counter() - t0
    zones = [z.zone_id for z in job.content.zones if z.detail]
    assert {"overview", *(f"zone:{z}" for z in zones)} <= set(job.maps)
    work = {m.png.parent for m in job.maps.values()}
    before = {p: p.stat().st_mtime_ns for w in work for p in w.iterdir()}
    assert all(m.png in before for m in job.maps.values())
    t0 = time.perf_counter()
    pdf = job.write()
    main_thread = time.perf_counter() - t0
    print(f"report: worker part {prepared:.2f} s, main-thread part {main_thread:.2f} s")
    assert pdf.stat().st_size > 20_000
    assert {p: p.stat().st_mtime_ns for w in work for p in w.iterdir()} == before


def test_your_zones_become_the_zone_pages(provider, run_dir: Path, tmp_path: Path) -> None:
    """A memory polygon layer (what an inspector draws in QGIS) named by a field: one page
    per zone with cracks on the raster, the zones table lists every zone."""
    import processing
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    x0, y0 = 500000.0, 5000000.0
    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", "spans", "memory")
    layer.dataProvider().addAttributes([QgsField("Pier", QVariant.String)])
    layer.updateFields()
    feats = []
    for name, wkt in (("Span A", f"POLYGON(({x0} {y0},{x0 + 0.9} {y0},{x0 + 0.9} {y0 - 1.2},"
                                 f"{x0} {y0 - 1.2},{x0} {y0}))"),
                      ("Span B", f"POLYGON(({x0 + 0.9} {y0},{x0 + 1.8} {y0},{x0 + 0.9} "
                                 f"{y0 - 1.2},{x0 + 0.9} {y0}))")):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        f.setAttributes([name])
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    out = tmp_path / "spans.pdf"
    res = processing.run("csbsr:crackreport", {"RUN_DIR": str(run_dir), "ZONES": layer,
                                                "ZONE_FIELD": "Pier", "OUTPUT": str(out)})
    assert res["N_ZONES"] == 2 and int(_pdf_info(out)["Pages"]) == 4
    text = _pdf_text(out)
    assert "Zone Span A - site" in text and "Zone Span B - site" in text
    content = json.loads((run_dir / "site_report.json").read_text(encoding="utf-8"))
    assert content["zone_source"] == "user"
    assert [z["zone_id"] for z in content["zones"]] == ["Span A", "Span B"]
    assert content["zones"][1]["outline"].startswith("POLYGON")  # the triangle, not its box
    with pytest.raises(Exception, match="not both"):
        processing.run("csbsr:crackreport", {"RUN_DIR": str(run_dir), "ZONES": layer,
                                              "ZONE_CELL": 0.5, "OUTPUT": str(out)})
