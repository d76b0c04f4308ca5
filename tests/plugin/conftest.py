"""Fixtures of the plugin tests: the engine (``CSBSR_ENGINE``), the registered provider, a tiny
model, small real rasters."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ORTHO_DIR = REPO.parent / "shared" / "data" / "ortho"

REAL_ORTHO = ORTHO_DIR / "dronemapper_redrocks_center100_6.7cm.tif"
SECOND_ORTHO = ORTHO_DIR / "usgs_hro_colorado_201404_13SED190110_15cm.tif"
SAMPLE_ORTHO = REPO / "resources" / "sample" / "sample_ortho.tif"
_PROVIDERS: list = []
FP32 = 1  # index of "fp32" in the PRECISION enum (bf16 on CPU flattens a random model)


def write_engine_wrapper(folder: Path) -> Path:
    """A ``csbsr`` executable that runs this checkout's engine with the test Python (what
    ``CSBSR_ENGINE`` points at in tests; a user's points at their engine environment)."""
    wrapper = folder / "csbsr"
    pythonpath = os.environ.get("PYTHONPATH", "")
    wrapper.write_text("#!/bin/sh\n# the engine of this checkout, for the tests\n"
                       f"export PYTHONPATH='{pythonpath}'\n"
                       f"exec '{sys.executable}' -m csbsr.core.cli \"$@\"\n", encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture(scope="session", autouse=True)
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``CSBSR_ENGINE`` for the whole session (QGIS subprocesses inherit it)."""
    wrapper = write_engine_wrapper(tmp_path_factory.mktemp("engine"))
    old = os.environ.get("CSBSR_ENGINE")
    os.environ["CSBSR_ENGINE"] = str(wrapper)
    yield wrapper
    if old is None:
        os.environ.pop("CSBSR_ENGINE", None)
    else:
        os.environ["CSBSR_ENGINE"] = old


@pytest.fixture()
def provider(qgis_processing: None):
    """The csbsr provider, registered in the session's processing registry (re-registered if
    a test unloaded the plugin)."""
    from csbsr.csbsr_plugin.provider import CsbsrProvider
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    if registry.providerById("csbsr") is None:
        _PROVIDERS.append(CsbsrProvider())  # keep the Python object alive (its overrides)
        assert registry.addProvider(_PROVIDERS[-1])
    return registry.providerById("csbsr")



@pytest.fixture()
def dock(qgis_iface, provider):
    """A CSBSR dock panel on the test iface, shut down afterwards."""
    from csbsr.csbsr_plugin.dock import CsbsrDock

    widget = CsbsrDock(qgis_iface)
    yield widget
    widget.shutdown()
    widget.deleteLater()


def wait_for_signal(signal, timeout_s: float = 120.0) -> list:
    """Process Qt events until ``signal`` fired (test-only event pumping); its arguments."""
    from qgis.core import QgsApplication

    done: list = []
    signal.connect(done.append)
    end = time.monotonic() + timeout_s
    while not done and time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        QgsApplication.processEvents()
    return done


@pytest.fixture()
def wait_for():
    """:func:`wait_for_signal`, for the test modules (conftest is not importable by name)."""
    return wait_for_signal


def _calibrated_tiny_model(path: Path, cfg) -> Path:
    """A tiny random lite model whose head is stretched so it marks ~8 % of pixels as crack.

    A random network's logits barely vary; scaling the 1x1 head around its 92nd percentile
    on a real orthophoto gives probability maps with structure (so vectorization finds lines)
    at fp32.
    """
    import rasterio
    import torch
    from csbsr.core.model.card import ModelCard, build_model, save_model

    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with rasterio.open(REAL_ORTHO) as src:
        img = src.read([1, 2, 3]).astype(np.float32) / 255.0
    with torch.no_grad():
        logits = model(torch.from_numpy(img[None])).seg_logits.flatten()
        q50, q92 = float(logits.quantile(0.5)), float(logits.quantile(0.92))
        k = 4.0 / max(q92 - q50, 1e-6)
        model.seg_net.final.weight.mul_(k)
        model.seg_net.final.bias.copy_(k * (model.seg_net.final.bias - q92))
    card = ModelCard(model=cfg, recommended_threshold=0.5, halo_lr_px=8,
                     metrics={"iou": 0.0}, description="tiny random test model")
    return save_model(model, card, path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_cfg) -> Path:
    """Path of a tiny random model (``.safetensors`` + ``.json`` card)."""
    if not REAL_ORTHO.exists():
        pytest.skip("../shared/data/ortho is not available")
    return _calibrated_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors",
                                  tiny_cfg("thin_unet"))


@pytest.fixture(scope="session")
def real_crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96 x 80 px crop of a real 15 cm orthophoto (GeoTIFF, EPSG:26913)."""
    if not SECOND_ORTHO.exists():
        pytest.skip("../shared/data/ortho is not available")
    import rasterio
    from rasterio.windows import Window

    out = tmp_path_factory.mktemp("crop") / "usgs_crop.tif"
    with rasterio.open(SECOND_ORTHO) as src:
        win = Window(120, 60, 96, 80)
        prof = src.profile.copy()
        prof.update(width=96, height=80, transform=src.window_transform(win))
        with rasterio.open(out, "w", **prof) as dst:
            dst.write(src.read(window=win))
    return out


@pytest.fixture(scope="session")
def synthetic_prob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probability raster (uint8 0-255, 2 mm pixels, EPSG:32633) with two known cracks.

    A horizontal crack 300 px long, 5 px wide (from x=50 to x=350 at y=100), and a vertical
    one 200 px long, 7 px wide (x=250, y=150..350): 0.6 m and 0.4 m at 2 mm/px.
    """
    import rasterio
    from rasterio.transform import from_origin

    prob = np.zeros((400, 400), np.uint8)
    prob[98:103, 50:350] = 230
    prob[150:350, 247:254] = 220
    out = tmp_path_factory.mktemp("prob") / "synthetic_prob.tif"
    with rasterio.open(out, "w", driver="GTiff", width=400, height=400, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000.0, 5000000.0, 0.002,
                                                               0.002)) as dst:
        dst.write(prob[None])
    return out


@pytest.fixture(scope="session")
def real_ortho() -> Path:
    """A real 100 x 100 px RGBA drone orthophoto (6.7 cm, EPSG:32613)."""
    if not REAL_ORTHO.exists():
        pytest.skip("../shared/data/ortho is not available")
    return REAL_ORTHO


@pytest.fixture(scope="session")
def sample_ortho(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped sample orthophoto (QGIS may write .aux.xml statistics beside
    what it opens; the copy keeps resources/ clean). Skips until the sample exists."""
    if not SAMPLE_ORTHO.exists():
        pytest.skip("resources/sample/sample_ortho.tif is not there yet")
    import shutil

    out = tmp_path_factory.mktemp("sample") / SAMPLE_ORTHO.name
    shutil.copyfile(SAMPLE_ORTHO, out)
    return out


@pytest.fixture()
def qgis_process_env(tmp_path: Path, engine: Path) -> dict:
    """The environment of a ``qgis_process.bin`` run with the plugin enabled: a throw-away
    HOME with its profile, QGIS_PLUGINPATH holding a symlink ``csbsr`` -> this checkout, no
    engine package on QGIS's own Python path (the engine is ``CSBSR_ENGINE``)."""
    import subprocess

    qgis_process = Path("/usr/bin/qgis_process.bin")
    if not qgis_process.exists():
        pytest.skip("qgis_process.bin is not installed")
    plugins = tmp_path / "qp_plugins"
    plugins.mkdir()
    (plugins / "csbsr").symlink_to(REPO, target_is_directory=True)
    (tmp_path / "qp_home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA", "GDAL_DRIVER_PATH", "DISPLAY",
                        "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "PYTHONPATH")}
    env.update(HOME=str(tmp_path / "qp_home"), QT_QPA_PLATFORM="offscreen",
               QGIS_PLUGINPATH=str(plugins))
    enable = subprocess.run([str(qgis_process), "plugins", "enable", "csbsr"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert enable.returncode == 0, enable.stdout[-2000:] + enable.stderr[-2000:]
    return env
