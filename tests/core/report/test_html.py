"""HTML inspection report from a synthetic run folder: numbers, tables, files, errors."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from csbsr.core.errors import Cancelled, InvalidInputError, OutputExistsError
from csbsr.core.progress import RecordingProgress

STEM = "site"
GSD = 0.002  # m per analysed pixel


def build_run_folder(out: Path, stem: str = STEM) -> Path:
    """A run folder as `csbsr run` writes it, from five synthetic cracks of known width.

    900 x 600 px at 2 mm (EPSG:32633) probability/mask rasters, the crack GeoPackage and
    summary JSON from ``vectorize_array`` (LTPP severity, so L/M/H all occur), a run JSON,
    and a x4 coarser RGB "orthophoto" next to the folder.
    """
    import rasterio
    from csbsr.core.vectorize import synthetic as syn
    from csbsr.core.vectorize.api import vectorize_array
    from csbsr.core.vectorize.config import VectorizeConfig
    from csbsr.core.vectorize.export import write_network, write_summary_json
    from rasterio.transform import from_origin

    out.mkdir(parents=True, exist_ok=True)
    h, w = 600, 900
    x0, y0 = 500000.0, 5000000.0
    lines = [syn.straight(700, 0, (450, 120)), syn.straight(420, 90, (160, 360)),
             syn.sinusoid(600, 25, 300, (200, 330)), syn.straight(300, 45, (700, 430)),
             syn.arc(140, 120, (620, 300))]
    cov = syn.ragged(syn.render(lines, [3.0, 6.0, 12.0, 4.0, 8.0], (h, w), supersample=4),
                     seed=1)
    prob = (cov * 255).astype(np.uint8)
    tr = from_origin(x0, y0, GSD, GSD)
    prof = dict(driver="GTiff", crs="EPSG:32633", count=1, dtype="uint8", width=w, height=h,
                transform=tr)
    with rasterio.open(out / f"{stem}_prob.tif", "w", **prof) as dst:
        dst.write(prob[None])
    with rasterio.open(out / f"{stem}_mask.tif", "w", nodata=255, **prof) as dst:
        dst.write((prob >= 128).astype(np.uint8)[None])
    lr = prob.reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
    base = 150 + np.random.default_rng(0).normal(0, 12, lr.shape)
    rgb = np.clip(np.stack([base - lr * 0.4, base - lr * 0.45, base * 0.95 - lr * 0.5]), 0,
                  255).astype(np.uint8)
    ortho = out.parent / f"{stem}.tif"
    with rasterio.open(ortho, "w", driver="GTiff", width=w // 4, height=h // 4, count=3,
                       dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(x0, y0, GSD * 4, GSD * 4)) as dst:
        dst.write(rgb)
    net = vectorize_array(prob, tr, "EPSG:32633", VectorizeConfig(standard="ltpp"),
                          model_name="lite-x4")
    write_network(net, out / f"{stem}_cracks.gpkg")
    write_summary_json(net, out / f"{stem}_summary.json")
    run = {
        "software": "csbsr", "command": "run",
        "config": {"model_path": "/models/lite_x4.safetensors", "threshold": 0.5},
        "device": {"description": "CPU (2 threads, fp32)", "torch_device": "cpu"},
        "input": {"path": str(ortho), "width": w // 4, "height": h // 4, "epsg": 32633,
                  "gsd_m": [GSD * 4, GSD * 4], "model_gsd_m": GSD * 4},
        "output_grid": {"width": w, "height": h, "gsd_m": GSD},
        "model": {"model": {"name": "lite", "scale": 4}, "input_gsd_m": 0.008,
                  "metrics": {"iou": 0.61}, "description": "test card",
                  "created_utc": "2025-01-01T00:00:00Z"},
    }
    (out / f"{stem}_run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run_folder(tmp_path_factory.mktemp("report") / "run")


@pytest.fixture(scope="module")
def report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from csbsr.core.report.html import write_html_report

    out = tmp_path_factory.mktemp("html") / "report.html"
    return write_html_report(run_dir, out, title="Test road")


def _summary(run_dir: Path) -> Dict:
    return json.loads((run_dir / f"{STEM}_summary.json").read_text(encoding="utf-8"))


def _read_csv(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_html_key_figures_match_the_summary_json(report, run_dir: Path) -> None:
    text = report.html.read_text(encoding="utf-8")
    summary = _summary(run_dir)
    found = dict(re.findall(r'data-key="(\w+)">([^<]*)<', text))
    assert summary["total_len_m"] > 1.0 and summary["n_segments"] > 3
    assert found["total_len_m"] == f"{summary['total_len_m']:.2f}"
    assert found["density_m_m2"] == f"{summary['density_m_m2']:.3f}"
    assert found["area_m2"] == f"{summary['area_m2']:.2f}"
    assert found["n_segments"] == str(summary["n_segments"])
    assert found["n_cracks"] == str(summary["n_cracks"])
    assert "Test road" in text and "lite (x4 super-resolution)" in text
    assert "CPU (2 threads, fp32)" in text


def test_html_is_self_contained_with_maps_and_charts(report) -> None:
    text = report.html.read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) >= 4 + report.n_zones  # overview, probability, 2 charts, zones
    assert all(s.startswith("data:image/") for s in sources)
    assert "http://" not in text and "https://" not in text
    assert 'rel="stylesheet"' not in text and "<script" not in text
    assert report.n_zones >= 2


def test_type_severity_csv_totals_match_the_geopackage(report, run_dir: Path) -> None:
    from pyogrio.raw import read

    rows = _read_csv(report.csv["type_severity"])
    assert rows[0][:5] == ["Type", "H", "M", "L", "NR"]
    total = rows[-1]
    assert total[0] == "Total"
    _meta, _fids, _geom, data = read(str(run_dir / f"{STEM}_cracks.gpkg"), layer="crack_sum",
                                     read_geometry=False)
    sum_rows = list(zip(*[list(c) for c in data]))
    all_row = next(r for r in sum_rows if r[0] == "ALL" and r[1] == "ALL")
    assert float(total[5]) == pytest.approx(float(all_row[2]), rel=1e-9)
    by_sev = {}
    for r in sum_rows:
        if r[0] != "ALL":
            by_sev[r[1]] = by_sev.get(r[1], 0.0) + float(r[2])
    for k, sev in enumerate(("H", "M", "L", "NR"), start=1):
        assert float(total[k]) == pytest.approx(by_sev.get(sev, 0.0), abs=1e-9)
    assert sum(float(v) for v in total[1:5]) == pytest.approx(float(total[5]))


def test_longest_and_widest_tables_are_the_extremes(report, run_dir: Path) -> None:
    from csbsr.core.report.runfolder import load_run

    run = load_run(run_dir)
    longest = _read_csv(report.csv["longest"])
    widest = _read_csv(report.csv["widest"])
    assert longest[0][:2] == ["seg_id", "crack_id"]
    lens = [float(r[longest[0].index("len_m")]) for r in longest[1:]]
    assert lens == sorted(lens, reverse=True)
    assert lens[0] == pytest.approx(max(s["len_m"] for s in run.segments))
    wmax = [float(r[widest[0].index("w_max_mm")]) for r in widest[1:]]
    assert wmax[0] == pytest.approx(max(s["w_max_mm"] for s in run.segments
                                        if s["w_max_mm"] is not None))
    top = run.segments[[s["seg_id"] for s in run.segments].index(int(longest[1][0]))]
    assert top["len_m"] == pytest.approx(lens[0])
    assert f"<td class=n>{longest[1][0]}</td>" in report.html.read_text(encoding="utf-8")


def test_zones_share_the_total_length(report, run_dir: Path) -> None:
    from csbsr.core.report.content import auto_grid, zone_statistics
    from csbsr.core.report.runfolder import load_run

    run = load_run(run_dir)
    cells = auto_grid(run)
    assert [c[0] for c in cells[:3]] == ["Z01", "Z02", "Z03"]
    assert len(cells) <= 9
    zones = zone_statistics(run, cells, keep_empty=True)
    assert sum(z.len_m for z in zones) == pytest.approx(run.summary["total_len_m"], rel=1e-6)
    rows = _read_csv(report.csv["zones"])
    assert len(rows) - 1 == len([z for z in zones if z.n_seg])


def test_refuses_to_overwrite_and_cancels_cleanly(run_dir: Path, tmp_path: Path) -> None:
    from csbsr.core.report.html import write_html_report

    out = tmp_path / "r.html"
    out.write_text("user file", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_html_report(run_dir, out)
    assert out.read_text(encoding="utf-8") == "user file"
    fresh = tmp_path / "c.html"
    with pytest.raises(Cancelled):
        write_html_report(run_dir, fresh, progress=RecordingProgress(cancel_at_percent=30))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    with pytest.raises(InvalidInputError, match=r"\.html"):
        write_html_report(run_dir, tmp_path / "r.pdf")


def test_bad_run_folders_say_what_to_do(tmp_path: Path, run_dir: Path) -> None:
    from csbsr.core.report.runfolder import load_run

    with pytest.raises(InvalidInputError, match="csbsr run"):
        load_run(tmp_path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_run(tmp_path / "nope")
    two = tmp_path / "two"
    two.mkdir()
    for stem in ("a", "b"):
        shutil.copy(run_dir / f"{STEM}_cracks.gpkg", two / f"{stem}_cracks.gpkg")
    with pytest.raises(InvalidInputError, match="--stem"):
        load_run(two)
    assert load_run(two, stem="b").stem == "b"


def test_rebuilds_from_the_geopackage_alone(run_dir: Path, tmp_path: Path) -> None:
    """No summary JSON, no run JSON, no orthophoto: the GeoPackage's copy and the rasters."""
    from csbsr.core.report.html import write_html_report
    from csbsr.core.report.runfolder import load_run

    bare = tmp_path / "bare"
    bare.mkdir()
    for suffix in ("_cracks.gpkg", "_prob.tif"):
        shutil.copy(run_dir / f"{STEM}{suffix}", bare / f"{STEM}{suffix}")
    run = load_run(bare)
    assert run.summary["total_len_m"] == pytest.approx(_summary(run_dir)["total_len_m"])
    assert run.background == "prob"
    assert any("_run.json is missing" in n for n in run.notes)
    res = write_html_report(bare, tmp_path / "bare.html", write_csv=False)
    assert res.csv == {}
    assert "_run.json is missing" in res.html.read_text(encoding="utf-8")


def test_cli_report(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from csbsr.core.cli import main

    out = tmp_path / "cli.html"
    assert main(["report", str(run_dir), "--out", str(out), "--top", "3"]) == 0
    assert out.is_file() and (tmp_path / "cli_longest.csv").is_file()
    assert len(_read_csv(tmp_path / "cli_longest.csv")) == 4
    assert main(["report", str(run_dir), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["report", str(run_dir), "--out", str(out), "--overwrite"]) == 0
