"""Hostile inputs through QGIS's own command line (``qgis_process.bin run csbsr:...``): no
traceback, a message naming the problem, nothing written beside the input (no ``.aux.xml``)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
from conftest import copy_run, partials
from inputs import copy_model, shipped_card, snapshot

pytestmark = pytest.mark.qgis
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
REPO = Path(__file__).resolve().parents[2]
if not QGIS_PROCESS.exists():
    pytest.skip("qgis_process.bin is not installed", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("plugin_conftest",
                                               REPO / "tests" / "plugin" / "conftest.py")
_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_plugin)


@pytest.fixture(scope="module")
def qenv(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """A throw-away QGIS profile with the plugin enabled, and the engine of this checkout."""
    tmp = tmp_path_factory.mktemp("qgis")
    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / "csbsr").symlink_to(REPO, target_is_directory=True)
    (tmp / "home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA", "GDAL_DRIVER_PATH", "DISPLAY",
                        "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "PYTHONPATH")}
    env.update(HOME=str(tmp / "home"), QT_QPA_PLATFORM="offscreen",
               QGIS_PLUGINPATH=str(plugins), OMP_NUM_THREADS="1",
               CSBSR_ENGINE=str(_plugin.write_engine_wrapper(tmp)))
    res = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "csbsr"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return env


def _run(qenv: Dict[str, str], alg: str, case: Any, **params: Any) -> subprocess.CompletedProcess:
    res = subprocess.run([str(QGIS_PROCESS), "run", alg, "--",
                          *[f"{k}={v}" for k, v in params.items()]],
                         env=qenv, capture_output=True, text=True, timeout=240)
    case.rc, case.err = res.returncode, res.stdout + res.stderr
    return res


def _bad_card(tmp: Path) -> Path:
    card = shipped_card()
    card["recommended_threshold"] = 7
    return copy_model(tmp / "model", card=card)


CASES = [
    ("qp-text", "csbsr:inspectcracks", "text file named .tif", "text", {}),
    ("qp-corrupt", "csbsr:inspectcracks", "corrupt GeoTIFF", "corrupt", {}),
    ("qp-webmerc", "csbsr:inspectcracks", "Web Mercator raster", "webmerc", {}),
    ("qp-nocrs", "csbsr:detectcracks", "raster without CRS", "nocrs", {}),
    ("qp-rotated", "csbsr:detectcracks", "rotated geotransform", "rotated", {}),
    ("qp-coarse", "csbsr:inspectcracks", "real 15 cm orthophoto (too coarse)", "coarse", {}),
    ("qp-bad-card", "csbsr:inspectcracks", "model card with recommended_threshold 7", "good",
     {"MODEL": _bad_card}),
    ("qp-out-under-file", "csbsr:inspectcracks", "OUTPUT_FOLDER under a regular file", "good",
     {"OUTPUT_FOLDER": lambda tmp: tmp / "f.txt" / "sub"}),
]


@pytest.mark.parametrize("alg,what,inp,extra", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_qgis_process_refuses_cleanly(alg: str, what: str, inp: str, extra: Dict[str, Any],
                                      case: Any, qenv: Dict[str, str], hostile: Dict[str, Path],
                                      tmp_path: Path) -> None:
    case.describe(f"qgis_process {alg}", what, "fails with a message, no traceback, "
                  "nothing beside the input")
    (tmp_path / "f.txt").write_text("a file")
    params: Dict[str, Any] = {"INPUT": hostile[inp], "OUTPUT_FOLDER": tmp_path / "out",
                              "PRECISION": 1}
    params.update({k: v(tmp_path) for k, v in extra.items()})
    inputs_dir = hostile["good"].parent
    before = snapshot(inputs_dir)
    res = _run(qenv, alg, case, **params)
    text = res.stdout + res.stderr
    assert res.returncode != 0, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    assert snapshot(inputs_dir) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    case.notes.append("no .aux.xml, 0 partial files")


def test_qgis_process_runs_without_writing_beside_the_input(case: Any, qenv: Dict[str, str],
                                                            hostile: Dict[str, Path],
                                                            earlier_run: Path,
                                                            tmp_path: Path) -> None:
    case.describe("qgis_process csbsr:inspectcracks", "a good crop into a folder of earlier "
                  "results", "exit 0, no .aux.xml beside the input, no partial file")
    folder = tmp_path / "in"
    folder.mkdir()
    src = folder / "good.tif"
    src.write_bytes(hostile["good"].read_bytes())
    before = snapshot(folder)
    out = copy_run(earlier_run, tmp_path / "out")
    res = _run(qenv, "csbsr:inspectcracks", case, INPUT=src, OUTPUT_FOLDER=out, PRECISION=1,
               CREATE_REPORT="false", OVERWRITE="true")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "Traceback" not in res.stdout + res.stderr
    assert snapshot(folder) == before, sorted(p.name for p in folder.iterdir())
    assert not partials(out)
