"""Joint model: shapes, gradient coupling from segmentation into SR, parameter counts."""
from __future__ import annotations

import pytest
import torch
from csbsr.core.model.card import build_model
from csbsr.core.model.config import named_model_config
from csbsr.core.model.joint import JointOutput
from csbsr.core.model.summary import count_params


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("hw", [(16, 16), (15, 21)])
@pytest.mark.parametrize("arch", ["psp_lite", "thin_unet"])
def test_forward_shapes(scale: int, hw: tuple, arch: str, tiny_cfg) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_cfg(arch, scale=scale)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *hw))
    assert isinstance(out, JointOutput)
    H, W = hw[0] * scale, hw[1] * scale
    assert out.sr.shape == (2, 3, H, W)
    assert out.seg_logits.shape == (2, 1, H, W)
    if arch == "psp_lite":
        assert [a.shape for a in out.aux_logits] == [(2, 1, H, W)]
    else:  # side heads only in training
        assert out.aux_logits == ()
    assert out.kernel.shape == (2, 21, 21)


def test_thin_unet_side_heads_in_training(tiny_cfg) -> None:
    model = build_model(tiny_cfg("thin_unet")).train()
    out = model(torch.rand(2, 3, 16, 16))
    assert [a.shape[-1] for a in out.aux_logits] == [32, 16, 8]


def test_raster_kernel_is_shared_by_every_tile(tiny_cfg) -> None:
    """With kernel_scope="raster" a given kernel replaces the per-tile estimate."""
    torch.manual_seed(2)
    model = build_model(tiny_cfg("thin_unet")).eval()
    lr = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        k = model.estimate_kernel(lr)
        assert k.shape == (21, 21) and abs(float(k.sum()) - 1.0) < 1e-5
        shared = model(lr, kernel=k)
        own = model(lr)
    assert torch.allclose(shared.kernel, k.expand(3, 21, 21))
    # each tile's own estimate differs from the shared one (so the switch matters)
    assert not torch.allclose(own.kernel, shared.kernel)


def test_parameter_groups_partition_the_model(tiny_cfg) -> None:
    model = build_model(tiny_cfg("thin_unet"))
    groups = model.parameter_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert groups["kernel"] and groups["blurskip"] and groups["seg"] and groups["sr"]


def test_segmentation_loss_gradient_reaches_the_first_sr_layer(tiny_cfg) -> None:
    torch.manual_seed(1)
    model = build_model(tiny_cfg()).train()
    lr = torch.rand(2, 3, 16, 16)
    mask = (torch.rand(2, 1, 64, 64) > 0.9).float()
    out = model(lr)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out.seg_logits, mask)
    loss.backward()
    first = model.sr_net.feat[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    head = model.sr_net.kernel_head[0].weight.grad
    assert head is not None and head.abs().sum() > 0


def test_no_gradient_into_sr_when_the_sr_output_is_detached(tiny_cfg) -> None:
    """Negative control for the coupling test: the test above can fail."""
    torch.manual_seed(1)
    model = build_model(tiny_cfg()).train()
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


def test_lite2_is_about_one_and_a_half_million_parameters() -> None:
    model = build_model(named_model_config("lite2"))
    assert 1.2e6 < count_params(model) < 2.2e6
