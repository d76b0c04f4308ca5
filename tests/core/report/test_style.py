"""The model in plain words: field figures at the recommended setting when the card has them,
the research F1 otherwise, nothing invented when neither is there."""
from __future__ import annotations

import json
from pathlib import Path

from csbsr.core.report.style import model_in_plain_words

MODELS = Path(__file__).resolve().parents[3] / "resources" / "models"


def _card(metrics: dict) -> dict:
    return {"model": {"scale": 4}, "input_gsd_m": 0.008, "metrics": metrics,
            "description": "Research and non-commercial use only"}


def test_field_figures_are_said_in_an_inspectors_words() -> None:
    text = model_in_plain_words(_card({
        "val_paper_seed5": {"f1_ods": 0.84, "n_images": 463},
        "field_at_threshold": {"n_images": 300, "recall_2cm": 0.685, "precision_2cm": 0.87},
        "fp_m_per_m2_at_threshold": {"concrete": 0.125, "asphalt": 0.214, "scenes": 0.185}}))
    assert "about 8 mm per pixel" in text and "4x sharpened" in text
    assert "On 300 test photos it finds about 68% of the crack length within 2 cm" in text
    assert "87% of what it draws is a crack" in text
    assert "0.12-0.21 m of false crack per m²" in text
    assert "F1" not in text and text.endswith("For research and non-commercial use.")


def test_without_field_figures_the_f1_is_said_and_nothing_else() -> None:
    text = model_in_plain_words(_card({"f1_ods": 0.71, "n_images": 463}))
    assert "On 463 test photos it agrees with cracks drawn by hand at an F1 score of 0.71" in text
    assert "false crack" not in text
    partial = model_in_plain_words(_card({"field_at_threshold": {"recall_2cm": 0.6}}))
    assert "finds about" not in partial and "F1" not in partial
    one = model_in_plain_words(_card({
        "field_at_threshold": {"recall_2cm": 0.5, "precision_2cm": 0.9},
        "fp_m_per_m2_at_threshold": {"concrete": 0.1, "asphalt": float("nan")}}))
    assert "On its test photos it finds about 50%" in one and "draws 0.10 m of false" in one


def test_the_shipped_cards_read_well() -> None:
    v2 = model_in_plain_words(json.loads((MODELS / "csbsr_lite2_x4.json").read_text("utf-8")))
    v1 = model_in_plain_words(json.loads((MODELS / "csbsr_lite_x4.json").read_text("utf-8")))
    assert "of what it draws is a crack" in v2 and "false crack per m²" in v2
    assert "F1 score" in v1  # the first model's card has no field figures
