"""Config dataclasses: validation and dict round-trips."""
from __future__ import annotations

import pytest
from csbsr.core.config import from_dict, to_dict
from csbsr.core.errors import ConfigError
from csbsr.core.model.config import ModelConfig, SegConfig, SRConfig, named_model_config


@pytest.mark.parametrize("name", ["paper", "lite", "lite2"])
def test_round_trip(name: str) -> None:
    cfg = named_model_config(name)
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg


def test_unknown_key_is_refused_with_the_valid_keys() -> None:
    with pytest.raises(ConfigError, match="unknown key.*sclae"):
        from_dict(ModelConfig, {"sclae": 4})


@pytest.mark.parametrize("bad", [{"scale": 3}, {"kernel_scope": "image"},
                                 {"sr": {"kernel_size": 20}}, {"sr": {"kernel_conditioning": "x"}},
                                 {"sr": {"channels": 0}}, {"seg": {"input_norm": "batch"}},
                                 {"seg": {"widths": [0, 8]}}])
def test_invalid_values(bad: dict) -> None:
    with pytest.raises(ConfigError):
        from_dict(ModelConfig, bad)


def test_nested_parts_have_their_own_types() -> None:
    cfg = from_dict(ModelConfig, {"sr": {"channels": 8}, "seg": {"arch": "psp_lite"}})
    assert isinstance(cfg.sr, SRConfig) and cfg.sr.channels == 8
    assert isinstance(cfg.seg, SegConfig) and cfg.seg.arch == "psp_lite"
    assert not cfg.tile_exact and named_model_config("lite2").tile_exact


def test_unknown_named_config() -> None:
    with pytest.raises(ConfigError, match="paper"):
        named_model_config("huge")
