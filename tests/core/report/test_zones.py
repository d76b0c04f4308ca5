"""The user's zone polygons (spans, lanes) in the report: read in any CRS, named, measured."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from csbsr.core.errors import InvalidInputError

REPO = Path(__file__).resolve().parents[3]
X0, Y0 = 500000.0, 5000000.0  # top-left corner of the synthetic run (EPSG:32633, 1.8 x 1.2 m)


def _builder():
    spec = importlib.util.spec_from_file_location(
        "csbsr_report_run_builder_z", REPO / "tests" / "core" / "report" / "test_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_run_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _builder()(tmp_path_factory.mktemp("zones") / "run")


def _write_zones(path: Path, polys, names, crs: str = "EPSG:32633", field: str = "span",
                 layer: str = "zones") -> Path:
    import pyogrio
    import shapely

    pyogrio.raw.write(path, np.array(shapely.to_wkb(polys), dtype=object),
                      [np.array(names, dtype=object)], fields=[field],
                      geometry_type="Polygon", crs=crs, layer=layer, driver="GPKG")
    return path


def _spans():
    """Left and right halves of the run, plus a triangle and a polygon off the raster."""
    import shapely

    left = shapely.box(X0, Y0 - 1.2, X0 + 0.9, Y0)
    right = shapely.box(X0 + 0.9, Y0 - 1.2, X0 + 1.8, Y0)
    tri = shapely.Polygon([(X0, Y0), (X0 + 0.6, Y0), (X0, Y0 - 0.6)])
    away = shapely.box(X0 + 50, Y0 + 50, X0 + 51, Y0 + 51)
    return [left, right, tri, away], ["Span 1", "Span 2", "Corner", "Elsewhere"]


def test_user_zones_share_the_total_length_and_keep_their_names(run_dir: Path,
                                                                tmp_path: Path) -> None:
    from csbsr.core.report.content import build_report
    from csbsr.core.report.runfolder import load_run

    polys, names = _spans()
    path = _write_zones(tmp_path / "spans.gpkg", polys, names)
    run = load_run(run_dir)
    content = build_report(run, zones_path=path)
    by = {z.zone_id: z for z in content.zones}
    assert list(by) == names  # every zone listed, in file order, even without cracks
    assert by["Span 1"].len_m + by["Span 2"].len_m == pytest.approx(
        run.summary["total_len_m"], rel=1e-6)
    assert by["Span 1"].len_m > 0 and by["Span 2"].len_m > 0
    assert by["Elsewhere"].len_m == 0 and by["Elsewhere"].n_seg == 0
    assert by["Span 1"].outline is None  # a box is drawn as its bounds
    assert by["Corner"].outline.startswith("POLYGON")
    assert content.zone_source == "user" and "your polygons" in content.tables["zones"].title
    again = type(content).from_dict(json.loads(json.dumps(content.to_dict())))
    assert again.zones[2].outline == by["Corner"].outline and again.zone_source == "user"


def test_zones_in_another_crs_are_reprojected(run_dir: Path, tmp_path: Path) -> None:
    import shapely
    from csbsr.core.report.content import build_report
    from csbsr.core.report.runfolder import load_run
    from pyproj import Transformer

    polys, names = _spans()
    tr = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    geo = [shapely.transform(p, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
           for p in polys]
    run = load_run(run_dir)
    utm = build_report(run, zones_path=_write_zones(tmp_path / "utm.gpkg", polys, names))
    wgs = build_report(run, zones_path=_write_zones(tmp_path / "wgs.gpkg", geo, names,
                                                    crs="EPSG:4326"))
    for a, b in zip(utm.zones, wgs.zones):
        assert b.zone_id == a.zone_id
        assert b.len_m == pytest.approx(a.len_m, abs=0.01)  # 1e-7 deg round trip ~ 1 cm


def test_the_cli_writes_a_report_per_span(run_dir: Path, tmp_path: Path) -> None:
    from csbsr.core.cli import main

    polys, _ = _spans()
    path = _write_zones(tmp_path / "z.gpkg", polys, ["B", "A", "B", "C"], field="label")
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(out), "--zones", str(path)]) == 0
    with open(tmp_path / "r_zones.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["B", "A", "B #2", "C"]
    html = out.read_text(encoding="utf-8")
    assert "Zones (your polygons)" in html and "Zone B #2:" in html


def test_bad_zone_files_say_what_to_do(run_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    import pyogrio
    import shapely
    from csbsr.core.cli import main
    from csbsr.core.report.runfolder import load_run
    from csbsr.core.report.zones import read_zones

    run = load_run(run_dir)
    polys, names = _spans()
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_zones(tmp_path / "none.gpkg", run)
    (tmp_path / "junk.gpkg").write_text("not a GeoPackage", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="cannot read the zones file"):
        read_zones(tmp_path / "junk.gpkg", run)
    lines = tmp_path / "lines.gpkg"
    pyogrio.raw.write(lines, np.array(shapely.to_wkb([shapely.LineString(
        [(X0, Y0), (X0 + 1, Y0 - 1)])]), dtype=object), [], fields=[],
        geometry_type="LineString", crs="EPSG:32633", driver="GPKG")
    with pytest.raises(InvalidInputError, match="no polygons"):
        read_zones(lines, run)
    ok = _write_zones(tmp_path / "ok.gpkg", polys, names)
    with pytest.raises(InvalidInputError, match="no field 'lane'.*span"):
        read_zones(ok, run, name_field="lane")
    far = _write_zones(tmp_path / "far.gpkg", [polys[3]], ["Elsewhere"])
    with pytest.raises(InvalidInputError, match="no zone of .* overlaps the analysed extent"):
        read_zones(far, run)
    out = tmp_path / "x.html"
    assert main(["report", str(run_dir), "--out", str(out), "--zones", str(ok),
                 "--zone-size", "0.5"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert not out.exists()
