"""ThinCrackUNet: a crack segmentation network that keeps full- and half-resolution detail.

Designed for 1-3 px cracks in super-resolved images (``docs/results.md`` explains the
choice against PSP-lite):

* the stem runs at **stride 1** (two 3x3 convs at full resolution), so a 1 px line is
  seen whole before any down-sampling; every level is kept as a skip;
* three stride-2 levels (1/2, 1/4, 1/8) of dense 3x3 conv-BN-ReLU pairs; the 1/8 level
  adds context with fixed-extent dilated convs (dilation 2 and 4) instead of pyramid or
  global pooling, so the output never depends on the tile's extent (tile-exact);
* the decoder is FPN-like: a 1x1 projection to the finer level's width, x2 bilinear
  up-sampling (``align_corners=False``), addition of that level's skip and one 3x3
  conv-BN-ReLU, back to full resolution (addition instead of concatenation halves the
  decoder's cost and memory traffic at full resolution);
* side heads at 1/8, 1/4 and 1/2 give deep supervision during training (returned as
  ``aux``; inference uses only the main head);
* optional BlurSkip on the full-resolution decoder features (CSBSR's path b).

BatchNorm only (eval mode at inference: fixed statistics), dense convs with widths that are
multiples of 16 (fast on oneDNN/AMX and cuDNN in bf16, channels-last).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .seg import BlurSkip, _conv_bn_relu

#: HR pixels per cell of the coarsest level: tile origins must be multiples of this
TOTAL_STRIDE = 8


def _pair(in_ch: int, ch: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv_bn_relu(in_ch, ch, 1, dilation), _conv_bn_relu(ch, ch, 1, dilation))


class ThinCrackUNet(nn.Module):
    """U-Net with a stride-1 stem, dilated 1/8 context and deep supervision (logits).

    Args:
        widths: channels at 1/1, 1/2, 1/4 and 1/8 resolution (e.g. 16, 32, 64, 128).
        context_dilations: dilations of the extra 3x3 convs at 1/8 (fixed extent).
        side_heads: build the 1/8, 1/4, 1/2 heads for deep supervision.
        blurskip: optional BlurSkip on the last (full-resolution) decoder features.

    ``forward(x, kernel_cond)`` maps a normalised image (B, 3, H, W) to
    ``(main (B, 1, H, W), aux)`` where ``aux`` is a tuple of side logits at 1/2, 1/4, 1/8
    resolution (empty in eval mode or without side heads). H and W may be any size; for
    tile-exact output they should be multiples of :data:`TOTAL_STRIDE`.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 128),
                 context_dilations: Sequence[int] = (2, 4), side_heads: bool = True,
                 blurskip: Optional[BlurSkip] = None) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths must give 4 levels, got {tuple(widths)}")
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.stem = _pair(3, w0)
        self.down1 = nn.Sequential(_conv_bn_relu(w0, w1, 2), _conv_bn_relu(w1, w1))
        self.down2 = nn.Sequential(_conv_bn_relu(w1, w2, 2), _conv_bn_relu(w2, w2))
        self.down3 = nn.Sequential(_conv_bn_relu(w2, w3, 2), _conv_bn_relu(w3, w3))
        self.context = nn.Sequential(*[_conv_bn_relu(w3, w3, 1, d) for d in context_dilations])
        self.lat2, self.fuse2 = nn.Conv2d(w3, w2, 1), _conv_bn_relu(w2, w2)
        self.lat1, self.fuse1 = nn.Conv2d(w2, w1, 1), _conv_bn_relu(w1, w1)
        self.lat0, self.fuse0 = nn.Conv2d(w1, w0, 1), _conv_bn_relu(w0, w0)
        self.final = nn.Conv2d(w0, 1, 1)
        self.sides = nn.ModuleList([nn.Conv2d(c, 1, 1) for c in (w1, w2, w3)]) \
            if side_heads else nn.ModuleList()
        self.blurskip = blurskip
        self.last_ch = w0
        self.total_stride = TOTAL_STRIDE

    def forward(self, x: torch.Tensor, kernel_cond: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Return (main logits (B, 1, H, W), side logits at 1/2, 1/4, 1/8 in training)."""
        f0 = self.stem(x)
        f1 = self.down1(f0)
        f2 = self.down2(f1)
        f3 = self.context(self.down3(f2))
        d2 = self.fuse2(_up_to(self.lat2(f3), f2) + f2)
        d1 = self.fuse1(_up_to(self.lat1(d2), f1) + f1)
        d0 = self.fuse0(_up_to(self.lat0(d1), f0) + f0)
        if self.blurskip is not None and kernel_cond is not None:
            d0 = self.blurskip(d0, kernel_cond)
        main = self.final(d0)
        aux: List[torch.Tensor] = []
        if self.training and len(self.sides):
            aux = [head(f) for head, f in zip(self.sides, (d1, d2, f3))]
        return main, tuple(aux)


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 (align_corners=False) of ``x``, cropped to ``ref``'s size.

    Up-sampling by an exact factor keeps the interpolation weights independent of the
    tile size; the crop handles odd sizes (ceil-mode strided convs).
    """
    up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return up[..., :ref.shape[-2], :ref.shape[-1]]
