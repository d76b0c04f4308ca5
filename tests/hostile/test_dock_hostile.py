"""Hostile inputs to the dock panel, in the real QGIS (pytest-qgis): what the panel says (its
GSD, model and status lines, the run's messages), whether Run is offered, that no Python
exception escapes (QGIS's message log, ``sys.excepthook``), that nothing appears or changes
beside the orthophoto, and that earlier results in the output folder survive byte-identical.

The plugin fixtures (engine wrapper, provider, tiny model) are not visible from here: the
plugin conftest is loaded by path and its helpers reused, as ``test_qgis_process_hostile.py``
does. Inputs are crops of real orthophotos, one per case folder.

``.aux.xml``: QGIS computes renderer statistics for every layer a user adds, and GDAL writes
them beside the file when the layer closes. The strict snapshot is compared while the layer is
loaded (the dock and its run must add nothing); after the layer is removed, an ``.aux.xml``
that then appears is QGIS's own doing and only noted (``case.notes``).
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from conftest import copy_run, partials
from inputs import _rewrite, sample_crop, snapshot

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
ORTHO_DIR = REPO.parent / "shared" / "data" / "ortho"
ODM_50CM = ORTHO_DIR / "webodm_odm_orthophoto_50cm.tif"

_spec = importlib.util.spec_from_file_location("plugin_conftest_dock",
                                               REPO / "tests" / "plugin" / "conftest.py")
_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_plugin)

#: the name of the earlier run kept in every case's output folder
EARLIER = "good_20240101-120000"


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``CSBSR_ENGINE``: this checkout's engine, run with the test Python."""
    import os

    wrapper = _plugin.write_engine_wrapper(tmp_path_factory.mktemp("engine"))
    old = os.environ.get("CSBSR_ENGINE")
    os.environ["CSBSR_ENGINE"] = str(wrapper)
    yield wrapper
    if old is None:
        os.environ.pop("CSBSR_ENGINE", None)
    else:
        os.environ["CSBSR_ENGINE"] = old


@pytest.fixture()
def provider(qgis_processing: None) -> Any:
    """The csbsr provider in the session's processing registry."""
    from csbsr.csbsr_plugin.provider import CsbsrProvider
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    if registry.providerById("csbsr") is None:
        _plugin._PROVIDERS.append(CsbsrProvider())
        assert registry.addProvider(_plugin._PROVIDERS[-1])
    return registry.providerById("csbsr")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_cfg: Any) -> Path:
    """A tiny random model (any resolution), fast on CPU."""
    if not _plugin.REAL_ORTHO.exists():
        pytest.skip("../shared/data/ortho is not available")
    import torch

    torch.set_num_threads(1)
    return _plugin._calibrated_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors",
                                          tiny_cfg("thin_unet"))


@pytest.fixture()
def project(qgis_app: Any) -> Any:
    """The project, cleared after the case (layers, tree and the panel's stored settings)."""
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
    QgsProject.instance().clear()


@pytest.fixture()
def escaped(monkeypatch: pytest.MonkeyPatch, qgis_app: Any) -> List[str]:
    """Python exceptions that escaped into Qt (``sys.excepthook``) and Python errors or
    tracebacks in QGIS's message log, during the case."""
    import traceback

    from qgis.core import QgsApplication

    found: List[str] = []

    def hook(kind: Any, value: Any, tb: Any) -> None:
        found.append("".join(traceback.format_exception(kind, value, tb)))

    def logged(message: str, tag: str, level: Any) -> None:
        if tag == "Python error" or "Traceback" in message:
            found.append(f"[{tag}] {message}")

    monkeypatch.setattr(sys, "excepthook", hook)
    log = QgsApplication.messageLog()
    log.messageReceived.connect(logged)
    yield found
    log.messageReceived.disconnect(logged)


@pytest.fixture()
def dock(project: Any, qgis_iface: Any, provider: Any, escaped: List[str]) -> Any:
    from csbsr.csbsr_plugin.dock import CsbsrDock

    widget = CsbsrDock(qgis_iface)
    yield widget
    if widget.task is not None:  # a failed case must not leave its run to the next one
        widget.cancel()
        _plugin.wait_for_signal(widget.runFinished, 60)
    widget.shutdown()
    widget.deleteLater()


@pytest.fixture()
def runs(tmp_path: Path, earlier_run: Path) -> Path:
    """The output folder of the case, holding one complete earlier run."""
    folder = tmp_path / "runs"
    folder.mkdir()
    copy_run(earlier_run, folder / EARLIER)
    (folder / "notes.txt").write_text("inspector's notes, not the plugin's\n", encoding="utf-8")
    return folder




# ---------------------------------------------------------------------------- inputs
def _good(path: Path, size: int = 96) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return sample_crop(path, size=size)


def _scratch_good(tmp: Path) -> Path:
    """A good crop outside the case's input folder (``tmp/in``, made here)."""
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    return _good(tmp / "scratch" / "good.tif")


def _nocrs(tmp: Path) -> Path:
    return _rewrite(_scratch_good(tmp), tmp / "in" / "nocrs.tif", crs=None)


def _webmerc(tmp: Path) -> Path:
    from rasterio.transform import from_origin

    return _rewrite(_scratch_good(tmp), tmp / "in" / "webmerc.tif", crs="EPSG:3857",
                    transform=from_origin(1.5e6, 6.0e6, 0.008, 0.008))


def _one_band(tmp: Path) -> Path:
    import rasterio

    good = _scratch_good(tmp)
    with rasterio.open(good) as src:
        data = src.read([1])
    return _rewrite(good, tmp / "in" / "one_band.tif", data=data)


def _coarse(tmp: Path) -> Path:
    """A 96 x 96 px crop of a real 50 cm orthophoto (WebODM, RGBA, EPSG:32615)."""
    import rasterio
    from rasterio.windows import Window

    if not ODM_50CM.exists():
        pytest.skip("../shared/data/ortho is not available")
    out = tmp / "in" / "odm_50cm.tif"
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(ODM_50CM) as src:
        win = Window(60, 60, 96, 96)
        prof = src.profile.copy()
        prof.update(width=96, height=96, transform=src.window_transform(win))
        with rasterio.open(out, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return out


def _add_layer(path: Path, name: str = "ortho") -> Any:
    from qgis.core import QgsProject, QgsRasterLayer

    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid(), path
    QgsProject.instance().addMapLayer(layer)
    return layer


def _bad_card_model(tmp: Path, model: Path) -> Path:
    """A copy of ``model`` whose card recommends threshold 7 (not a probability)."""
    import json

    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    dst = folder / "bad_card.safetensors"
    shutil.copyfile(model, dst)
    card = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    card["recommended_threshold"] = 7
    dst.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    return dst


# ---------------------------------------------------------------------------- checks
def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def _panel(dock: Any) -> str:
    """Everything the panel says in words (notes, status, run messages)."""
    return "\n".join(_plain(w.text()) for w in (dock.gsd_label, dock.card_label,
                                               dock.status_label)) + "\n" + \
        dock.log_view.toPlainText()


def _record(case: Any, dock: Any, rc: str, message: str = "") -> None:
    case.rc = rc
    case.err = ("csbsr: " + message.strip().splitlines()[0]) if message.strip() else ""


def _run_to_end(dock: Any, timeout_s: float = 180.0) -> Optional[bool]:
    """Press Run (when offered) and wait; None when the panel did not start a run."""
    if not dock.run_button.isEnabled() or not dock.run():
        return None
    done = _plugin.wait_for_signal(dock.runFinished, timeout_s)
    assert done, "the run did not finish: " + _panel(dock)
    return done[0]


def _check_aftermath(case: Any, escaped: List[str], inputs_dir: Path, inputs_before: Dict,
                     runs: Path, runs_before: Dict, new_ok: bool = False,
                     layer_closed: bool = False) -> None:
    """No exception escaped; nothing changed beside the input; earlier results kept; no
    partial file; no new run folder unless ``new_ok``. ``layer_closed``: the user's layer was
    removed in the case, so an ``.aux.xml`` of QGIS's statistics may have appeared (noted)."""
    assert not escaped, "\n".join(escaped)[-3000:]
    now = snapshot(inputs_dir)
    if layer_closed:
        aux = sorted(k for k in set(now) - set(inputs_before) if k.endswith(".aux.xml"))
        now = {k: v for k, v in now.items() if k not in aux}
        if aux:
            case.notes.append("QGIS wrote .aux.xml when the user's layer closed")
    assert now == inputs_before, \
        f"files beside the input changed: {sorted(p.name for p in inputs_dir.iterdir())}"
    after = snapshot(runs)
    lost = sorted(k for k, v in runs_before.items() if after.get(k) != v)
    assert not lost, f"earlier results lost or modified: {lost}"
    if not new_ok:
        new = sorted(set(after) - set(runs_before))
        assert not new, f"files of the failed run left: {new}"
        assert sorted(p.name for p in runs.iterdir()) == sorted(
            {k.split("/")[0] for k in runs_before}), "a new folder appeared"
    left = partials(runs)
    assert not left, f"partial files left: {left}"
    case.notes.append("earlier results byte-identical, 0 partial files")


def _note_aux_after_close(case: Any, inputs_dir: Path, inputs_before: Dict) -> None:
    """Remove the project's layers; an ``.aux.xml`` written then is QGIS's (noted)."""
    from qgis.core import QgsApplication, QgsProject

    QgsProject.instance().removeAllMapLayers()
    QgsApplication.processEvents()
    after = snapshot(inputs_dir)
    extra = sorted(set(after) - set(inputs_before))
    assert all(k.endswith(".aux.xml") for k in extra), extra
    assert {k: v for k, v in after.items() if k in inputs_before} == inputs_before
    if extra:
        case.notes.append("QGIS wrote .aux.xml when its layer closed")


# ---------------------------------------------------------------------------- cases
PRE_RUN = [
    # id, builder of the input, what, words the panel must say before Run
    ("nocrs", _nocrs, "a raster without CRS", r"\bCRS\b|coordinate reference"),
    ("webmerc", _webmerc, "a Web Mercator (EPSG:3857) raster", r"Mercator|3857"),
    ("one_band", _one_band, "a 1-band raster", r"\b(1|one)[- ]band|3 bands|RGB"),
]


@pytest.mark.parametrize("build,what,words", [c[1:] for c in PRE_RUN],
                         ids=[f"dock-prerun-{c[0]}" for c in PRE_RUN])
def test_unusable_raster_is_said_before_run(build: Callable, what: str, words: str, case: Any,
                                            dock: Any, escaped: List[str],
                                            tmp_path: Path) -> None:
    case.describe("dock", what, "the panel names the problem as soon as the layer is chosen; "
                  "Run disabled")
    path = build(tmp_path)
    dock.raster_combo.setLayer(_add_layer(path))
    _record(case, dock, "Run enabled" if dock.run_button.isEnabled() else "Run disabled",
            _plain(dock.gsd_label.text()))
    assert not escaped, escaped
    assert re.search(words, _plain(dock.gsd_label.text()) + _plain(dock.status_label.text()),
                     re.I), _panel(dock)
    assert not dock.run_button.isEnabled()


RUN_FAILS = [
    ("nocrs", _nocrs, "a raster without CRS", r"no CRS"),
    ("webmerc", _webmerc, "a Web Mercator (EPSG:3857) raster", r"Mercator"),
    ("one_band", _one_band, "a 1-band raster", r"3 bands"),
]


@pytest.mark.parametrize("build,what,match", [c[1:] for c in RUN_FAILS],
                         ids=[f"dock-run-{c[0]}" for c in RUN_FAILS])
def test_unusable_raster_run_fails_cleanly(build: Callable, what: str, match: str, case: Any,
                                           dock: Any, escaped: List[str], runs: Path,
                                           tmp_path: Path) -> None:
    case.describe("dock", f"{what}, Run pressed, output folder with earlier results",
                  f"'{match}' in the panel, no traceback, nothing written, earlier results kept")
    path = build(tmp_path)
    layer = _add_layer(path)
    dock.raster_combo.setLayer(layer)
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1}
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    ok = _run_to_end(dock)
    log = dock.log_view.toPlainText()
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok], log)
    if ok is None:  # refused before running: the panel must say why
        assert re.search(match, _panel(dock), re.I), _panel(dock)
    else:
        assert ok is False, _panel(dock)
        assert "failed" in _plain(dock.status_label.text())
        hits = [ln for ln in log.splitlines() if re.search(match, ln, re.I)]
        assert len(hits) == 1, log
        assert "Traceback" not in log and "Error:" not in log.split(hits[0])[0], log
    assert dock.task is None and not dock.cancel_button.isEnabled()
    assert dock.run_button.isEnabled() or ok is None
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before)
    _note_aux_after_close(case, path.parent, inputs_before)


def test_coarse_orthophoto_gsd_line_and_refusal(case: Any, dock: Any, escaped: List[str],
                                               runs: Path, tmp_path: Path) -> None:
    case.describe("dock", "a real 50 cm/px orthophoto (WebODM crop), shipped model",
                  "GSD line: cracks cannot be seen, the run will be refused; the run is "
                  "refused cleanly")
    path = _coarse(tmp_path)
    dock.raster_combo.setLayer(_add_layer(path))
    dock.model_widget.setFilePath("")  # the shipped model: 8 mm/px
    dock.out_widget.setFilePath(str(runs))
    gsd = _plain(dock.gsd_label.text())
    assert "cannot be seen at 500 mm/px" in gsd, gsd
    assert "will be refused" in gsd and "Keep the orthophoto" in gsd, gsd
    assert "#b00" in dock.gsd_label.text()  # the refused colour
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    ok = _run_to_end(dock)
    log = dock.log_view.toPlainText()
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok], log or gsd)
    assert ok is not True, "a 50 cm orthophoto was inspected at 8 mm/px"
    if ok is False:
        assert re.search(r"too coarse", log, re.I), log
        assert "Traceback" not in log
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before)
    _note_aux_after_close(case, path.parent, inputs_before)


def test_output_folder_that_is_a_file_is_said_before_run(case: Any, dock: Any,
                                                         escaped: List[str],
                                                         tmp_path: Path) -> None:
    case.describe("dock", "output folder is a regular file", "the panel says so; Run disabled")
    path = _good(tmp_path / "in" / "good.tif")
    dock.raster_combo.setLayer(_add_layer(path))
    out = tmp_path / "results.txt"
    out.write_text("not a folder\n", encoding="utf-8")
    dock.out_widget.setFilePath(str(out))
    _record(case, dock, "Run enabled" if dock.run_button.isEnabled() else "Run disabled",
            _plain(dock.status_label.text()))
    assert not escaped, escaped
    assert not dock.run_button.isEnabled()
    assert re.search(r"results\.txt.*(file|folder)", _panel(dock), re.I), _panel(dock)


def test_output_folder_that_is_a_file_run_fails_cleanly(case: Any, dock: Any,
                                                        escaped: List[str],
                                                        tmp_path: Path) -> None:
    case.describe("dock", "output folder is a regular file, Run pressed",
                  "one message naming the file, the file unchanged, nothing beside the input")
    path = _good(tmp_path / "in" / "good.tif")
    dock.raster_combo.setLayer(_add_layer(path))
    holder = tmp_path / "out"
    holder.mkdir()
    out = holder / "results.txt"
    out.write_text("not a folder\n", encoding="utf-8")
    dock.out_widget.setFilePath(str(out))
    dock.advanced = {"PRECISION": 1}
    inputs_before, out_before = snapshot(path.parent), snapshot(holder)
    ok = _run_to_end(dock)
    log = dock.log_view.toPlainText()
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok],
            log or _plain(dock.status_label.text()))
    assert ok is not True, _panel(dock)
    assert re.search(r"results\.txt", _panel(dock)), _panel(dock)
    assert "Traceback" not in _panel(dock)
    _check_aftermath(case, escaped, path.parent, inputs_before, holder, out_before)
    assert out.read_text(encoding="utf-8") == "not a folder\n"


def test_bad_model_card_is_said_before_run(case: Any, dock: Any, escaped: List[str],
                                           tiny_model: Path, tmp_path: Path) -> None:
    case.describe("dock", "a model card with recommended_threshold 7",
                  "the Model note names recommended_threshold; Run disabled")
    path = _good(tmp_path / "in" / "good.tif")
    dock.raster_combo.setLayer(_add_layer(path))
    dock.model_widget.setFilePath(str(_bad_card_model(tmp_path, tiny_model)))
    _record(case, dock, "Run enabled" if dock.run_button.isEnabled() else "Run disabled",
            _plain(dock.card_label.text()))
    assert not escaped, escaped
    assert "recommended_threshold" in _plain(dock.card_label.text()), _panel(dock)
    assert not dock.run_button.isEnabled()


def test_bad_model_card_run_keeps_earlier_results(case: Any, dock: Any, escaped: List[str],
                                                  runs: Path, tiny_model: Path,
                                                  tmp_path: Path) -> None:
    case.describe("dock", "a model card with recommended_threshold 7, output folder with "
                  "earlier results", "the run fails with one message naming "
                  "recommended_threshold; earlier results byte-identical")
    path = _good(tmp_path / "in" / "good.tif")
    dock.raster_combo.setLayer(_add_layer(path))
    dock.model_widget.setFilePath(str(_bad_card_model(tmp_path, tiny_model)))
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1}
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    ok = _run_to_end(dock)
    log = dock.log_view.toPlainText()
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok],
            log or _plain(dock.card_label.text()))
    assert ok is not True, _panel(dock)
    if ok is False:
        hits = [ln for ln in log.splitlines() if "recommended_threshold" in ln]
        assert len(hits) == 1 and "Traceback" not in log, log
    else:
        assert "recommended_threshold" in _panel(dock), _panel(dock)
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before)


def test_two_runs_in_one_second_keep_the_first(case: Any, dock: Any, escaped: List[str],
                                               runs: Path, tiny_model: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """The panel names run folders ``<stem>_<YYYYmmdd-HHMMSS>``: a second run of one
    orthophoto in the same second (the first one refused at once, Run pressed again) gets
    ``-2`` rather than the folder of the first one's results."""
    import csbsr.csbsr_plugin.dock as dock_module

    case.describe("dock", "the run folder the panel names already holds earlier results "
                  "(two runs in one second)", "earlier results byte-identical; the run "
                  "written to a fresh folder")
    real = time.strftime
    monkeypatch.setattr(dock_module.time, "strftime", lambda fmt, *a: "20240101-120000"
                        if fmt == "%Y%m%d-%H%M%S" else real(fmt, *a))
    path = _good(tmp_path / "in" / "good.tif")
    dock.raster_combo.setLayer(_add_layer(path))
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1}
    assert (runs / EARLIER).is_dir()  # the name a clock-second-only scheme would pick
    assert Path(dock.build_parameters()["OUTPUT_FOLDER"]) == runs / f"{EARLIER}-2"
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    ok = _run_to_end(dock)
    log = dock.log_view.toPlainText()
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok],
            log or _plain(dock.status_label.text()))
    assert "Traceback" not in _panel(dock)
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before,
                     new_ok=bool(ok))
    assert ok, log


def test_cancel_during_detection_leaves_nothing(case: Any, dock: Any, escaped: List[str],
                                                runs: Path, tiny_model: Path,
                                                tmp_path: Path) -> None:
    case.describe("dock", "Cancel pressed while the engine detects (256 px, 32 px tiles), "
                  "output folder with earlier results", "'cancelled', no new folder, no "
                  "partial file, earlier results byte-identical")
    path = _good(tmp_path / "in" / "good.tif", size=256)
    dock.raster_combo.setLayer(_add_layer(path))
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1, "TILE_PX": 32}
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    assert dock.run()
    events: list = []
    dock.feedback.engineEvent.connect(events.append)
    from qgis.core import QgsApplication

    end = time.monotonic() + 120
    while dock.task is not None and time.monotonic() < end and not any(
            e.get("stage") == "detect" and e.get("event") == "progress" for e in events):
        QgsApplication.processEvents()
        time.sleep(0.01)
    assert dock.task is not None, "the run ended before detection was seen: " + _panel(dock)
    new_dirs = [p for p in runs.iterdir() if p.name not in (EARLIER, "notes.txt")]
    case.notes.append(f"cancelled with {len(new_dirs)} new folder(s) present")
    dock.cancel()
    done = _plugin.wait_for_signal(dock.runFinished, 120)
    _record(case, dock, f"runFinished {done}", _plain(dock.status_label.text()))
    assert done == [False], _panel(dock)
    assert "cancelled" in dock.status_label.text() and "failed" not in dock.status_label.text()
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before)


def test_unicode_and_space_paths_run(case: Any, dock: Any, escaped: List[str],
                                     tiny_model: Path, earlier_run: Path,
                                     tmp_path: Path) -> None:
    from qgis.core import QgsProject

    case.describe("dock", "orthophoto and output folder with spaces, accents and CJK in "
                  "their paths", "runs; layers added; nothing beside the input")
    folder = tmp_path / "Straße Prüfung 東京"
    path = _good(folder / "ortho é 1.tif")
    runs = tmp_path / "résultats d'été"
    runs.mkdir()
    copy_run(earlier_run, runs / EARLIER)
    dock.raster_combo.setLayer(_add_layer(path, "ortho é 1"))
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1}
    inputs_before, runs_before = snapshot(folder), snapshot(runs)
    ok = _run_to_end(dock)
    _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok],
            _plain(dock.status_label.text()))
    assert ok is True, _panel(dock)
    assert "crack segments" in dock.status_label.text()
    new = [p for p in runs.iterdir() if p.name != EARLIER]
    assert len(new) == 1 and new[0].name.startswith("ortho é 1_"), new
    assert dock.last_layers and all(QgsProject.instance().mapLayer(x.id())
                                    for x in dock.last_layers)
    assert all(x.isValid() for x in dock.last_layers)
    _check_aftermath(case, escaped, folder, inputs_before, runs, runs_before, new_ok=True)
    _note_aux_after_close(case, folder, inputs_before)


def test_layer_removed_while_the_dock_holds_it(case: Any, dock: Any, escaped: List[str],
                                               runs: Path, tmp_path: Path) -> None:
    from qgis.core import QgsApplication, QgsProject

    case.describe("dock", "the chosen orthophoto removed from the project",
                  "no crash; Run disabled; pressing it says to choose an orthophoto")
    path = _good(tmp_path / "in" / "good.tif")
    layer = _add_layer(path)
    dock.raster_combo.setLayer(layer)
    dock.out_widget.setFilePath(str(runs))
    assert dock.run_button.isEnabled()
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    QgsProject.instance().removeMapLayer(layer.id())
    QgsApplication.processEvents()
    assert dock.raster_combo.currentLayer() is None
    assert not dock.run_button.isEnabled()
    assert dock.gsd_label.text() == ""  # no stale resolution of a removed layer
    assert not dock.run()
    _record(case, dock, "Run disabled", _plain(dock.status_label.text()))
    assert "choose an orthophoto" in dock.status_label.text()
    assert dock.task is None
    _check_aftermath(case, escaped, path.parent, inputs_before, runs, runs_before,
                     layer_closed=True)


def test_layer_removed_during_a_run(case: Any, dock: Any, escaped: List[str], runs: Path,
                                    tiny_model: Path, tmp_path: Path) -> None:
    from qgis.core import QgsApplication, QgsProject

    case.describe("dock", "the orthophoto removed from the project while the engine runs",
                  "no traceback; the run ends (its results loaded) or fails with a message; "
                  "earlier results kept")
    path = _good(tmp_path / "in" / "good.tif")
    layer = _add_layer(path)
    dock.raster_combo.setLayer(layer)
    dock.model_widget.setFilePath(str(tiny_model))
    dock.out_widget.setFilePath(str(runs))
    dock.advanced = {"PRECISION": 1}
    inputs_before, runs_before = snapshot(path.parent), snapshot(runs)
    assert dock.run()
    events: list = []
    dock.feedback.engineEvent.connect(events.append)
    end = time.monotonic() + 120
    while dock.task is not None and not events and time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.01)
    assert dock.task is not None, "the run ended before the engine spoke: " + _panel(dock)
    QgsProject.instance().removeMapLayer(layer.id())
    done = _plugin.wait_for_signal(dock.runFinished)
    _record(case, dock, f"runFinished {done}", dock.log_view.toPlainText() or
            _plain(dock.status_label.text()))
    assert done, _panel(dock)
    assert dock.task is None and not dock.cancel_button.isEnabled()
    # what must hold however the run ended, then what the product gets wrong
    # (the engine's part ends before the layer is used again: its complete run folder may
    # stay even when the plugin's part then fails)
    _check_aftermath(case, [], path.parent, inputs_before, runs, runs_before, new_ok=True,
                     layer_closed=True)
    assert not escaped, "\n".join(escaped)[-3000:]
    assert "Traceback" not in _panel(dock) and "RuntimeError" not in _panel(dock), _panel(dock)
    if done[0]:
        assert dock.last_layers and all(x.isValid() for x in dock.last_layers)
    else:
        assert "failed" in dock.status_label.text() and dock.log_view.toPlainText().strip()


def test_run_outputs_do_not_become_the_orthophoto(case: Any, dock: Any, escaped: List[str],
                                                  runs: Path, tmp_path: Path) -> None:
    """The end of a run whose orthophoto was removed meanwhile (``_on_executed`` adds the
    run's layers), without the engine: an earlier complete run folder is added."""
    from csbsr.core.layout import RunLayout
    from qgis.core import QgsApplication, QgsProject

    case.describe("dock", "the run's layers added after its orthophoto was removed",
                  "the run's outputs are not offered as the orthophoto; Run disabled")
    path = _good(tmp_path / "in" / "good.tif")
    layer = _add_layer(path)
    dock.raster_combo.setLayer(layer)
    QgsProject.instance().removeMapLayer(layer.id())
    QgsApplication.processEvents()
    added = dock.add_results(RunLayout.for_input(str(path), str(runs / EARLIER)))
    QgsApplication.processEvents()
    chosen = dock.raster_combo.currentLayer()
    _record(case, dock, "Run enabled" if dock.run_button.isEnabled() else "Run disabled",
            f"orthophoto now: {chosen.name() if chosen else None}")
    assert added and not escaped, escaped
    assert chosen is None or chosen not in added, chosen.name()
    assert not dock.run_button.isEnabled()


def test_vector_layer_cannot_be_chosen(case: Any, dock: Any, escaped: List[str],
                                       tmp_path: Path) -> None:
    from qgis.core import QgsProject, QgsVectorLayer

    case.describe("dock", "a vector layer offered as the orthophoto",
                  "not in the orthophoto list; Run disabled")
    vec = QgsVectorLayer("Polygon?crs=EPSG:32633", "polygons", "memory")
    QgsProject.instance().addMapLayer(vec)
    dock.raster_combo.setLayer(vec)
    _record(case, dock, "Run disabled" if not dock.run_button.isEnabled() else "Run enabled")
    assert dock.raster_combo.currentLayer() is None
    names = [dock.raster_combo.itemText(i) for i in range(dock.raster_combo.count())]
    assert "polygons" not in names, names
    assert not dock.run_button.isEnabled()
    assert not dock.run() and "choose an orthophoto" in dock.status_label.text()
    assert not escaped, escaped


def test_web_tile_raster_is_refused_with_a_fix(case: Any, dock: Any, escaped: List[str],
                                               runs: Path) -> None:
    from qgis.core import QgsProject, QgsRasterLayer

    case.describe("dock", "an XYZ web tile layer (not a file)",
                  "'not a file: export it to GeoTIFF', no run started")
    xyz = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png"
                         "&zmax=19&zmin=0", "tiles", "wms")
    if not xyz.isValid():
        pytest.skip("the wms provider cannot make an XYZ layer here")
    QgsProject.instance().addMapLayer(xyz)
    dock.raster_combo.setLayer(xyz)
    runs_before = snapshot(runs)
    started = dock.run()
    _record(case, dock, "started" if started else "not started",
            _plain(dock.status_label.text()))
    assert not started and dock.task is None
    assert re.search(r"not a file: export it to GeoTIFF", _plain(dock.status_label.text())), \
        _panel(dock)
    assert not escaped, escaped
    assert snapshot(runs) == runs_before


def test_in_memory_gdal_raster_is_refused_with_a_fix(case: Any, dock: Any,
                                                     escaped: List[str], runs: Path,
                                                     tmp_path: Path) -> None:
    from osgeo import gdal

    case.describe("dock", "a GDAL in-memory raster (/vsimem/)", "refused with 'export it to "
                  "GeoTIFF' (before or after Run), nothing written")
    good = _good(tmp_path / "scratch" / "good.tif")
    mem = "/vsimem/csbsr_dock_hostile.tif"
    gdal.FileFromMemBuffer(mem, good.read_bytes())
    try:
        layer = _add_layer(Path(mem), "in memory")
        dock.raster_combo.setLayer(layer)
        dock.out_widget.setFilePath(str(runs))
        dock.advanced = {"PRECISION": 1}
        runs_before = snapshot(runs)
        ok = _run_to_end(dock)
        log = dock.log_view.toPlainText()
        _record(case, dock, {None: "not started", True: "done", False: "failed"}[ok],
                log or _plain(dock.status_label.text()))
        assert ok is not True, _panel(dock)
        assert "Traceback" not in _panel(dock)
        assert not escaped, escaped
        after = snapshot(runs)
        assert {k: v for k, v in after.items() if k in runs_before} == runs_before
        assert set(after) == set(runs_before), sorted(set(after) - set(runs_before))
        assert re.search(r"export it to GeoTIFF|not a file", _panel(dock)), _panel(dock)
    finally:
        from qgis.core import QgsProject

        QgsProject.instance().removeAllMapLayers()
        gdal.Unlink(mem)
