"""Shared fixtures and marker handling.

The repository root is installed (editable) under the fixed package name ``csbsr``; tests
import ``csbsr.core...`` and ``csbsr.csbsr_plugin...`` and never put ``core`` on sys.path.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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
