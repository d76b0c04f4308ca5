"""GeoPackage/Shapefile/CSV/JSON export round-trips and the ``csbsr vectorize`` command."""
from __future__ import annotations

import csv
import json

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from csbsr.core.cli import main
from csbsr.core.errors import InvalidInputError, OutputExistsError
from csbsr.core.records import FIELDS, NODE_FIELDS
from csbsr.core.vectorize import synthetic as sy
from csbsr.core.vectorize.api import vectorize_array
from csbsr.core.vectorize.export import write_csv, write_network, write_summary_json
from pyproj import CRS

T = Affine(0.002, 0, 500000, 0, -0.002, 5600000)


@pytest.fixture(scope="module")
def network():
    c = np.array([150.4, 150.6])
    lines = [np.array([[20.3, 150.6], c]), np.array([c, [280.2, 60.1]]),
             np.array([c, [280.7, 250.3]])]
    cov = sy.render(lines, [5, 5, 5], (300, 300))
    return vectorize_array(cov, T, "EPSG:32633", model_name="lite-v1")


def _check_layer(path, layer, items, fields, net):
    meta, _fids, geoms, data = pyogrio.raw.read(str(path), layer=layer)
    assert CRS.from_user_input(meta["crs"]).equals(CRS.from_wkt(net.crs_wkt))
    assert list(meta["fields"]) == [f[0] for f in fields]
    assert len(geoms) == len(items)
    import shapely

    for k, item in enumerate(items):
        g = shapely.from_wkb(geoms[k])
        assert g.equals_exact(item.geometry, 1e-6)
        for (name, ftype, *_), col in zip(fields, data):
            want, got = item.attributes[name], col[k]
            if want is None:
                assert got is None or (isinstance(got, float) and np.isnan(got)) or got == ""
            elif ftype == "float":
                assert got == pytest.approx(want, rel=1e-9)
            else:
                assert got == want, name


def test_gpkg_round_trip(tmp_path, network):
    out = write_network(network, tmp_path / "c.gpkg")
    layers = {name: gt for name, gt in pyogrio.list_layers(str(out))}
    assert layers == {"crack_seg": "LineString", "crack_node": "Point", "crack_sum": None}
    _check_layer(out, "crack_seg", network.segments, FIELDS, network)
    _check_layer(out, "crack_node", network.nodes, NODE_FIELDS, network)
    _, _, _, data = pyogrio.raw.read(str(out), layer="crack_sum")
    assert data[0][-1] == "ALL" and data[2][-1] == pytest.approx(network.summary.total_len_m)
    meta = pyogrio.read_info(str(out), layer="crack_sum")["layer_metadata"]
    assert json.loads(meta["summary_json"])["n_segments"] == 3
    assert list(tmp_path.iterdir()) == [out]  # no temporary leftovers
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_network(network, out)
    write_network(network, out, overwrite=True)


def test_shp_round_trip(tmp_path, network):
    out = write_network(network, tmp_path / "c.shp")
    _check_layer(out, None, network.segments, FIELDS, network)
    nodes = tmp_path / "c_nodes.shp"
    _check_layer(nodes, None, network.nodes, NODE_FIELDS, network)
    for base in ("c", "c_nodes"):
        assert (tmp_path / f"{base}.prj").exists()
        assert (tmp_path / f"{base}.cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{b}{s}" for b in ("c", "c_nodes") for s in (".shp", ".shx", ".dbf", ".prj", ".cpg"))
    with pytest.raises(OutputExistsError):
        write_network(network, out)
    with pytest.raises(InvalidInputError, match=r"\.gpkg"):
        write_network(network, tmp_path / "c.kml")


def test_csv_and_json(tmp_path, network):
    p = write_csv(network, tmp_path / "c.csv")
    rows = list(csv.DictReader(p.open(encoding="utf-8")))
    assert len(rows) == 3 and float(rows[0]["len_m"]) == pytest.approx(
        network.segments[0].attributes["len_m"])
    assert rows[0]["wkt"].startswith("LINESTRING")
    j = json.loads(write_summary_json(network, tmp_path / "s.json").read_text())
    assert j["total_len_m"] == pytest.approx(network.summary.total_len_m)
    assert j["version"] and j["standard"] == "D6433" and "crs_wkt" in j


def test_empty_network_exports(tmp_path):
    net = vectorize_array(np.zeros((50, 50), np.float32), T, "EPSG:32633")
    out = write_network(net, tmp_path / "e.gpkg")
    assert pyogrio.read_info(str(out), layer="crack_seg")["features"] == 0


def _tif(path, arr, crs="EPSG:32633"):
    prof = {"driver": "GTiff", "height": arr.shape[0], "width": arr.shape[1], "count": 1,
            "dtype": arr.dtype.name, "transform": T}
    if crs:
        prof["crs"] = crs
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
    return str(path)


def test_cli_vectorize(tmp_path, capsys):
    cov = sy.render([sy.straight(200, 10, (150.3, 150.5))], [12], (300, 300))
    tif = _tif(tmp_path / "p.tif", (cov * 255).round().astype(np.uint8))
    out = tmp_path / "o.gpkg"
    rc = main(["-q", "vectorize", tif, "--out", str(out), "--road-azimuth", "100",
               "--standard", "ltpp", "--summary-json", str(tmp_path / "s.json")])
    assert rc == 0 and out.exists()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 segments" in line and "total 0.40 m" in line and "LTPP" in line
    _, _, _, data = pyogrio.raw.read(str(out), layer="crack_seg", columns=["ctype", "sev"])
    assert list(data[0]) == ["long"] and list(data[1]) == ["H"]  # 24 mm > 19 mm
    assert main(["-q", "vectorize", tif, "--out", str(out)]) == 2  # exists
    assert main(["-q", "vectorize", tif, "--out", str(out), "--overwrite", "--standard",
                 "custom", "--custom-thresholds-mm", "30,40"]) == 0
    _, _, _, data = pyogrio.raw.read(str(out), layer="crack_seg", columns=["sev"])
    assert list(data[0]) == ["L"]
    shp = tmp_path / "o.shp"
    assert main(["-q", "vectorize", tif, "--out", str(shp)]) == 0 and shp.exists()


def test_cli_errors(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("nope")
    assert main(["-q", "vectorize", str(bad), "--out", str(tmp_path / "o.gpkg")]) == 2
    cov = sy.render([sy.straight(100, 0, (60.3, 60.5))], [4], (120, 120))
    nocrs = _tif(tmp_path / "n.tif", cov, crs=None)
    assert main(["-q", "vectorize", nocrs, "--out", str(tmp_path / "o.gpkg")]) == 2
    merc = _tif(tmp_path / "m.tif", cov, crs="EPSG:3857")
    assert main(["-q", "vectorize", merc, "--out", str(tmp_path / "o.gpkg")]) == 2
    ok = _tif(tmp_path / "ok.tif", cov)
    assert main(["-q", "vectorize", ok, "--out", str(tmp_path / "o.gpkg"),
                 "--custom-thresholds-mm", "1,2"]) == 2
    assert main(["-q", "vectorize", ok, "--out", str(tmp_path / "o.gpkg"), "--standard",
                 "custom"]) == 2
    assert not (tmp_path / "o.gpkg").exists()
