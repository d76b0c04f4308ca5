"""Inference rewrites keep the network's function (BN folded, PReLU as LeakyReLU)."""
from __future__ import annotations

import copy

import pytest
import torch
from csbsr.core.model.fuse import fuse_for_inference
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
    x = torch.rand(2, 3, 24, 24)
    with torch.inference_mode():
        a, b = model(x), fused(x)
    torch.testing.assert_close(b.seg_logits, a.seg_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b.sr, a.sr, rtol=1e-4, atol=1e-4)
