"""Frozen, validated configuration dataclasses and their dict/JSON round-trips.

Each consumer receives only the sub-config it needs. ``nn.Module``s never see a config:
``model/factory.py`` translates :class:`ModelConfig` into constructor arguments.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Tuple, Type, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")

SR_SCALES = (2, 4, 8)
SEG_ARCHS = ("pspnet_resnet34", "psp_lite", "unet")
KERNEL_CONDITIONING = ("broadcast", "embedding")


def from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Raises:
        ConfigError: on unknown keys or a value that fails validation.
    """
    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls!r} is not a config dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(fields)}"
        )
    kwargs: Dict[str, Any] = {}
    for name, value in data.items():
        ftype = fields[name].type
        sub = _NESTED.get(ftype) if isinstance(ftype, str) else None
        if sub is not None and isinstance(value, dict):
            kwargs[name] = from_dict(sub, value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def to_dict(obj: Any) -> Dict[str, Any]:
    """Return a JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def save_json(obj: Any, path: Union[str, Path]) -> None:
    """Write a config dataclass as indented JSON."""
    Path(path).write_text(json.dumps(to_dict(obj), indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a joint CSBSR model (SR network + segmentation network).

    Attributes:
        name: a label ("paper", "lite" or custom).
        scale: SR factor (2, 4 or 8): output pixel size = input pixel size / scale.
        sr_channels: KBPN feature width (paper 128).
        sr_stages: number of back-projection stages T (paper 4).
        sr_feat_depth: 4 = VGG-like shallow features (paper), 2 = two convs (lite).
        kernel_size: support of the blur kernel in HR pixels (paper 21).
        kernel_code: side of the estimated kernel code (paper 7), resized to ``kernel_size``.
        kernel_head_depth: convs in the initial kernel estimator (paper 3).
        kernel_conditioning: "broadcast" = kernel as kernel_size**2 constant channels (paper);
            "embedding" = an MLP embedding of the code (lite, far cheaper).
        kernel_embed_dim: width of that embedding.
        sft_hidden: hidden width of SFT layers; 0 = same as input width (paper).
        seg_arch: "pspnet_resnet34" (paper), "psp_lite" or "unet".
        seg_width: base width of the segmentation network (psp_lite: 16, unet: 32).
        blurskip: build the BlurSkip path (kernel-modulated last decoder features).
        blurskip_blocks: SFT-like blocks in BlurSkip (paper 2).
        blurskip_hidden: hidden width of BlurSkip's SFT; 0 = same as its input width (paper).
    """

    name: str = "lite"
    scale: int = 4
    sr_channels: int = 16
    sr_stages: int = 2
    sr_feat_depth: int = 2
    kernel_size: int = 21
    kernel_code: int = 7
    kernel_head_depth: int = 2
    kernel_conditioning: str = "embedding"
    kernel_embed_dim: int = 16
    sft_hidden: int = 32
    seg_arch: str = "psp_lite"
    seg_width: int = 16
    blurskip: bool = True
    blurskip_blocks: int = 1
    blurskip_hidden: int = 16

    def __post_init__(self) -> None:
        if self.scale not in SR_SCALES:
            raise ConfigError(f"scale must be one of {SR_SCALES}, got {self.scale}")
        if self.seg_arch not in SEG_ARCHS:
            raise ConfigError(f"seg_arch must be one of {SEG_ARCHS}, got {self.seg_arch!r}")
        if self.kernel_conditioning not in KERNEL_CONDITIONING:
            raise ConfigError(
                f"kernel_conditioning must be one of {KERNEL_CONDITIONING}, "
                f"got {self.kernel_conditioning!r}"
            )
        if self.kernel_size % 2 != 1 or self.kernel_code % 2 != 1:
            raise ConfigError("kernel_size and kernel_code must be odd")
        if self.kernel_code > self.kernel_size:
            raise ConfigError("kernel_code must not exceed kernel_size")
        if self.sr_feat_depth not in (2, 4):
            raise ConfigError(f"sr_feat_depth must be 2 or 4, got {self.sr_feat_depth}")
        for name in ("sr_channels", "sr_stages", "kernel_head_depth", "seg_width",
                     "kernel_embed_dim", "blurskip_blocks"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


PAPER_MODEL = ModelConfig(
    name="paper", scale=4, sr_channels=128, sr_stages=4, sr_feat_depth=4,
    kernel_head_depth=3, kernel_conditioning="broadcast", sft_hidden=0,
    seg_arch="pspnet_resnet34", seg_width=64, blurskip=True, blurskip_blocks=2,
    blurskip_hidden=0,
)
LITE_MODEL = ModelConfig()
NAMED_MODELS: Dict[str, ModelConfig] = {"paper": PAPER_MODEL, "lite": LITE_MODEL}


def named_model_config(name: str, **overrides: Any) -> ModelConfig:
    """Return the named architecture ("paper" or "lite"), optionally with overrides."""
    if name not in NAMED_MODELS:
        raise ConfigError(f"unknown model config {name!r}; choose one of {sorted(NAMED_MODELS)}")
    return dataclasses.replace(NAMED_MODELS[name], **overrides)


@dataclass(frozen=True)
class Normalisation:
    """How raster values map to the model's [0, 1] input: ``(x - offset) / scale``.

    Attributes:
        value_scale: divisor (255 for 8-bit, 65535 or a percentile for 16-bit).
        value_offset: subtracted before dividing.
    """

    value_scale: float = 255.0
    value_offset: float = 0.0


# Sub-configs of other stages (tiling, inference, vectorization, training) are added
# below by the modules that own those stages.
_NESTED: Dict[str, Type[Any]] = {"ModelConfig": ModelConfig, "Normalisation": Normalisation}
