"""Issue 16.1, inside the real QGIS desktop executable (under Xvfb): ten inspections in a row in
ONE QGIS process, alternating the dock and the Processing dialog's path, end without a crash;
and QGIS's Python never imports torch, pyproj, rasterio, shapely or pyogrio meanwhile (the
engine runs them in its own process).

QGIS used to crash (SIGSEGV in pyproj, next to QGIS's own PROJ) on the 2nd or 3rd inspection
of a session; the only test inside a QGIS executable ran one job per process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
SESSION = Path(__file__).with_name("qgis_session.py")
QGIS = shutil.which("qgis")
XVFB = shutil.which("xvfb-run")
RUNS = 10
ENGINE_PACKAGES = ("torch", "pyproj", "rasterio", "shapely", "pyogrio")


@pytest.fixture(scope="module")
def sample_crop(tmp_path_factory: pytest.TempPathFactory, sample_ortho: Path) -> Path:
    """A 160 x 160 px window of the shipped sample orthophoto (one 256 px tile)."""
    import rasterio
    from rasterio.windows import Window

    out = tmp_path_factory.mktemp("crop") / "sample_crop.tif"
    with rasterio.open(sample_ortho) as src:
        win = Window(150, 150, 160, 160)
        prof = src.profile.copy()
        prof.update(width=160, height=160, transform=src.window_transform(win))
        with rasterio.open(out, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return out


def run_qgis_session(tmp_path: Path, config: dict, timeout_s: int = 900) -> tuple:
    """Start the QGIS desktop under Xvfb on a throw-away profile with the plugin linked in,
    run ``qgis_session.py`` in it; return (exit code, findings, QGIS's output)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "csbsr").symlink_to(REPO, target_is_directory=True)
    (tmp_path / "home").mkdir()
    cfg = tmp_path / "session.json"
    config = {**config, "result": str(tmp_path / "findings.json")}
    cfg.write_text(json.dumps(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "PYTHONPATH",
                        "QT_QPA_PLATFORM", "DISPLAY", "PROJ_LIB", "PROJ_DATA", "GDAL_DATA")}
    env.update(HOME=str(tmp_path / "home"), QGIS_PLUGINPATH=str(plugins),
               CSBSR_SESSION=str(cfg))
    assert "CSBSR_ENGINE" in env  # the engine: its own Python, not QGIS's
    proc = subprocess.run(
        [XVFB, "-a", "-s", "-screen 0 1600x1000x24", QGIS, "--profiles-path",
         str(tmp_path / "profiles"), "--nologo", "--noversioncheck", "--code", str(SESSION)],
        env=env, capture_output=True, text=True, timeout=timeout_s, cwd=str(tmp_path))
    result = Path(config["result"])
    findings = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
    return proc.returncode, findings, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.skipif(QGIS is None or XVFB is None, reason="needs the qgis desktop and xvfb-run")
def test_ten_inspections_in_one_qgis_process(tmp_path: Path, tiny_model: Path,
                                             sample_crop: Path) -> None:
    code, found, output = run_qgis_session(tmp_path, {
        "ortho": str(sample_crop), "model": str(tiny_model), "out": str(tmp_path / "runs"),
        "runs": RUNS})
    assert found, f"QGIS ended (exit code {code}) before reporting:\n{output}"
    assert not found["errors"], found["errors"]
    assert code == 0, f"QGIS exit code {code} (a crash is negative):\n{output}"
    runs = found["runs"]
    assert len(runs) == RUNS and all(r["ok"] for r in runs), runs
    assert [r["how"] for r in runs] == ["dock", "processing"] * (RUNS // 2)
    # one group per run, named after the orthophoto; only the newest is visible
    groups = found["groups"]
    assert len(groups) == RUNS
    assert all(g["name"].startswith("sample_crop") for g in groups)
    assert [g["visible"] for g in groups] == [True] + [False] * (RUNS - 1)
    assert found["top_group"] == groups[0]["name"]
    for g in groups:
        assert any(n.endswith("crack lines") for n in g["layers"]), g
        assert any(n.endswith("crack probability (0-1)") for n in g["layers"]), g
    # QGIS's Python never touched the engine's packages
    touched = [m for m in found["attempts"] if m.split(".")[0] in ENGINE_PACKAGES]
    assert touched == [], touched
    assert not set(found["loaded_after"]) & set(ENGINE_PACKAGES)
