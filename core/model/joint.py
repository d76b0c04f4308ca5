"""The joint CSBSR model: blind SR -> clip + instance-normalise -> crack segmentation.

Gradients of the segmentation loss flow through the normalisation into the SR network;
that end-to-end coupling is what makes the SR crack-aware. ``forward`` returns outputs
only; losses live in ``core/losses.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .sr import KBPN


@dataclass
class JointOutput:
    """Output of :class:`JointSRSeg` for an LR batch (B, 3, h, w) and scale s.

    Attributes:
        sr: (B, 3, s*h, s*w) super-resolved image, unclipped.
        seg_logits: (B, 1, s*h, s*w) crack logits (probability = sigmoid).
        aux_logits: (B, 1, s*h, s*w) auxiliary-head logits, or None (U-Net).
        kernel: (B, K, K) estimated blur kernel (>= 0, sums to 1).
        kernel_logits: (B, k*k) logits of the kernel code.
        kernel_cond: (B, D) kernel conditioning vector (fed to BlurSkip).
    """

    sr: torch.Tensor
    seg_logits: torch.Tensor
    aux_logits: Optional[torch.Tensor]
    kernel: torch.Tensor
    kernel_logits: torch.Tensor
    kernel_cond: torch.Tensor


def normalise_for_segmentation(img: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1], then standardise each image and channel over H x W (InstanceNorm).

    The clip is applied in training *and* inference (the reference clips only at test time).
    """
    return F.instance_norm(img.clamp(0.0, 1.0), eps=1e-5)


class JointSRSeg(nn.Module):
    """CSBSR: ``sr_net`` (KBPN) and ``seg_net`` (PSPNet/U-Net) composed by injection.

    Args:
        sr_net: the blind SR network.
        seg_net: a segmentation network taking (x, kernel_cond) and returning logits.
        use_blurskip: feed the kernel conditioning into the segmentation decoder.
    """

    def __init__(self, sr_net: KBPN, seg_net: nn.Module, use_blurskip: bool) -> None:
        super().__init__()
        self.sr_net = sr_net
        self.seg_net = seg_net
        self.use_blurskip = use_blurskip

    @property
    def scale(self) -> int:
        """The SR factor."""
        return self.sr_net.scale

    def segment(self, img: torch.Tensor,
                kernel_cond: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Segment an HR image (B, 3, H, W) in [0, 1]: returns (logits, aux_logits)."""
        return self.seg_net(normalise_for_segmentation(img),
                            kernel_cond if self.use_blurskip else None)

    def forward(self, lr: torch.Tensor, gt_kernel: Optional[torch.Tensor] = None) -> JointOutput:
        """Run SR then segmentation on ``lr`` (B, 3, h, w) in [0, 1]."""
        out = self.sr_net(lr, gt_kernel)
        logits, aux = self.segment(out.sr, out.kernel_cond)
        return JointOutput(sr=out.sr, seg_logits=logits, aux_logits=aux, kernel=out.kernel,
                           kernel_logits=out.kernel_logits, kernel_cond=out.kernel_cond)
