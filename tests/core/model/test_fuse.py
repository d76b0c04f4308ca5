"""Inference rewrites keep the network's function (BN folded, PReLU as LeakyReLU, SFT split)."""
from __future__ import annotations

import copy

import pytest
import torch
from csbsr.core.model.blocks import SFT
from csbsr.core.model.fuse import SplitSFT, fuse_for_inference
from csbsr.core.model.registry import build_model


@pytest.mark.parametrize("arch", ["psp_lite", "thin_unet"])
def test_fused_network_gives_the_same_output(arch: str, tiny_cfg) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_cfg(arch)).eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.fill_(0.2)
    fused = fuse_for_inference(copy.deepcopy(model))
    def count(net: torch.nn.Module, kind: type) -> int:
        return sum(isinstance(m, kind) for m in net.modules())

    assert count(fused, torch.nn.BatchNorm2d) < count(model, torch.nn.BatchNorm2d)
    assert count(fused, torch.nn.PReLU) == 0 < count(model, torch.nn.PReLU)
    assert count(fused, SFT) == 0 < count(model, SFT) == count(fused, SplitSFT)
    x = torch.rand(2, 3, 24, 24)
    with torch.inference_mode():
        a, b = model(x), fused(x)
    torch.testing.assert_close(b.seg_logits, a.seg_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b.sr, a.sr, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [1, 2])  # one image: the inside value joins the bias
@pytest.mark.parametrize("act", ["lrelu", "prelu"])
@pytest.mark.parametrize("size", [(1, 1), (1, 6), (2, 2), (3, 3), (5, 8), (19, 11)])
def test_split_sft_is_the_sft_at_every_size(act: str, size: tuple, batch: int) -> None:
    """Inside, on the edges and at the corners (zero padding of the condition map)."""
    torch.manual_seed(1)
    sft = SFT(6, 4, 5, act=act).eval()
    split = SplitSFT(copy.deepcopy(sft), 6).eval()
    feat, cond = torch.randn(batch, 6, *size), torch.randn(batch, 4)
    with torch.inference_mode():
        want = sft(feat, cond)
        got = split(feat, cond)
        got_cl = split.to(memory_format=torch.channels_last)(
            feat.contiguous(memory_format=torch.channels_last), cond)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_cl, want, rtol=1e-5, atol=1e-5)
