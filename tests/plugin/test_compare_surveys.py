"""``csbsr:comparesurveys`` on a real re-inspection pair (``scripts/make_change_pair.py``: two
degraded orthophotos of real cracked concrete, the later one shifted and rotated, with planted
new, extended, widened and repaired cracks; run folders vectorized from the truth labels):
through QGIS's own command line, with the PDF change report; bad inputs refused with one
message and nothing written; and the dock's "Compare with an earlier inspection…" entry."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List

import pytest

pytestmark = pytest.mark.qgis

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
REPO = Path(__file__).resolve().parents[2]
GSD_MM = 8.0  # the pair's orthophoto GSD
NOISE = ("QStandardPaths", "DeprecationWarning", "Warning:", "Qt WebEngine")


def _run(env: dict, *params: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QGIS_PROCESS), "run", "csbsr:comparesurveys", *params],
                          env=env, capture_output=True, text=True, timeout=180)


def _messages(res: subprocess.CompletedProcess) -> List[str]:
    """The distinct error messages (qgis_process echoes one error several times)."""
    lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    lines = [ln[len("ERROR:"):].strip() if ln.startswith("ERROR:") else ln for ln in lines]
    return sorted({ln for ln in lines if not any(n in ln for n in NOISE)})


def test_qgis_process_compares_a_real_pair(change_pair: Path, qgis_process_env: dict,
                                           pair_script: ModuleType, tmp_path: Path) -> None:
    import pyogrio.raw

    runs = change_pair / "truth_runs"
    out = tmp_path / "changes"
    res = _run(qgis_process_env, "--json", "--", f"OLD={runs / 'site_2021'}",
               f"NEW={runs / 'site_2024'}", "CREATE_REPORT=true", f"OUTPUT_FOLDER={out}")
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(res.stdout)
    results: Dict[str, Any] = data["results"]
    for name in ("change.gpkg", "change_summary.json", "change_report.html",
                 "change_report.pdf"):
        assert (out / name).is_file(), name
    assert results["CHANGES"] == f"{out / 'change.gpkg'}|layername=crack_change"
    assert results["REPORT_PDF"] == str(out / "change_report.pdf")
    # the registration figures: in the log and as outputs; the planted shift is 3.8 cm
    log = "\n".join(data["log"]["info"])
    assert "registration site_2021 -> site_2024: SIFT + RANSAC" in log
    assert "residual" in log and "inliers" in log
    assert results["REGISTRATION_TEXT"] in log
    assert 0.0 < results["RESIDUAL_MM"] < GSD_MM
    assert abs(results["SHIFT_CM"] - 3.8) < 0.8 and results["N_INLIERS"] >= 12
    # the layer, opened back: every class present, every planted change found with its class
    truth = json.loads((change_pair / "truth.json").read_text(encoding="utf-8"))
    meta, _fids, _wkb, cols = pyogrio.raw.read(str(out / "change.gpkg"), layer="crack_change")
    classes = list(cols[list(meta["fields"]).index("change")])
    assert set(classes) == {"new", "extended", "widened", "unchanged", "gone"}
    score = pair_script.evaluate(out / "change.gpkg", truth)
    assert score["all_found"], score["changes"]
    for c in ("new", "extended", "widened", "gone"):
        planted = sum(1 for ch in truth["changes"] if ch["class"] == c)
        assert results[f"N_{c.upper()}"] >= planted, c
    # the PDF lays out the engine's content: map, classes, registration, largest changes
    text = subprocess.run(["pdftotext", "-layout", str(out / "change_report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for words in ("Crack change report", "New crack", "Extended (longer)", "Widened",
                  "Gone (repaired, sealed or missed)", "Registration", "SIFT + RANSAC",
                  "Residual", "Uncertainty model", "Largest changes", "page 2 of 2"):
        assert words in text, words
    summary = json.loads((out / "change_summary.json").read_text(encoding="utf-8"))
    assert f"{summary['pairs'][0]['registration']['rmse_mm']:.2f}" in text


def _moved_run(change_pair: Path, pair_script: ModuleType, folder: Path) -> Path:
    """The later run of the pair moved 100 m east (rasters and lines): no overlap."""
    import rasterio
    from affine import Affine

    for name in ("site_2024.tif", "site_2024_truth.tif"):
        with rasterio.open(change_pair / name) as src:
            profile, data, t = src.profile, src.read(), src.transform
        profile.update(transform=Affine(t.a, t.b, t.c + 100.0, t.d, t.e, t.f))
        with rasterio.open(folder / name, "w", **profile) as dst:
            dst.write(data)
    return pair_script.truth_run(folder / "site_2024.tif", folder / "site_2024_truth.tif",
                                 folder / "moved_run")


@pytest.mark.parametrize("case,words", [
    ("not a run", ("holds no finished run", "output folder")),
    ("no overlap", ("do not overlap", "same site")),
])
def test_bad_inputs_give_one_message_and_write_nothing(
        case: str, words: tuple, change_pair: Path, pair_script: ModuleType,
        qgis_process_env: dict, tmp_path: Path) -> None:
    old = change_pair / "truth_runs" / "site_2021"
    if case == "not a run":
        new = tmp_path / "notes"
        new.mkdir()
        (new / "readme.txt").write_text("not an inspection\n", encoding="utf-8")
    else:
        (tmp_path / "far").mkdir()
        new = _moved_run(change_pair, pair_script, tmp_path / "far")
    out = tmp_path / "out" / "changes"
    res = _run(qgis_process_env, "--", f"OLD={old}", f"NEW={new}", f"OUTPUT_FOLDER={out}")
    assert res.returncode != 0
    messages = _messages(res)
    assert len(messages) == 1, messages
    for w in words:
        assert w in messages[0], messages[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert not (tmp_path / "out").exists()  # nor an empty output folder


# ------------------------------------------------------------------------------- the dock



def test_dock_compares_the_current_result_with_an_earlier_one(wait_for,
        dock, change_pair: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from csbsr.core.layout import RunLayout
    from csbsr.csbsr_plugin import dock_compare
    from qgis.core import QgsProject

    runs = tmp_path / "runs"
    shutil.copytree(change_pair / "truth_runs", runs)
    button = dock.compare_button
    assert button.text() == "Compare with an earlier inspection…" and button.isEnabled()
    asked: list = []

    def pick(_parent, title, start=""):
        asked.append(title)
        return str(runs / "site_2021")

    monkeypatch.setattr(dock_compare.QFileDialog, "getExistingDirectory", pick)
    dock.last_run = RunLayout(runs / "site_2024", "site_2024")  # the current result
    dock.out_widget.setFilePath(str(tmp_path / "results"))
    dock.report_check.setChecked(False)
    button.click()  # the button is wired: it asks for the earlier folder and starts
    assert len(asked) == 1 and "earlier inspection" in asked[0]
    assert dock.comparer.task is not None and not button.isEnabled()
    assert dock.cancel_button.isEnabled()
    done = wait_for(dock.comparer.finished)
    assert done and done[0] is not None, dock.status_label.text() + dock.log_view.toPlainText()
    layer = done[0]
    try:
        assert QgsProject.instance().mapLayer(layer.id()) is layer
        assert layer.name() == "crack changes site_2021 → site_2024"
        assert layer.renderer().type() == "categorizedSymbol"
        assert [c.value() for c in layer.renderer().categories()] == [
            "new", "extended", "widened", "unchanged", "gone"]
        assert QgsProject.instance().layerTreeRoot().children()[0].layerId() == layer.id()
        assert "2 new" in dock.status_label.text() and "HTML report</a>" in \
            dock.status_label.text()
        assert "registration site_2021 -> site_2024" in dock.log_view.toPlainText()
        assert button.isEnabled() and not dock.cancel_button.isEnabled()
        outputs = list((tmp_path / "results").iterdir())
        assert len(outputs) == 1 and outputs[0].name.startswith("compare_site_2021_site_2024")
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_toolbox_run_loads_the_change_layer_styled(provider, change_pair: Path,
                                                   tmp_path: Path) -> None:
    """In QGIS (toolbox, batch): 'Open the change layer when done' loads it, styled by class
    and named after the two inspections; the registration figures are outputs."""
    import processing
    from qgis.core import QgsProject

    runs = change_pair / "truth_runs"
    try:
        res = processing.runAndLoadResults("csbsr:comparesurveys", {
            "OLD": str(runs / "site_2021"), "NEW": str(runs / "site_2024"),
            "OUTPUT_FOLDER": str(tmp_path / "changes")})
        assert res["N_NEW"] >= 2 and res["N_INLIERS"] >= 12
        assert res["REGISTRATION_TEXT"].startswith("registration site_2021 -> site_2024")
        layers = QgsProject.instance().mapLayersByName("crack changes site_2021 → site_2024")
        assert len(layers) == 1
        assert layers[0].renderer().type() == "categorizedSymbol"
        assert "REPORT_PDF" not in res or not res["REPORT_PDF"]
    finally:
        QgsProject.instance().removeAllMapLayers()
