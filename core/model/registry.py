"""The architecture registry: names in a :class:`ModelConfig` -> network builders.

Adding a network is one entry here (and its module); nothing else dispatches on names. The
builders import torch lazily, so this module (and :func:`check_architecture`, which model
cards are validated with) stays importable without torch.

* ``SR_BUILDERS[name](sr_cfg, scale)`` returns the SR network: it maps LR (B, 3, h, w) to an
  ``SROutput`` and exposes ``conditioner.dim`` (the kernel conditioning width) and
  ``kernel_estimator()`` (the modules that estimate the kernel).
* ``SEG_BUILDERS[name](seg_cfg, make_blurskip)`` returns the segmentation network: it maps a
  normalised image and an optional kernel conditioning to ``(main logits, aux)`` and has a
  ``blurskip`` attribute (None when absent). ``make_blurskip(feat_ch)`` builds the BlurSkip
  for its last decoder features (or returns None).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from ..errors import ConfigError
from .config import ModelConfig, SegConfig, SRConfig

BlurSkipFactory = Callable[[int], Optional[Any]]


def _kbpn(cfg: SRConfig, scale: int) -> Any:
    from .sr import KBPN

    return KBPN(scale=scale, channels=cfg.channels, stages=cfg.stages,
                feat_depth=cfg.feat_depth, kernel_size=cfg.kernel_size,
                code_size=cfg.kernel_code, head_depth=cfg.kernel_head_depth,
                conditioning=cfg.kernel_conditioning, embed_dim=cfg.kernel_embed_dim,
                sft_hidden=cfg.sft_hidden)


def _thin_unet(cfg: SegConfig, make_blurskip: BlurSkipFactory) -> Any:
    from .thin_unet import ThinCrackUNet

    if len(cfg.widths) != 4:
        raise ConfigError(f"seg.widths of thin_unet must give 4 levels, got {cfg.widths}")
    return ThinCrackUNet(cfg.widths, cfg.context_dilations, cfg.side_heads,
                         blurskip=make_blurskip(int(cfg.widths[0])))


def _psp_lite(cfg: SegConfig, make_blurskip: BlurSkipFactory) -> Any:
    from .seg import LiteEncoder, PSPNet

    w = int(cfg.widths[0])
    return PSPNet(LiteEncoder(w), bins=(1, 2, 3, 6), ppm_ch=2 * w, bottleneck_ch=8 * w,
                  dec_chs=(4 * w, 2 * w, w), aux_hidden=2 * w, blurskip=make_blurskip(w))


def _pspnet_resnet34(cfg: SegConfig, make_blurskip: BlurSkipFactory) -> Any:
    from .seg import DilatedResNet34, PSPNet

    return PSPNet(DilatedResNet34(), bins=(1, 2, 3, 6), ppm_ch=512, bottleneck_ch=1024,
                  dec_chs=(256, 64, 64), aux_hidden=256, blurskip=make_blurskip(64))


def _unet(cfg: SegConfig, make_blurskip: BlurSkipFactory) -> Any:
    from .seg import UNet

    w = int(cfg.widths[0])
    return UNet(w, blurskip=make_blurskip(w))


SR_BUILDERS: Dict[str, Callable[[SRConfig, int], Any]] = {"kbpn": _kbpn}
SEG_BUILDERS: Dict[str, Callable[[SegConfig, BlurSkipFactory], Any]] = {
    "thin_unet": _thin_unet,
    "psp_lite": _psp_lite,
    "pspnet_resnet34": _pspnet_resnet34,
    "unet": _unet,
}


def check_architecture(cfg: ModelConfig) -> None:
    """Raise :class:`ConfigError` unless every ``arch`` of ``cfg`` is registered."""
    if cfg.sr.arch not in SR_BUILDERS:
        raise ConfigError(f"unknown SR architecture {cfg.sr.arch!r}; "
                          f"known: {sorted(SR_BUILDERS)}")
    if cfg.seg.arch not in SEG_BUILDERS:
        raise ConfigError(f"unknown segmentation architecture {cfg.seg.arch!r}; "
                          f"known: {sorted(SEG_BUILDERS)}")


def build_model(cfg: ModelConfig) -> Any:
    """Return a freshly initialised :class:`~.joint.JointSRSeg` for ``cfg``."""
    from .joint import JointSRSeg
    from .seg import BlurSkip

    check_architecture(cfg)
    sr = SR_BUILDERS[cfg.sr.arch](cfg.sr, cfg.scale)
    bs = cfg.blurskip

    def make_blurskip(feat_ch: int) -> Optional[Any]:
        if not bs.enabled:
            return None
        return BlurSkip(feat_ch, sr.conditioner.dim, bs.blocks, bs.hidden)

    seg = SEG_BUILDERS[cfg.seg.arch](cfg.seg, make_blurskip)
    return JointSRSeg(sr, seg, use_blurskip=bs.enabled, input_norm=cfg.seg.input_norm,
                      kernel_scope=cfg.kernel_scope)
