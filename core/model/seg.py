"""Crack segmentation networks: PSPNet (dilated ResNet-34 or lite encoder), U-Net, BlurSkip.

Every network maps a normalised image (B, 3, H, W) to logits ``(main, aux)`` of shape
(B, 1, H, W) each (``aux`` is None for the U-Net); the sigmoid is applied outside so that
losses can use the numerically stable form. H and W may be any size (odd included): the
decoder upsamples to the encoder's recorded sizes and finally to the input size.

BlurSkip (CSBSR's extra path b) modulates the last decoder features with the estimated blur
kernel through SFT-like blocks on a residual branch; it is skipped when no kernel is given.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import SFT

SegOutput = Tuple[torch.Tensor, Optional[torch.Tensor]]


def _up(x: torch.Tensor, size: Sequence[int], align: bool = False) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs, BN, identity or 1x1 projection shortcut)."""

    def __init__(self, in_ch: int, ch: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, ch, 1, stride, bias=False),
                                          nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the module to ``x``."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class DilatedResNet34(nn.Module):
    """ResNet-34 with output stride 8: layer3/layer4 at stride 1, dilation 2/4.

    As in the reference (Lextal's PSPNet), the first block of each dilated layer is
    undilated. Returns (layer4 (B, 512, H/8, W/8), layer3 (B, 256, H/8, W/8), sizes) where
    ``sizes`` are the spatial sizes at /1, /2, /4 for the decoder. No ImageNet weights are
    downloaded (no network at run time): the backbone starts from He initialisation.
    """

    out_ch = 512
    aux_ch = 256

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(64, 64, 3, 1, 1)
        self.layer2 = self._layer(64, 128, 4, 2, 1)
        self.layer3 = self._layer(128, 256, 6, 1, 2)
        self.layer4 = self._layer(256, 512, 3, 1, 4)

    @staticmethod
    def _layer(in_ch: int, ch: int, n: int, stride: int, dilation: int) -> nn.Sequential:
        blocks = [BasicBlock(in_ch, ch, stride, 1)]
        blocks += [BasicBlock(ch, ch, 1, dilation) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, List[Any]]:
        """Return (deep features, aux features, [size/1, size/2, size/4])."""
        sizes = [tuple(x.shape[-2:])]
        x = self.stem(x)
        sizes.append(tuple(x.shape[-2:]))
        x = self.layer1(self.pool(x))
        sizes.append(tuple(x.shape[-2:]))
        x3 = self.layer3(self.layer2(x))
        return self.layer4(x3), x3, sizes


def _conv_bn_relu(in_ch: int, ch: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, ch, 3, stride, dilation, dilation, bias=False),
                         nn.BatchNorm2d(ch), nn.ReLU(inplace=True))


class LiteEncoder(nn.Module):
    """PSP-lite encoder: widths w, 2w, 4w at /2, /4, /8, then 6w (dilation 2), 8w (dilation 4)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.s2 = nn.Sequential(_conv_bn_relu(3, w, 2), _conv_bn_relu(w, w))
        self.s4 = nn.Sequential(_conv_bn_relu(w, 2 * w, 2), _conv_bn_relu(2 * w, 2 * w))
        self.s8 = nn.Sequential(_conv_bn_relu(2 * w, 4 * w, 2), _conv_bn_relu(4 * w, 4 * w))
        self.d2 = nn.Sequential(_conv_bn_relu(4 * w, 6 * w, 1, 2),
                                _conv_bn_relu(6 * w, 6 * w, 1, 2))
        self.d4 = nn.Sequential(_conv_bn_relu(6 * w, 8 * w, 1, 4),
                                _conv_bn_relu(8 * w, 8 * w, 1, 4))
        self.out_ch = 8 * w
        self.aux_ch = 6 * w

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, List[Any]]:
        """Return (deep features, aux features, [size/1, size/2, size/4])."""
        sizes = [tuple(x.shape[-2:])]
        x = self.s2(x)
        sizes.append(tuple(x.shape[-2:]))
        x = self.s4(x)
        sizes.append(tuple(x.shape[-2:]))
        aux = self.d2(self.s8(x))
        return self.d4(aux), aux, sizes


class BlurSkip(nn.Module):
    """Kernel-conditioned residual refinement of the last decoder features.

    ``q = p``; ``n_blocks`` times: ``q = SFT(q, kernel_cond)`` (PReLU, hidden width
    ``hidden``; 0 = input width as in the paper) then 3x3 conv-BN-ReLU; returns ``p + q``.
    """

    def __init__(self, feat_ch: int, cond_ch: int, n_blocks: int, hidden: int = 0) -> None:
        super().__init__()
        self.sft = nn.ModuleList([SFT(feat_ch, cond_ch, hidden, act="prelu")
                                  for _ in range(n_blocks)])
        self.conv = nn.ModuleList([_conv_bn_relu(feat_ch, feat_ch) for _ in range(n_blocks)])

    def forward(self, p: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Return p (B, C, H, W) refined by ``cond`` (B, D)."""
        q = p
        for sft, conv in zip(self.sft, self.conv):
            q = conv(sft(q, cond.to(q.dtype)))
        return p + q


class PSPNet(nn.Module):
    """Pyramid scene parsing network with main and auxiliary heads (logits).

    Args:
        encoder: returns (deep, aux, sizes) as :class:`DilatedResNet34` / :class:`LiteEncoder`.
        bins: adaptive pooling bins of the pyramid (paper 1, 2, 3, 6).
        ppm_ch: width of each pyramid branch (paper 512).
        bottleneck_ch: width after fusing the pyramid (paper 1024).
        dec_chs: widths of the three decoder stages (paper 256, 64, 64).
        aux_hidden: width of the aux head's 3x3 conv (paper 256).
        blurskip: optional BlurSkip on the last decoder features.
    """

    def __init__(self, encoder: Any, bins: Sequence[int], ppm_ch: int, bottleneck_ch: int,
                 dec_chs: Sequence[int], aux_hidden: int,
                 blurskip: Optional[BlurSkip] = None) -> None:
        super().__init__()
        self.encoder = encoder
        enc_ch, aux_ch = encoder.out_ch, encoder.aux_ch
        self.bins = tuple(bins)
        self.ppm = nn.ModuleList([nn.Conv2d(enc_ch, ppm_ch, 1, bias=False) for _ in self.bins])
        self.bottleneck = nn.Sequential(
            nn.Conv2d(enc_ch + len(self.bins) * ppm_ch, bottleneck_ch, 1), nn.ReLU(inplace=True))
        self.drop = nn.Dropout2d(0.3)
        stages = []
        in_ch = bottleneck_ch
        for ch in dec_chs:
            stages.append(nn.Sequential(nn.Conv2d(in_ch, ch, 3, 1, 1), nn.BatchNorm2d(ch),
                                        nn.PReLU(), nn.Dropout2d(0.15)))
            in_ch = ch
        self.decoder = nn.ModuleList(stages)
        self.final = nn.Conv2d(in_ch, 1, 1)
        self.aux = nn.Sequential(
            nn.Conv2d(aux_ch, aux_hidden, 3, 1, 1, bias=False), nn.BatchNorm2d(aux_hidden),
            nn.ReLU(inplace=True), nn.Dropout2d(0.1), nn.Conv2d(aux_hidden, 1, 1))
        self.blurskip = blurskip
        self.last_ch = in_ch
        self.total_stride = 8

    def forward(self, x: torch.Tensor, kernel_cond: Optional[torch.Tensor] = None) -> SegOutput:
        """Return (main logits, aux logits), both (B, 1, H, W), for ``x`` (B, 3, H, W)."""
        deep, aux_feat, sizes = self.encoder(x)
        fsize = deep.shape[-2:]
        pyramid = [deep] + [_up(conv(F.adaptive_avg_pool2d(deep, b)), fsize)
                            for b, conv in zip(self.bins, self.ppm)]
        p = self.drop(self.bottleneck(torch.cat(pyramid, dim=1)))
        targets = [sizes[2], sizes[1], sizes[0]]
        for stage, size in zip(self.decoder, targets):
            p = stage(_up(p, size))
        if self.blurskip is not None and kernel_cond is not None:
            p = self.blurskip(p, kernel_cond)
        main = self.final(p)
        aux = _up(self.aux(aux_feat), sizes[0], align=True)
        return main, aux


class UNet(nn.Module):
    """U-Net with 4 down-sampling levels (widths w..16w), bilinear up-sampling, one head."""

    def __init__(self, width: int = 32, blurskip: Optional[BlurSkip] = None) -> None:
        super().__init__()
        w = width
        chs = [w, 2 * w, 4 * w, 8 * w, 16 * w]

        def double(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(_conv_bn_relu(i, o), _conv_bn_relu(o, o))

        self.enc = nn.ModuleList([double(3, chs[0])] +
                                 [double(chs[i], chs[i + 1]) for i in range(4)])
        self.dec = nn.ModuleList([double(chs[i + 1] + chs[i], chs[i]) for i in reversed(range(4))])
        self.final = nn.Conv2d(w, 1, 1)
        self.blurskip = blurskip
        self.last_ch = w
        self.total_stride = 16

    def forward(self, x: torch.Tensor, kernel_cond: Optional[torch.Tensor] = None) -> SegOutput:
        """Return (main logits (B, 1, H, W), None)."""
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2, ceil_mode=True))
            skips.append(x)
        x = skips.pop()
        for block in self.dec:
            skip = skips.pop()
            x = block(torch.cat([_up(x, skip.shape[-2:]), skip], dim=1))
        if self.blurskip is not None and kernel_cond is not None:
            x = self.blurskip(x, kernel_cond)
        return self.final(x), None
