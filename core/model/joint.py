"""The joint CSBSR model: blind SR -> clip + normalise -> crack segmentation.

Gradients of the segmentation loss flow through the normalisation into the SR network;
that end-to-end coupling is what makes the SR crack-aware. ``forward`` returns outputs
only; losses live in ``core/losses.py``.

Two switches make a model tile-exact (its output for a pixel does not depend on where a
tile starts or how large it is):

* ``input_norm="fixed"`` normalises the SR image with constants instead of per-image
  (instance) statistics;
* ``kernel_scope="raster"`` estimates the blur kernel once (:meth:`JointSRSeg.estimate_kernel`
  over windows of the raster) and runs every tile with that kernel, instead of estimating
  it inside each tile. In training the kernel is estimated on the whole crop, without
  gradient, then the SR and segmentation run with it, exactly as at inference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .sr import KBPN, SROutput


@dataclass
class JointOutput:
    """Output of :class:`JointSRSeg` for an LR batch (B, 3, h, w) and scale s.

    Attributes:
        sr: (B, 3, s*h, s*w) super-resolved image, unclipped.
        seg_logits: (B, 1, s*h, s*w) crack logits (probability = sigmoid).
        aux_logits: auxiliary logits: PSPNet's aux head (B, 1, s*h, s*w), ThinCrackUNet's
            side heads at 1/2, 1/4, 1/8 (training only); empty when there are none.
        kernel: (B, K, K) estimated blur kernel (>= 0, sums to 1).
        kernel_logits: (B, k*k) logits of the kernel code.
        kernel_cond: (B, D) kernel conditioning vector (fed to BlurSkip).
    """

    sr: torch.Tensor
    seg_logits: torch.Tensor
    aux_logits: Tuple[torch.Tensor, ...]
    kernel: torch.Tensor
    kernel_logits: torch.Tensor
    kernel_cond: torch.Tensor


#: mean and standard deviation of the "fixed" input normalisation ([0, 1] images)
FIXED_MEAN, FIXED_STD = 0.5, 0.25


def normalise_for_segmentation(img: torch.Tensor, mode: str = "instance") -> torch.Tensor:
    """Clip to [0, 1], then standardise.

    ``mode="instance"``: each image and channel over H x W (InstanceNorm, the paper; depends
    on the tile). ``mode="fixed"``: ``(x - 0.5) / 0.25`` (the same for every tile). The clip
    is applied in training *and* inference (the reference clips only at test time).
    """
    img = img.clamp(0.0, 1.0)
    if mode == "fixed":
        return (img - FIXED_MEAN) / FIXED_STD
    return F.instance_norm(img, eps=1e-5)


def _as_tuple(aux: object) -> Tuple[torch.Tensor, ...]:
    if aux is None:
        return ()
    if isinstance(aux, torch.Tensor):
        return (aux,)
    return tuple(aux)  # type: ignore[arg-type]


class JointSRSeg(nn.Module):
    """CSBSR: ``sr_net`` (KBPN) and ``seg_net`` (PSPNet/U-Net) composed by injection.

    Args:
        sr_net: the blind SR network.
        seg_net: a segmentation network taking (x, kernel_cond) and returning logits.
        use_blurskip: feed the kernel conditioning into the segmentation decoder.
        input_norm: "instance" or "fixed" (see :func:`normalise_for_segmentation`).
        kernel_scope: "tile" or "raster" (see the module doc).
    """

    def __init__(self, sr_net: KBPN, seg_net: nn.Module, use_blurskip: bool,
                 input_norm: str = "instance", kernel_scope: str = "tile") -> None:
        super().__init__()
        self.sr_net = sr_net
        self.seg_net = seg_net
        self.use_blurskip = use_blurskip
        self.input_norm = input_norm
        self.kernel_scope = kernel_scope

    @property
    def scale(self) -> int:
        """The SR factor."""
        return self.sr_net.scale

    @property
    def tile_align(self) -> int:
        """LR pixels that tile offsets must be multiples of to keep the segmentation
        network's stride grid aligned with a whole-image run (its total stride / scale)."""
        stride = int(getattr(self.seg_net, "total_stride", 1))
        return max(1, stride // self.scale)

    def segment(self, img: torch.Tensor,
                kernel_cond: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Segment an HR image (B, 3, H, W) in [0, 1]: returns (logits, aux logits)."""
        logits, aux = self.seg_net(normalise_for_segmentation(img, self.input_norm),
                                   kernel_cond if self.use_blurskip else None)
        return logits, _as_tuple(aux)

    @torch.no_grad()
    def estimate_kernel(self, lr: torch.Tensor) -> torch.Tensor:
        """One blur kernel (K, K) for a stack of LR windows (B, 3, h, w) of one raster.

        Runs the blind SR path on each window and averages the final kernel estimates
        (a mean of kernels is still >= 0 and sums to 1).
        """
        return self.sr_net(lr).kernel.float().mean(dim=0)

    def super_resolve(self, lr: torch.Tensor, gt_kernel: Optional[torch.Tensor] = None,
                      kernel: Optional[torch.Tensor] = None) -> SROutput:
        """The SR half of :meth:`forward` (same arguments), honouring ``kernel_scope``."""
        if gt_kernel is None and kernel is None and self.kernel_scope == "raster":
            kernel = _estimate_detached(self.sr_net, lr)
        if gt_kernel is None and kernel is not None:
            gt_kernel = kernel.expand(lr.shape[0], *kernel.shape[-2:]) if kernel.dim() == 2 \
                else kernel
        return self.sr_net(lr, gt_kernel)

    def forward(self, lr: torch.Tensor, gt_kernel: Optional[torch.Tensor] = None,
                kernel: Optional[torch.Tensor] = None) -> JointOutput:
        """Run SR then segmentation on ``lr`` (B, 3, h, w) in [0, 1].

        Args:
            lr: the LR batch.
            gt_kernel: the true kernel (B, K, K): non-blind SR (training phase 1).
            kernel: a kernel estimated beforehand (K, K) or (B, K, K), e.g. once per raster;
                with ``kernel_scope="raster"`` and no kernel, each sample's kernel is
                estimated on the sample itself first.
        """
        out = self.super_resolve(lr, gt_kernel, kernel)
        logits, aux = self.segment(out.sr, out.kernel_cond)
        return JointOutput(sr=out.sr, seg_logits=logits, aux_logits=aux, kernel=out.kernel,
                           kernel_logits=out.kernel_logits, kernel_cond=out.kernel_cond)

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Parameters by role: "kernel" (the kernel estimator), "sr" (the rest of the SR
        network), "seg" (segmentation without BlurSkip) and "blurskip".

        The trainer freezes and unfreezes these groups; it never looks inside a network.
        """
        kernel_ids = {id(p) for m in self.sr_net.kernel_estimator() for p in m.parameters()}
        blurskip = getattr(self.seg_net, "blurskip", None)
        bs_ids = {id(p) for p in blurskip.parameters()} if blurskip is not None else set()
        return {
            "kernel": [p for p in self.sr_net.parameters() if id(p) in kernel_ids],
            "sr": [p for p in self.sr_net.parameters() if id(p) not in kernel_ids],
            "seg": [p for p in self.seg_net.parameters() if id(p) not in bs_ids],
            "blurskip": [p for p in self.seg_net.parameters() if id(p) in bs_ids],
        }


def _estimate_detached(sr_net: nn.Module, lr: torch.Tensor) -> torch.Tensor:
    """Per-sample kernel estimates (B, K, K) without gradient (BN/dropout modes unchanged)."""
    with torch.no_grad():
        return sr_net(lr).kernel.detach()
