"""Shared fixtures and marker handling.

The repository root is installed (editable) under the fixed package name ``csbsr``; tests
import ``csbsr.core...`` and ``csbsr.csbsr_plugin...`` and never put ``core`` on sys.path.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CRACKS = SHARED / "data" / "cracks"
ORTHO_DIR = SHARED / "data" / "ortho"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Skip ``qgis`` tests without QGIS and ``gpu`` tests without CUDA."""
    has_qgis = importlib.util.find_spec("qgis") is not None
    has_cuda = None
    for item in items:
        if "qgis" in item.keywords and not has_qgis:
            item.add_marker(pytest.mark.skip(reason="QGIS is not importable"))
        if "gpu" in item.keywords:
            if has_cuda is None:
                has_cuda = _has_cuda()
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="no CUDA device"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def shared_cracks() -> Path:
    """The shared real crack data set (skips when absent)."""
    if not (CRACKS / "manifest.tsv").exists():
        pytest.skip("../shared/data/cracks is not available")
    return CRACKS


@pytest.fixture(scope="session")
def shared_ortho() -> Path:
    """The shared real orthophotos (skips when absent)."""
    if not ORTHO_DIR.exists():
        pytest.skip("../shared/data/ortho is not available")
    return ORTHO_DIR


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module: tiny models gain nothing from two threads, and it
    avoids oversubscribing the cores when another job shares the machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_config(arch: str = "psp_lite", **kw):
    """A small ModelConfig for fast tests: 8-channel KBPN and an 8-wide segmentation net.

    ``arch="psp_lite"`` gives the first lite layout (per-tile norm and kernel);
    ``arch="thin_unet"`` the tile-exact v2 layout. Keyword arguments replace fields of
    ModelConfig (e.g. ``scale=2``) or, prefixed ``sr_``/``seg_``, of its parts.
    """
    import dataclasses

    from csbsr.core.model.config import BlurSkipConfig, ModelConfig, SegConfig, SRConfig

    if arch == "thin_unet":
        seg = SegConfig(arch="thin_unet", widths=(8, 8, 16, 16))
        scope = "raster"
    else:
        seg = SegConfig(arch=arch, widths=(8,), side_heads=False, input_norm="instance")
        scope = "tile"
    sr = SRConfig(channels=8)
    sr = dataclasses.replace(sr, **{k[3:]: v for k, v in kw.items() if k.startswith("sr_")})
    seg = dataclasses.replace(seg, **{k[4:]: v for k, v in kw.items() if k.startswith("seg_")})
    rest = {k: v for k, v in kw.items() if not k.startswith(("sr_", "seg_"))}
    if "blurskip" in rest and isinstance(rest["blurskip"], bool):
        rest["blurskip"] = BlurSkipConfig(enabled=rest["blurskip"])
    return ModelConfig(**{"name": "tiny", "sr": sr, "seg": seg, "kernel_scope": scope, **rest})


@pytest.fixture(scope="session")
def tiny_cfg():
    """The :func:`tiny_config` factory."""
    return tiny_config


# --------------------------------------------- the real re-inspection pair (core + plugin)
def load_pair_script() -> ModuleType:
    """``scripts/make_change_pair.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        "make_change_pair", REPO / "scripts" / "make_change_pair.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def pair_script() -> ModuleType:
    """The pair builder and scorer."""
    return load_pair_script()


@pytest.fixture(scope="session")
def change_pair(shared_cracks: Path, tmp_path_factory: pytest.TempPathFactory,
                pair_script: ModuleType) -> Path:
    """The built pair with its truth runs (skips without the shared data)."""
    out = tmp_path_factory.mktemp("change_pair")
    pair_script.build(out, shared_cracks)
    for stem in pair_script.STEMS:
        pair_script.truth_run(out / f"{stem}.tif", out / f"{stem}_truth.tif",
                              out / "truth_runs" / stem)
    return out
