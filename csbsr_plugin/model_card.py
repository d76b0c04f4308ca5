"""The model card as the dock shows it, read from the model's ``.json`` beside its weights.

Plain JSON (no torch, no engine import): the engine checks the weights themselves when it
runs. The sentence an inspector reads comes from ``core.report.style.model_in_plain_words``,
the same words as the report's title block.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..core.model.card import DEFAULT_MODEL_NAME
from ..core.report.style import model_in_plain_words
from .paths import RESOURCES

DEFAULT_MODEL = RESOURCES / "models" / DEFAULT_MODEL_NAME
FORMAT_NAME = "csbsr-model"


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
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ValueError(f"{card_path.name} is not a CSBSR model card (format "
                         f"{FORMAT_NAME!r} expected)")
    # early notice of the common faults; the engine validates the whole card when it runs
    missing = [k for k in ("model", "input_gsd_m", "recommended_threshold", "normalisation",
                           "halo_lr_px") if k not in data]
    if missing:
        raise ValueError(f"{card_path.name} lacks {', '.join(missing)}: use the card that came "
                         "with the model")
    threshold, gsd = data.get("recommended_threshold"), data.get("input_gsd_m")
    if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"{card_path.name}: recommended_threshold must be a probability "
                         f"between 0 and 1, got {threshold!r}")
    seed = data.get("recommended_seed_threshold")
    if seed is not None and (not isinstance(seed, (int, float)) or not threshold <= seed < 1):
        raise ValueError(f"{card_path.name}: recommended_seed_threshold must be a probability "
                         f"from recommended_threshold up to 1, or null, got {seed!r}")
    if gsd is not None and (not isinstance(gsd, (int, float)) or not gsd > 0):
        raise ValueError(f"{card_path.name}: input_gsd_m must be a ground resolution in metres "
                         f"> 0, got {gsd!r}")
    arch = data.get("model") or {}
    return Card(path=path, name=path.stem, scale=int(arch.get("scale") or 1),
                input_gsd_mm=float(gsd) * 1000.0 if gsd else None,
                threshold=float(threshold),
                seed_threshold=None if seed is None else float(seed),
                plain=model_in_plain_words(data), data=data)
