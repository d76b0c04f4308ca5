"""The model card as the dock shows it, read from the model's ``.json`` beside its weights.

The card's values are checked by the engine's own rules (``core.model.card.read_card``: plain
JSON, no torch), so the dock refuses before Run exactly what a run would refuse; the engine
checks the weights themselves when it runs. The sentence an inspector reads comes from
``core.report.style.model_in_plain_words``, the same words as the report's title block.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..core.errors import CsbsrError
from ..core.model.card import DEFAULT_MODEL_NAME
from ..core.model.card import read_card as read_engine_card
from ..core.report.style import model_in_plain_words
from .paths import RESOURCES

DEFAULT_MODEL = RESOURCES / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class Card:
    """What the dock needs of a model card.

    Attributes:
        path: the model (``.safetensors``).
        name: the model's file stem.
        scale: super-resolution factor.
        input_gsd_mm: the ground resolution it was trained for (mm/px), None = any.
        threshold: its recommended probability threshold.
        seed_threshold: its hysteresis seed (a crack is drawn only if it reaches this
            somewhere), None = none.
        plain: one sentence for an inspector.
        data: the whole card.
    """

    path: Path
    name: str
    scale: int
    input_gsd_mm: Optional[float]
    threshold: float
    plain: str
    data: Dict[str, Any]
    seed_threshold: Optional[float] = None


def read_card(model: Optional[str] = None) -> Card:
    """The card of ``model`` (default: the shipped model).

    Raises:
        ValueError: the model or its card is missing or not a CSBSR model card (the message
            says what to do).
    """
    path = Path(model) if model else DEFAULT_MODEL
    if not path.is_file():
        raise ValueError(f"model file not found: {path}: choose a .safetensors model or leave "
                         "the field empty for the shipped one")
    card_path = path.with_suffix(".json")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except OSError:
        raise ValueError(f"the model card {card_path.name} is missing: it must sit beside "
                         f"{path.name} (same name, .json)") from None
    except ValueError as exc:
        raise ValueError(f"the model card {card_path.name} is not valid JSON ({exc})") from None
    try:
        card = read_engine_card(card_path)
    except CsbsrError as exc:
        raise ValueError(str(exc)) from None
    gsd, seed = card.input_gsd_m, card.recommended_seed_threshold
    return Card(path=path, name=path.stem, scale=int(card.model.scale),
                input_gsd_mm=float(gsd) * 1000.0 if gsd else None,
                threshold=float(card.recommended_threshold),
                seed_threshold=None if seed is None else float(seed),
                plain=model_in_plain_words(data), data=data)
