"""The truth of the real re-inspection pair (``change_pair``, ``pair_script``: tests/conftest.py).

``change_pair`` is a folder with the two orthophotos (UAV75 val mosaic at 8 mm/px, the later
one shifted, rotated and rescaled, with planted changes), the truth labels, ``truth.json`` and
two run folders vectorized from the truth labels with the real vectorizer
(``truth_runs/site_2021``, ``truth_runs/site_2024``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest


@pytest.fixture(scope="session")
def truth(change_pair: Path) -> Dict[str, Any]:
    """``truth.json`` of the pair."""
    return json.loads((change_pair / "truth.json").read_text(encoding="utf-8"))
