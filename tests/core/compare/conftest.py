"""The real re-inspection pair of ``scripts/make_change_pair.py``, built once per session.

``change_pair`` is a folder with the two orthophotos (UAV75 val mosaic at 8 mm/px, the later
one shifted, rotated and rescaled, with planted changes), the truth labels, ``truth.json`` and
two run folders vectorized from the truth labels with the real vectorizer
(``truth_runs/site_2021``, ``truth_runs/site_2024``).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[3]


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


@pytest.fixture(scope="session")
def truth(change_pair: Path) -> Dict[str, Any]:
    """``truth.json`` of the pair."""
    return json.loads((change_pair / "truth.json").read_text(encoding="utf-8"))
