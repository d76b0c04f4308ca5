"""Architecture configuration of a joint CSBSR model: SR network, segmentation network, BlurSkip.

A :class:`ModelConfig` nests one sub-config per part; each part names its architecture
(``arch``), which :mod:`.registry` maps to a builder, so adding a network is one registry
entry and a card names exactly what it holds. This module is pure Python (no torch): the
plugin and the CLI read model cards without loading the networks.

Card format 1 (the first shipped models) stored a flat config; :func:`model_config_from_v1`
converts it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from ..errors import ConfigError

SR_SCALES = (2, 4, 8)
KERNEL_CONDITIONING = ("broadcast", "embedding")
#: how the segmentation input is normalised: per tile (instance norm, the paper) or by fixed
#: constants (tile-exact)
INPUT_NORMS = ("instance", "fixed")
#: where the blur kernel is estimated: per tile (the paper) or once per raster (tile-exact)
KERNEL_SCOPES = ("tile", "raster")


@dataclass(frozen=True)
class SRConfig:
    """The blind SR network (KBPN).

    Attributes:
        arch: registry name ("kbpn").
        channels: feature width C (paper 128).
        stages: back-projection stages T (paper 4).
        feat_depth: 4 = VGG-like shallow features (paper), 2 = two convs (lite).
        kernel_size: blur-kernel support K in HR pixels (paper 21, odd).
        kernel_code: side k of the estimated kernel code (paper 7, odd, <= K).
        kernel_head_depth: convs of the initial kernel estimator (paper 3).
        kernel_conditioning: "broadcast" (the K*K taps as channels, paper) or "embedding"
            (an MLP embedding of the code, lite).
        kernel_embed_dim: width of that embedding.
        sft_hidden: hidden width of the SFT layers; 0 = their input width (paper).
    """

    arch: str = "kbpn"
    channels: int = 16
    stages: int = 2
    feat_depth: int = 2
    kernel_size: int = 21
    kernel_code: int = 7
    kernel_head_depth: int = 2
    kernel_conditioning: str = "embedding"
    kernel_embed_dim: int = 16
    sft_hidden: int = 32

    def __post_init__(self) -> None:
        if self.kernel_conditioning not in KERNEL_CONDITIONING:
            raise ConfigError(f"kernel_conditioning must be one of {KERNEL_CONDITIONING}, "
                              f"got {self.kernel_conditioning!r}")
        if self.kernel_size % 2 != 1 or self.kernel_code % 2 != 1:
            raise ConfigError("kernel_size and kernel_code must be odd")
        if self.kernel_code > self.kernel_size:
            raise ConfigError("kernel_code must not exceed kernel_size")
        if self.feat_depth not in (2, 4):
            raise ConfigError(f"feat_depth must be 2 or 4, got {self.feat_depth}")
        for name in ("channels", "stages", "kernel_head_depth", "kernel_embed_dim"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"sr.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class SegConfig:
    """The crack segmentation network.

    Attributes:
        arch: registry name: "thin_unet" (v2), "psp_lite" (v1), "unet", "pspnet_resnet34"
            (paper).
        widths: channel widths; "thin_unet": the four levels 1/1..1/8; "psp_lite"/"unet":
            the base width (first entry); ignored by "pspnet_resnet34".
        context_dilations: "thin_unet": dilations of the 1/8 context convs.
        side_heads: "thin_unet": deep-supervision heads at 1/2, 1/4, 1/8 (training only).
        input_norm: "fixed" (constant mean/std: tile-exact) or "instance" (per image/tile,
            the paper).
    """

    arch: str = "thin_unet"
    widths: Tuple[int, ...] = (24, 48, 96, 192)
    context_dilations: Tuple[int, ...] = (2, 4)
    side_heads: bool = True
    input_norm: str = "fixed"

    def __post_init__(self) -> None:
        if self.input_norm not in INPUT_NORMS:
            raise ConfigError(f"seg.input_norm must be one of {INPUT_NORMS}, "
                              f"got {self.input_norm!r}")
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"seg.widths must be positive, got {self.widths}")
        if any(int(d) < 1 for d in self.context_dilations):
            raise ConfigError(f"seg.context_dilations must be >= 1, got {self.context_dilations}")


@dataclass(frozen=True)
class BlurSkipConfig:
    """CSBSR's BlurSkip path (the kernel modulates the last decoder features).

    Attributes:
        enabled: build the path.
        blocks: SFT-like blocks (paper 2).
        hidden: hidden width of its SFT; 0 = its input width (paper).
    """

    enabled: bool = True
    blocks: int = 1
    hidden: int = 16

    def __post_init__(self) -> None:
        if int(self.blocks) < 1 or int(self.hidden) < 0:
            raise ConfigError(f"blurskip needs blocks >= 1 and hidden >= 0, got {self}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a joint CSBSR model.

    Attributes:
        name: a label ("lite2", "lite", "paper" or custom).
        scale: SR factor (2, 4 or 8): output pixel size = input pixel size / scale.
        sr: the SR network.
        seg: the segmentation network.
        blurskip: the BlurSkip path.
        kernel_scope: "raster" = the blur kernel is estimated once per raster and shared by
            every tile (tile-exact); "tile" = estimated inside every tile (the paper).
    """

    name: str = "lite2"
    scale: int = 4
    sr: SRConfig = field(default_factory=SRConfig)
    seg: SegConfig = field(default_factory=SegConfig)
    blurskip: BlurSkipConfig = field(default_factory=BlurSkipConfig)
    kernel_scope: str = "raster"

    def __post_init__(self) -> None:
        if self.scale not in SR_SCALES:
            raise ConfigError(f"scale must be one of {SR_SCALES}, got {self.scale}")
        if self.kernel_scope not in KERNEL_SCOPES:
            raise ConfigError(f"kernel_scope must be one of {KERNEL_SCOPES}, "
                              f"got {self.kernel_scope!r}")
        for name, typ in (("sr", SRConfig), ("seg", SegConfig), ("blurskip", BlurSkipConfig)):
            if not isinstance(getattr(self, name), typ):
                raise ConfigError(f"{name} must be a {typ.__name__}, "
                                  f"got {type(getattr(self, name)).__name__}")

    @property
    def tile_exact(self) -> bool:
        """True when nothing in the model depends on the tile's extent."""
        return self.kernel_scope == "raster" and self.seg.input_norm == "fixed" and \
            self.seg.arch == "thin_unet"

    def with_blurskip(self, enabled: bool) -> ModelConfig:
        """This architecture with BlurSkip switched on or off."""
        return dataclasses.replace(self, blurskip=dataclasses.replace(self.blurskip,
                                                                      enabled=enabled))


PAPER_MODEL = ModelConfig(
    name="paper", scale=4,
    sr=SRConfig(channels=128, stages=4, feat_depth=4, kernel_head_depth=3,
                kernel_conditioning="broadcast", sft_hidden=0),
    seg=SegConfig(arch="pspnet_resnet34", widths=(64,), side_heads=False, input_norm="instance"),
    blurskip=BlurSkipConfig(enabled=True, blocks=2, hidden=0), kernel_scope="tile")
#: the first lite model (PSP-lite, per-tile normalisation and kernel)
LITE_MODEL = ModelConfig(
    name="lite", seg=SegConfig(arch="psp_lite", widths=(16,), side_heads=False,
                               input_norm="instance"), kernel_scope="tile")
#: the thin-crack lite model (ThinCrackUNet, fixed normalisation, one kernel per raster)
LITE2_MODEL = ModelConfig()
NAMED_MODELS: Dict[str, ModelConfig] = {"paper": PAPER_MODEL, "lite": LITE_MODEL,
                                        "lite2": LITE2_MODEL}


def named_model_config(name: str, blurskip: Any = None) -> ModelConfig:
    """Return the named architecture ("lite2", "lite" or "paper"), BlurSkip optionally set."""
    if name not in NAMED_MODELS:
        raise ConfigError(f"unknown model config {name!r}; choose one of {sorted(NAMED_MODELS)}")
    cfg = NAMED_MODELS[name]
    return cfg if blurskip is None else cfg.with_blurskip(bool(blurskip))


_V1_SR_KEYS = {"sr_channels": "channels", "sr_stages": "stages", "sr_feat_depth": "feat_depth",
               "kernel_size": "kernel_size", "kernel_code": "kernel_code",
               "kernel_head_depth": "kernel_head_depth",
               "kernel_conditioning": "kernel_conditioning",
               "kernel_embed_dim": "kernel_embed_dim", "sft_hidden": "sft_hidden"}


def model_config_from_v1(flat: Dict[str, Any]) -> Dict[str, Any]:
    """Convert the flat model dict of a format-1 card into the nested form of this module."""
    if not isinstance(flat, dict):
        raise ConfigError(f"model: expected a mapping, got {type(flat).__name__}")
    known = set(_V1_SR_KEYS) | {"name", "scale", "seg_arch", "seg_width", "blurskip",
                                "blurskip_blocks", "blurskip_hidden"}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"model: unknown key(s) {unknown} in a format-1 card")
    sr = {new: flat[old] for old, new in _V1_SR_KEYS.items() if old in flat}
    seg = {"arch": flat.get("seg_arch", "psp_lite"), "widths": [flat.get("seg_width", 16)],
           "side_heads": False, "input_norm": "instance"}
    bs = {"enabled": flat.get("blurskip", True), "blocks": flat.get("blurskip_blocks", 1),
          "hidden": flat.get("blurskip_hidden", 16)}
    return {"name": flat.get("name", "lite"), "scale": flat.get("scale", 4), "sr": sr,
            "seg": seg, "blurskip": bs, "kernel_scope": "tile"}
