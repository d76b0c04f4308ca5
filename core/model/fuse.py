"""Inference-only rewrites of a trained network that keep its function and cut its cost.

* ``Conv2d`` followed by ``BatchNorm2d`` (eval mode) inside an ``nn.Sequential`` becomes one
  convolution with the normalisation folded into its weights and bias (the BN is replaced by
  an identity);
* a single-parameter ``PReLU`` becomes ``LeakyReLU`` with that slope (the same function; the
  fused elementwise kernel is several times faster on CPU, and KBPN applies PReLU to every
  HR feature map);
* an :class:`~.blocks.SFT` no longer concatenates its spatially constant condition to the
  features (a (B, C + D, H, W) tensor that torch lays out channels-first, so the branch
  convolutions at HR size fell off oneDNN's channels_last path, 4-5x slower): the first conv
  of each branch is split into its feature part (a conv over the C feature channels) and
  its condition part, which over a constant map is a per-row/column constant computed on a
  3 x 3 patch (zero padding included, so the image border is exact).

Outputs agree with the original network to float rounding (tested). Never used in training.
"""
from __future__ import annotations

from typing import Any, List

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .blocks import SFT


def fuse_for_inference(model: Any) -> Any:
    """Rewrite ``model`` in place (see the module doc); returns it, in eval mode."""
    model.eval()
    _fuse(model)
    return model


class SplitSFT(nn.Module):
    """An :class:`SFT` computed without concatenating its condition (see the module doc).

    Same function as the SFT it is built from: ``feat * sigmoid(scale(z)) + shift(z)`` with
    ``z = concat(feat, cond broadcast over H x W)``.
    """

    def __init__(self, sft: SFT, feat_ch: int) -> None:
        super().__init__()
        self.first = nn.ModuleList()
        self.rest = nn.ModuleList()
        for i, branch in enumerate((sft.scale, sft.shift)):
            conv = branch[0]
            assert isinstance(conv, nn.Conv2d)
            feat_conv = nn.Conv2d(feat_ch, conv.out_channels, 3, 1, 1, bias=conv.bias is not None)
            feat_conv.weight.data.copy_(conv.weight.data[:, :feat_ch])
            if conv.bias is not None and feat_conv.bias is not None:
                feat_conv.bias.data.copy_(conv.bias.data)
            self.first.append(feat_conv)
            self.register_buffer(f"cond_weight{i}", conv.weight.data[:, feat_ch:].clone())
            self.rest.append(nn.Sequential(*list(branch)[1:]))

    def _first_conv(self, i: int, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Branch ``i``'s first conv over ``concat(feat, cond map)``, without the concatenation.

        Over a constant map, a zero-padded 3 x 3 conv takes one value inside the image, one per
        edge and one per corner: the conv of a 3 x 3 patch of the map holds them all. The
        inside value joins the conv's bias (one image) or is added (several images).
        """
        conv = self.first[i]
        assert isinstance(conv, nn.Conv2d)
        weight = getattr(self, f"cond_weight{i}")
        h, w = feat.shape[-2:]
        ph, pw = min(h, 3), min(w, 3)
        patch = cond[:, :, None, None].to(weight.dtype).expand(*cond.shape, ph, pw)
        small = F.conv2d(patch, weight, padding=1)  # (B, hid, ph, pw)
        if h < 3 or w < 3:  # a tiny input: every pixel lies on an edge
            return conv(feat) + small[:, :, _edge_index(h), :][:, :, :, _edge_index(w)]
        inner = small[:, :, 1, 1]  # (B, hid)
        if inner.shape[0] == 1 and conv.bias is not None:
            y = F.conv2d(feat, conv.weight, conv.bias + inner[0].to(conv.bias.dtype), padding=1)
        else:
            y = conv(feat).add_(inner[:, :, None, None].to(feat.dtype))
        inner = inner[:, :, None]  # (B, hid, 1)
        cols = torch.tensor(_edge_index(w), device=y.device)
        y[:, :, 0, :] += (small[:, :, 0, :] - inner).index_select(2, cols).to(y.dtype)
        y[:, :, h - 1, :] += (small[:, :, 2, :] - inner).index_select(2, cols).to(y.dtype)
        y[:, :, 1:h - 1, 0] += (small[:, :, 1:2, 0] - inner).to(y.dtype)
        y[:, :, 1:h - 1, w - 1] += (small[:, :, 1:2, 2] - inner).to(y.dtype)
        return y

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Modulate ``feat`` (B, C, H, W) by ``cond`` (B, D)."""
        out = [rest(self._first_conv(i, feat, cond)) for i, rest in enumerate(self.rest)]
        return feat * torch.sigmoid(out[0]) + out[1]


def _edge_index(n: int) -> List[int]:
    """Row (or column) i of an n-long side -> its row in the 3 x 3 patch: first, inner, last."""
    if n < 3:
        return list(range(n))
    return [0] + [1] * (n - 2) + [2]


def _fuse(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, SFT) and _splittable(child):
            child = SplitSFT(child, _feat_channels(child))
            setattr(module, name, child)
        if isinstance(child, nn.PReLU) and child.weight.numel() == 1:
            setattr(module, name, nn.LeakyReLU(float(child.weight.detach().reshape(())),
                                               inplace=False))
            continue
        if isinstance(child, nn.Sequential):
            items = list(child)
            for i in range(len(items) - 1):
                a, b = items[i], items[i + 1]
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and \
                        b.track_running_stats and b.running_mean is not None:
                    child[i] = fuse_conv_bn_eval(a, b)
                    child[i + 1] = nn.Identity()
        _fuse(child)


def _splittable(sft: SFT) -> bool:
    """Both branches open with a plain zero-padded 3 x 3 conv over the concatenation."""
    firsts, feat_ch = [sft.scale[0], sft.shift[0]], _feat_channels(sft)
    return feat_ch > 0 and all(
        isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3) and c.padding == (1, 1)
        and c.stride == (1, 1) and c.dilation == (1, 1) and c.groups == 1
        and c.padding_mode == "zeros" and c.in_channels > feat_ch for c in firsts)


def _feat_channels(sft: SFT) -> int:
    """C of an SFT (its last conv maps back to the feature width)."""
    last = sft.scale[-1]
    return int(last.out_channels) if isinstance(last, nn.Conv2d) else -1
