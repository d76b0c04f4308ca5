"""Joint model: shapes, gradient coupling from segmentation into SR, parameter counts."""
from __future__ import annotations

import pytest
import torch
from csbsr.core.config import ModelConfig, named_model_config
from csbsr.core.model.factory import build_model
from csbsr.core.model.joint import JointOutput
from csbsr.core.model.summary import count_params


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("hw", [(16, 16), (15, 21)])
def test_forward_shapes(scale: int, hw: tuple) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(scale=scale, sr_channels=8, seg_width=8)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *hw))
    assert isinstance(out, JointOutput)
    H, W = hw[0] * scale, hw[1] * scale
    assert out.sr.shape == (2, 3, H, W)
    assert out.seg_logits.shape == (2, 1, H, W)
    assert out.aux_logits.shape == (2, 1, H, W)
    assert out.kernel.shape == (2, 21, 21)


def test_segmentation_loss_gradient_reaches_the_first_sr_layer() -> None:
    torch.manual_seed(1)
    model = build_model(ModelConfig(sr_channels=8, seg_width=8)).train()
    lr = torch.rand(2, 3, 16, 16)
    mask = (torch.rand(2, 1, 64, 64) > 0.9).float()
    out = model(lr)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out.seg_logits, mask)
    loss.backward()
    first = model.sr_net.feat[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    head = model.sr_net.kernel_head[0].weight.grad
    assert head is not None and head.abs().sum() > 0


def test_no_gradient_into_sr_when_the_sr_output_is_detached() -> None:
    """Negative control for the coupling test: the test above can fail."""
    torch.manual_seed(1)
    model = build_model(ModelConfig(sr_channels=8, seg_width=8)).train()
    out = model.sr_net(torch.rand(2, 3, 16, 16))
    logits, _ = model.segment(out.sr.detach())
    logits.mean().backward()
    assert model.sr_net.feat[0].weight.grad is None


def test_paper_parameter_counts_match_the_reference() -> None:
    model = build_model(named_model_config("paper", blurskip=False))
    assert count_params(model.sr_net) == pytest.approx(61.16e6, rel=0.02)
    assert count_params(model.seg_net) == pytest.approx(28.09e6, rel=0.02)
    with_bs = build_model(named_model_config("paper"))
    assert count_params(with_bs.seg_net.blurskip) == pytest.approx(10.42e6, rel=0.02)


def test_lite_is_about_one_million_parameters() -> None:
    model = build_model(named_model_config("lite"))
    assert 0.5e6 < count_params(model) < 1.5e6
