"""Config dataclasses: validation and dict round-trips."""
from __future__ import annotations

import pytest
from csbsr.core.config import ModelConfig, from_dict, named_model_config, to_dict
from csbsr.core.errors import ConfigError


def test_round_trip() -> None:
    cfg = named_model_config("paper")
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg


def test_unknown_key_is_refused_with_the_valid_keys() -> None:
    with pytest.raises(ConfigError, match="unknown key.*sclae"):
        from_dict(ModelConfig, {"sclae": 4})


@pytest.mark.parametrize("bad", [{"scale": 3}, {"seg_arch": "deeplab"}, {"kernel_size": 20},
                                 {"kernel_conditioning": "x"}, {"sr_channels": 0}])
def test_invalid_values(bad: dict) -> None:
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


def test_unknown_named_config() -> None:
    with pytest.raises(ConfigError, match="paper"):
        named_model_config("huge")
