"""KBPN: blind super-resolution by kernel estimation and back-projection (CSBSR's SR network).

Data flow for an LR image (B, 3, h, w) in [0, 1] and scale s:

1. shallow features F0 (B, C, h, w);
2. an initial kernel estimate: logits (B, k*k) from F0 (conv stack + global average pool),
   softmax -> k x k code -> bicubic to the K x K support -> clamp >= 0 -> renormalise.
   The kernel is therefore always positive and sums to 1 (the reference divides raw
   outputs by their sum, which can blow up);
3. T back-projection stages: up-projection to HR, intermediate SR image, kernel refinement
   (delta logits from the intermediate SR and the current kernel), pseudo-LR by
   re-degrading the intermediate SR with the current kernel, and back-projection of the LR
   error into the HR features; between stages a down-projection and an SFT modulation of
   the LR features by the kernel;
4. reconstruction conv on all HR features + a bicubic skip.

With ``gt_kernel`` the network runs non-blind (training phase 1): the true kernel replaces
the estimate and the refiners are bypassed.

Kernel conditioning is either "broadcast" (the K*K kernel taps as constant channels, as in
the paper: 37 M parameters of SFT alone) or "embedding" (a small MLP embedding of the code).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (
    SFT,
    DownProjection,
    UpProjection,
    blur_downsample,
    code_to_kernel,
    kernel_to_code,
    prelu,
    projection_geometry,
)


@dataclass
class SROutput:
    """Output of :class:`KBPN`.

    Attributes:
        sr: (B, 3, s*h, s*w) super-resolved image, unclipped (about [0, 1]).
        kernel: (B, K, K) estimated (or given) blur kernel, >= 0, sums to 1.
        kernel_logits: (B, k*k) logits of the kernel code (softmax gives the code).
        kernel_cond: (B, D) conditioning vector derived from the kernel (for BlurSkip).
    """

    sr: torch.Tensor
    kernel: torch.Tensor
    kernel_logits: torch.Tensor
    kernel_cond: torch.Tensor


class KernelConditioner(nn.Module):
    """Maps a kernel to the conditioning vector of the SFT layers and refiners.

    "broadcast": the flattened K x K kernel itself (D = K*K), as in the paper.
    "embedding": an MLP (k*k -> E -> E) of the k x k code (D = E), the lite variant.
    """

    def __init__(self, mode: str, kernel_size: int, code_size: int, embed_dim: int) -> None:
        super().__init__()
        self.mode = mode
        if mode == "broadcast":
            self.dim = kernel_size * kernel_size
            self.mlp = None
        else:
            self.dim = embed_dim
            self.mlp = nn.Sequential(
                nn.Linear(code_size * code_size, embed_dim), nn.LeakyReLU(0.1, inplace=True),
                nn.Linear(embed_dim, embed_dim),
            )

    def forward(self, kernel: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Return (B, D) from ``kernel`` (B, K, K) and ``code`` (B, k*k), both summing to 1."""
        if self.mlp is None:
            return kernel.flatten(1)
        # scale so that a uniform code has entries of order 1
        return self.mlp(code * code.shape[1])


class KernelRefinerBroadcast(nn.Module):
    """Per-stage kernel refinement of the paper (IKC-like), at HR resolution.

    Image branch on the intermediate SR (3 -> k2 -> 32 -> 32 -> 32 -> k2), kernel branch on
    the broadcast K*K kernel (-> k2 -> k2), fusion (2*k2 -> 32 -> 32 -> k2), global average
    pool: returns delta logits (B, k2). All convs bias-free (277,989 parameters for k=7, K=21).
    """

    def __init__(self, cond_dim: int, code_size: int) -> None:
        super().__init__()
        k2 = code_size * code_size
        lrelu = nn.LeakyReLU(0.01, inplace=True)
        self.image = nn.Sequential(
            nn.Conv2d(3, k2, 3, 1, 1, bias=False), nn.ReLU(inplace=True),
            nn.Conv2d(k2, 32, 1, bias=False), lrelu,
            nn.Conv2d(32, 32, 3, 1, 1, bias=False), lrelu,
            nn.Conv2d(32, 32, 3, 1, 1, bias=False), lrelu,
            nn.Conv2d(32, k2, 3, 1, 1, bias=False), lrelu,
        )
        self.kernel = nn.Sequential(
            nn.Conv2d(cond_dim, k2, 3, 1, 1, bias=False), lrelu,
            nn.Conv2d(k2, k2, 3, 1, 1, bias=False), lrelu,
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * k2, 32, 1, bias=False), lrelu,
            nn.Conv2d(32, 32, 3, 1, 1, bias=False), lrelu,
            nn.Conv2d(32, k2, 3, 1, 1, bias=False),
        )

    def forward(self, sr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Return delta logits (B, k2) from ``sr`` (B, 3, H, W) and ``cond`` (B, D)."""
        b, _, h, w = sr.shape
        cmap = cond[:, :, None, None].expand(b, cond.shape[1], h, w)
        z = torch.cat([self.image(sr), self.kernel(cmap)], dim=1)
        return self.fuse(z).mean(dim=(2, 3))


class KernelRefinerEmbed(nn.Module):
    """Lite kernel refinement: strided image branch back to LR size + the kernel embedding."""

    def __init__(self, cond_dim: int, code_size: int, scale: int, width: int = 16) -> None:
        super().__init__()
        k2 = code_size * code_size
        layers: list = []
        in_ch = 3
        for _ in range(int(round(math.log2(scale)))):
            layers += [nn.Conv2d(in_ch, width, 3, 2, 1), prelu()]
            in_ch = width
        self.image = nn.Sequential(*layers)
        self.fuse = nn.Sequential(
            nn.Conv2d(width + cond_dim, width, 3, 1, 1), prelu(),
            nn.Conv2d(width, k2, 3, 1, 1),
        )

    def forward(self, sr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Return delta logits (B, k2) from ``sr`` (B, 3, H, W) and ``cond`` (B, D)."""
        f = self.image(sr)
        b, _, h, w = f.shape
        z = torch.cat([f, cond[:, :, None, None].expand(b, cond.shape[1], h, w)], dim=1)
        return self.fuse(z).mean(dim=(2, 3))


def _shallow_features(channels: int, depth: int) -> nn.Sequential:
    """VGG-like (depth 4: 3 -> C/2 -> C/2 -> C -> C, ReLU) or lite (depth 2, PReLU) features."""
    if depth == 4:
        half = max(channels // 2, 1)
        return nn.Sequential(
            nn.Conv2d(3, half, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(half, channels, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True),
        )
    return nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), prelu(),
                         nn.Conv2d(channels, channels, 3, 1, 1), prelu())


class KBPN(nn.Module):
    """Kernel back-projection network for blind SR.

    Args:
        scale: SR factor (2, 4 or 8).
        channels: feature width C.
        stages: number of back-projection stages T.
        feat_depth: 4 (VGG-like shallow features, paper) or 2 (lite).
        kernel_size: kernel support K in HR pixels (odd).
        code_size: side k of the estimated kernel code (odd, <= K).
        head_depth: convs of the initial kernel estimator.
        conditioning: "broadcast" (paper) or "embedding" (lite).
        embed_dim: embedding width for "embedding".
        sft_hidden: hidden width of the SFT layers (0 = input width, paper).
    """

    def __init__(self, scale: int = 4, channels: int = 16, stages: int = 2, feat_depth: int = 2,
                 kernel_size: int = 21, code_size: int = 7, head_depth: int = 2,
                 conditioning: str = "embedding", embed_dim: int = 16,
                 sft_hidden: int = 32) -> None:
        super().__init__()
        projection_geometry(scale)  # validates the scale
        self.scale = scale
        self.kernel_size = kernel_size
        self.code_size = code_size
        self.stages = stages
        c = channels
        k2 = code_size * code_size
        self.feat = _shallow_features(c, feat_depth)
        head: list = []
        for _ in range(head_depth - 1):
            head += [nn.Conv2d(c, c, 3, 1, 1, bias=False), prelu()]
        head += [nn.Conv2d(c, k2, 3, 1, 1, bias=False)]
        self.kernel_head = nn.Sequential(*head)
        self.conditioner = KernelConditioner(conditioning, kernel_size, code_size, embed_dim)
        d = self.conditioner.dim
        k, s, p = projection_geometry(scale)
        # LR width entering stage t (0-based): C for t = 0 and 1, then t*C (m = 1, 1, 2, 3...)
        self.up = nn.ModuleList(
            [UpProjection(c * max(t, 1), c, scale) for t in range(stages)])
        self.inter_sr = nn.ModuleList(
            [nn.Conv2d(c * (t + 1), 3, 3, 1, 1, bias=False) for t in range(stages)])
        if conditioning == "broadcast":
            self.refiners = nn.ModuleList(
                [KernelRefinerBroadcast(d, code_size) for _ in range(stages)])
        else:
            self.refiners = nn.ModuleList(
                [KernelRefinerEmbed(d, code_size, scale) for _ in range(stages)])
        self.err_up = nn.ModuleList(
            [nn.Sequential(nn.ConvTranspose2d(3, c, k, s, p, bias=False), prelu())
             for _ in range(stages)])
        self.down = nn.ModuleList(
            [DownProjection(c * (t + 1), c, scale) for t in range(stages - 1)])
        self.sft = nn.ModuleList(
            [SFT(c * (t + 1), d, sft_hidden) for t in range(stages - 1)])
        self.out_conv = nn.Conv2d(c * stages, 3, 3, 1, 1, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # start close to "no correction": tiny residual images and kernel updates, so an
        # untrained network returns about the bicubic image and the initial kernel estimate
        # (tiny, not zero, so that gradients reach every layer from the first step)
        for conv in [*self.inter_sr, self.out_conv]:
            nn.init.normal_(conv.weight, std=1e-3)
        for ref in self.refiners:
            nn.init.normal_(ref.fuse[-1].weight, std=1e-3)  # type: ignore[index, union-attr]
        nn.init.normal_(self.kernel_head[-1].weight, std=1e-3)  # type: ignore[arg-type]

    # -- kernel helpers ------------------------------------------------------------------
    def kernel_estimator(self) -> list:
        """The modules that estimate the kernel (initial head and per-stage refiners)."""
        return [self.kernel_head, self.refiners]

    def kernel_from_logits(self, logits: torch.Tensor) -> tuple:
        """Return (code (B, k*k) summing to 1, kernel (B, K, K) summing to 1)."""
        code = torch.softmax(logits.float(), dim=1)
        b = code.shape[0]
        kernel = code_to_kernel(code.view(b, self.code_size, self.code_size), self.kernel_size)
        return code, kernel

    def initial_logits(self, f0: torch.Tensor) -> torch.Tensor:
        """Initial kernel-code logits (B, k*k) from shallow features (B, C, h, w)."""
        return self.kernel_head(f0).mean(dim=(2, 3))

    def forward(self, lr: torch.Tensor, gt_kernel: torch.Tensor | None = None) -> SROutput:
        """Super-resolve ``lr`` (B, 3, h, w); non-blind when ``gt_kernel`` (B, K, K) is given."""
        s = self.scale
        bic = F.interpolate(lr, scale_factor=s, mode="bicubic", align_corners=False)
        f0 = self.feat(lr)
        if gt_kernel is None:
            logits = self.initial_logits(f0)
            code, kernel = self.kernel_from_logits(logits)
        else:
            kernel = gt_kernel.float()
            code = kernel_to_code(kernel, self.code_size).flatten(1)
            logits = torch.log(code + 1e-8)
        cond = self.conditioner(kernel, code).to(f0.dtype)
        lr_stream = f0
        hr_feats: list = []
        lr_feats: list = []
        for t in range(self.stages):
            h = self.up[t](lr_stream)
            sr_t = self.inter_sr[t](torch.cat([*hr_feats, h], dim=1)) + bic
            if gt_kernel is None:
                logits = logits + self.refiners[t](sr_t, cond).float()
                code, kernel = self.kernel_from_logits(logits)
                cond = self.conditioner(kernel, code).to(f0.dtype)
            pseudo_lr = blur_downsample(sr_t, kernel, s)
            h = h + self.err_up[t](pseudo_lr - lr)
            hr_feats.append(h)
            if t < self.stages - 1:
                lr_feats.append(self.down[t](torch.cat(hr_feats, dim=1)))
                lr_stream = self.sft[t](torch.cat(lr_feats, dim=1), cond)
        sr = self.out_conv(torch.cat(hr_feats, dim=1)) + bic
        return SROutput(sr=sr, kernel=kernel, kernel_logits=logits, kernel_cond=cond)
