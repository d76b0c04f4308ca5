"""Shared layers of the CSBSR networks: projection units, SFT modulation, kernel helpers.

All modules take plain integers; none receives a config object.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: (kernel, stride, padding) of the back-projection convs per scale factor (DBPN geometry):
#: a deconv maps h -> scale*h and the conv maps it back, for any h.
PROJECTION_GEOMETRY = {2: (6, 2, 2), 4: (8, 4, 2), 8: (12, 8, 2)}


def projection_geometry(scale: int) -> Tuple[int, int, int]:
    """Return (kernel, stride, padding) of the up/down projection convs for ``scale``."""
    try:
        return PROJECTION_GEOMETRY[scale]
    except KeyError as exc:
        valid = sorted(PROJECTION_GEOMETRY)
        raise ValueError(f"scale must be one of {valid}, got {scale}") from exc


def prelu() -> nn.PReLU:
    """A single-parameter PReLU initialised at 0.01, as in KBPN."""
    return nn.PReLU(num_parameters=1, init=0.01)


class UpProjection(nn.Module):
    """DBPN up-projection unit: LR features (B, in_ch, h, w) -> HR features (B, ch, s*h, s*w).

    A 1x1 fuse conv (with bias) first maps ``in_ch`` to ``ch``; then
    ``h0 = up(x); l0 = down(h0); h1 = up(l0 - x); return h0 + h1``.
    """

    def __init__(self, in_ch: int, ch: int, scale: int) -> None:
        super().__init__()
        k, s, p = projection_geometry(scale)
        self.fuse = nn.Sequential(nn.Conv2d(in_ch, ch, 1), prelu())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(ch, ch, k, s, p, bias=False), prelu())
        self.down = nn.Sequential(nn.Conv2d(ch, ch, k, s, p, bias=False), prelu())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(ch, ch, k, s, p, bias=False), prelu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the module to ``x``."""
        x = self.fuse(x)
        h0 = self.up1(x)
        l0 = self.down(h0)
        h1 = self.up2(l0 - x)
        return h0 + h1


class DownProjection(nn.Module):
    """DBPN down-projection unit: HR features (B, in_ch, H, W) -> LR features (B, ch, H/s, W/s)."""

    def __init__(self, in_ch: int, ch: int, scale: int) -> None:
        super().__init__()
        k, s, p = projection_geometry(scale)
        self.fuse = nn.Sequential(nn.Conv2d(in_ch, ch, 1), prelu())
        self.down1 = nn.Sequential(nn.Conv2d(ch, ch, k, s, p, bias=False), prelu())
        self.up = nn.Sequential(nn.ConvTranspose2d(ch, ch, k, s, p, bias=False), prelu())
        self.down2 = nn.Sequential(nn.Conv2d(ch, ch, k, s, p, bias=False), prelu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the module to ``x``."""
        x = self.fuse(x)
        l0 = self.down1(x)
        h0 = self.up(l0)
        l1 = self.down2(h0 - x)
        return l0 + l1


class SFT(nn.Module):
    """Spatial feature transform conditioned on a per-image vector.

    ``out = feat * sigmoid(scale_net(z)) + shift_net(z)`` with ``z = concat(feat, cond)`` and
    ``cond`` (B, cond_ch) broadcast over H x W. Each branch is 3x3 conv -> LeakyReLU(0.1) ->
    3x3 conv (with bias). ``hidden = 0`` keeps the input width (feat_ch + cond_ch), as in
    the reference; a small ``hidden`` gives the lite variant.
    """

    def __init__(self, feat_ch: int, cond_ch: int, hidden: int = 0, act: str = "lrelu") -> None:
        super().__init__()
        z_ch = feat_ch + cond_ch
        hid = hidden or z_ch

        def branch() -> nn.Sequential:
            activation: nn.Module = nn.LeakyReLU(0.1, inplace=True) if act == "lrelu" else prelu()
            return nn.Sequential(nn.Conv2d(z_ch, hid, 3, 1, 1), activation,
                                 nn.Conv2d(hid, feat_ch, 3, 1, 1))

        self.scale = branch()
        self.shift = branch()

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Modulate ``feat`` (B, C, H, W) by ``cond`` (B, cond_ch)."""
        b, _, h, w = feat.shape
        z = torch.cat([feat, cond[:, :, None, None].expand(b, cond.shape[1], h, w)], dim=1)
        return feat * torch.sigmoid(self.scale(z)) + self.shift(z)


def code_to_kernel(code: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Resize a positive kernel code to the full kernel support and renormalise.

    Args:
        code: (B, k, k) non-negative, e.g. a softmax over k*k logits.
        kernel_size: side of the output kernel (odd, >= k).

    Returns:
        (B, kernel_size, kernel_size), >= 0 and summing to 1 per sample. Bicubic resizing
        can overshoot below zero, so the result is clamped before renormalising.
    """
    k = F.interpolate(code[:, None], size=(kernel_size, kernel_size), mode="bicubic",
                      align_corners=False)[:, 0]
    k = k.clamp_min(0.0)
    return k / k.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def kernel_to_code(kernel: torch.Tensor, code_size: int) -> torch.Tensor:
    """Project a full kernel (B, K, K) onto a (B, k, k) code: area-resize, clamp, renormalise."""
    c = F.interpolate(kernel[:, None], size=(code_size, code_size), mode="area")[:, 0]
    c = c.clamp_min(0.0)
    return c / c.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def blur_downsample(img: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """Blur each sample with its own kernel, then area-downsample by ``stride``: pseudo-LR.

    The s x s box of the area filter is folded into the blur kernel, so the whole operator is
    one strided grouped convolution over the batch (no per-sample Python loop), evaluated
    only at the LR sample positions, and LR pixel ``i`` stays centred on HR coordinate
    ``s*i + (s-1)/2`` as in bicubic/area resizing. Reflect padding at the borders.

    Args:
        img: (B, C, H, W) with H and W multiples of ``stride``.
        kernel: (B, K, K), one kernel per sample shared by all channels (K odd).
        stride: the SR scale.

    Returns:
        (B, C, H/stride, W/stride).
    """
    b, c, h, w = img.shape
    ks = kernel.shape[-1]
    pad = ks // 2
    k = kernel.to(img.dtype)[:, None]
    if stride > 1:
        box = torch.full((1, 1, stride, stride), 1.0 / stride**2, dtype=img.dtype,
                         device=img.device)
        k = F.conv2d(k, box, padding=stride - 1)  # (B, 1, K+s-1, K+s-1), still sums to 1
    mode = "reflect" if min(h, w) > pad else "replicate"
    x = F.pad(img, (pad, pad, pad, pad), mode=mode).reshape(1, b * c, h + 2 * pad, w + 2 * pad)
    weight = k.repeat_interleave(c, dim=0)  # (B*C, 1, K', K')
    out = F.conv2d(x, weight, stride=stride, groups=b * c)
    return out.reshape(b, c, out.shape[-2], out.shape[-1])
