"""Checkpoints: save -> load gives identical outputs; every CheckpointError case."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from csbsr.core.errors import CheckpointError
from csbsr.core.model.card import (
    ModelCard,
    Normalisation,
    build_model,
    load_model,
    read_card,
    save_model,
)


@pytest.fixture()
def cfg(tiny_cfg):
    """The architecture of the saved test model."""
    return tiny_cfg("thin_unet")


@pytest.fixture()
def saved(tmp_path: Path, cfg) -> tuple:
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    card = ModelCard(model=cfg, input_gsd_m=0.008, recommended_threshold=0.37,
                     normalisation=Normalisation(255.0, 0.0), halo_lr_px=12,
                     training={"data": ["deepcrack"]}, metrics={"iou_max": 0.5})
    path = save_model(model, card, tmp_path / "m.safetensors")
    return model, path


def test_round_trip_gives_identical_outputs(saved: tuple, cfg) -> None:
    model, path = saved
    loaded = load_model(path)
    assert not loaded.model.training
    x = torch.rand(1, 3, 13, 17)
    with torch.no_grad():
        a, b = model(x), loaded.model(x)
    torch.testing.assert_close(a.seg_logits, b.seg_logits, rtol=0, atol=0)
    torch.testing.assert_close(a.sr, b.sr, rtol=0, atol=0)
    card = loaded.card
    assert card.model == cfg
    assert card.recommended_threshold == 0.37
    assert card.input_gsd_m == 0.008
    assert card.training == {"data": ["deepcrack"]}
    assert card.software_version and card.created_utc


def test_files_are_safetensors_and_json_only(saved: tuple, cfg) -> None:
    _, path = saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json", "m.safetensors"]
    doc = json.loads(path.with_suffix(".json").read_text())
    assert doc["format"] == "csbsr-model" and doc["format_version"] == 2
    assert doc["model"]["sr"]["channels"] == 8 and doc["model"]["seg"]["arch"] == "thin_unet"
    assert len(doc["weights"]["sha256"]) == 64
    # the card alone is enough to load (path given as .json)
    assert load_model(path.with_suffix(".json")).card.model == cfg


def test_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_missing_card(saved: tuple) -> None:
    _, path = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="card not found"):
        load_model(path)


def test_corrupt_weights(saved: tuple) -> None:
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # drop the checksum so the safetensors parser itself must detect the damage
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["weights"].pop("sha256")
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path)


def test_modified_weights_fail_the_checksum(saved: tuple) -> None:
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model(path)


def test_corrupt_card(saved: tuple) -> None:
    _, path = saved
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path)


def test_unknown_format_version(saved: tuple) -> None:
    _, path = saved
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["format_version"] = 99
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="format version 99"):
        read_card(card)


def test_card_weights_architecture_mismatch(saved: tuple) -> None:
    _, path = saved
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["model"]["sr"]["channels"] = 12
    doc["weights"].pop("sha256")
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="does not fit the architecture"):
        load_model(path)


def test_a_pickle_is_refused(tmp_path: Path, cfg) -> None:
    model = build_model(cfg)
    path = tmp_path / "evil.safetensors"
    torch.save(model.state_dict(), path)
    save_card = ModelCard(model=cfg)
    # a valid card next to a pickle: the loader must refuse rather than unpickle
    from csbsr.core.config import to_dict

    doc = {"format": "csbsr-model", **to_dict(save_card), "weights": {"file": path.name}}
    path.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="corrupt or not safetensors"):
        load_model(path)


def test_invalid_architecture_in_card(saved: tuple) -> None:
    _, path = saved
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["model"]["scale"] = 3
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="scale"):
        read_card(card)


def test_format_1_cards_still_load(tmp_path: Path, tiny_cfg) -> None:
    """The first shipped models stored a flat architecture; they load as "lite" models."""
    cfg = tiny_cfg("psp_lite")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    path = save_model(model, ModelCard(model=cfg), tmp_path / "old.safetensors")
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["format_version"] = 1
    doc["model"] = {"name": "tiny", "scale": 4, "sr_channels": 8, "sr_stages": 2,
                    "sr_feat_depth": 2, "kernel_size": 21, "kernel_code": 7,
                    "kernel_head_depth": 2, "kernel_conditioning": "embedding",
                    "kernel_embed_dim": 16, "sft_hidden": 32, "seg_arch": "psp_lite",
                    "seg_width": 8, "blurskip": True, "blurskip_blocks": 1,
                    "blurskip_hidden": 16}
    card.write_text(json.dumps(doc))
    loaded = load_model(path)
    assert loaded.card.model == cfg
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(x).seg_logits, loaded.model(x).seg_logits)


@pytest.mark.parametrize("key, value, words", [
    ("recommended_threshold", 7, "recommended_threshold"),
    ("input_gsd_m", -0.008, "input_gsd_m"),
    ("halo_lr_px", 100000, "halo_lr_px"),
    ("normalisation", {"value_scale": 0, "value_offset": 0}, "value_scale"),
])
def test_card_values_are_validated_with_the_key_named(saved: tuple, key, value, words) -> None:
    _, path = saved
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc[key] = value
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=words):
        read_card(card)


def test_unknown_architecture_is_refused(saved: tuple) -> None:
    _, path = saved
    card = path.with_suffix(".json")
    doc = json.loads(card.read_text())
    doc["model"]["seg"]["arch"] = "deeplab"
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="deeplab.*known"):
        read_card(card)


def test_the_hysteresis_seed_round_trips_and_is_checked(tmp_path: Path, cfg) -> None:
    from csbsr.core.errors import ConfigError

    model = build_model(cfg).eval()
    card = ModelCard(model=cfg, recommended_threshold=0.8, recommended_seed_threshold=0.98)
    path = save_model(model, card, tmp_path / "s.safetensors")
    assert read_card(path).recommended_seed_threshold == 0.98
    assert ModelCard(model=cfg).recommended_seed_threshold is None  # older cards: off
    for bad in (0.5, 1.0, "0.9", True):
        with pytest.raises(ConfigError, match="recommended_seed_threshold"):
            ModelCard(model=cfg, recommended_threshold=0.8, recommended_seed_threshold=bad)
