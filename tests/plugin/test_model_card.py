"""The dock's model card: read with the engine's own rules (no torch in QGIS's process), so
what the dock refuses before Run is exactly what a run would refuse."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def _copy(tmp_path: Path, **changes: object) -> Path:
    from csbsr.csbsr_plugin.model_card import DEFAULT_MODEL

    dst = tmp_path / "m.safetensors"
    shutil.copyfile(DEFAULT_MODEL, dst)
    doc = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    doc.update(changes)
    dst.with_suffix(".json").write_text(json.dumps(doc), encoding="utf-8")
    return dst


def test_the_shipped_card_gives_threshold_seed_and_gsd() -> None:
    from csbsr.csbsr_plugin.model_card import read_card

    card = read_card()
    assert (card.threshold, card.seed_threshold, card.input_gsd_mm) == (0.7, 0.98, 8.0)
    assert card.scale == 4 and "8 mm per pixel" in card.plain


@pytest.mark.parametrize("changes,named", [
    ({"recommended_seed_threshold": 0.1}, "recommended_seed_threshold"),
    ({"recommended_threshold": 7}, "recommended_threshold"),
    ({"halo_lr_px": 100000}, "halo_lr_px"),
    ({"surprise": 1}, "surprise"),
    ({"format_version": 99}, "version"),
])
def test_a_card_the_engine_refuses_is_refused_with_the_engines_words(
        tmp_path: Path, changes: dict, named: str) -> None:
    from csbsr.core.errors import CsbsrError
    from csbsr.core.model.card import read_card as engine_read_card
    from csbsr.csbsr_plugin.model_card import read_card

    path = _copy(tmp_path, **changes)
    with pytest.raises(CsbsrError) as engine:
        engine_read_card(path)
    with pytest.raises(ValueError, match=named) as dock:
        read_card(str(path))
    assert str(dock.value) == str(engine.value)


def test_missing_card_and_bad_json_say_what_to_do(tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.model_card import read_card

    path = _copy(tmp_path)
    path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_card(str(path))
    path.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="must sit beside"):
        read_card(str(path))
