"""Segmentation networks: logits of the input size for odd and even sizes; BlurSkip use."""
from __future__ import annotations

import pytest
import torch
from csbsr.core.model.card import build_model


@pytest.mark.parametrize("arch", ["psp_lite", "unet", "thin_unet"])
@pytest.mark.parametrize("hw", [(64, 64), (50, 70), (33, 45)])
def test_logits_match_input_size(arch: str, hw: tuple, tiny_cfg) -> None:
    torch.manual_seed(0)
    seg = build_model(tiny_cfg(arch)).seg_net.eval()
    with torch.no_grad():
        main, aux = seg(torch.randn(2, 3, *hw))
    assert main.shape == (2, 1, *hw)
    if arch == "psp_lite":
        assert aux is not None and aux.shape == (2, 1, *hw)
    elif arch == "unet":
        assert aux is None
    else:
        assert aux == ()


def test_thin_unet_is_translation_equivariant_on_its_stride_grid(tiny_cfg) -> None:
    """Shifting the input by the total stride (8 px) shifts the output: no tile-wide ops."""
    torch.manual_seed(3)
    seg = build_model(tiny_cfg("thin_unet")).seg_net.eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        full, _ = seg(x)
        shifted, _ = seg(x[..., 8:, 8:])
    # away from the borders (the receptive field), the outputs agree
    assert torch.allclose(full[..., 48:72, 48:72], shifted[..., 40:64, 40:64], atol=1e-5)


@pytest.mark.parametrize("arch", ["psp_lite", "thin_unet"])
def test_blurskip_changes_output_only_when_a_kernel_is_given(arch: str, tiny_cfg) -> None:
    torch.manual_seed(1)
    model = build_model(tiny_cfg(arch, blurskip=True)).eval()
    seg = model.seg_net
    # make BlurSkip non-trivial
    for p in seg.blurskip.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(1, 3, 48, 48)
    cond_a, cond_b = torch.randn(1, 16), torch.randn(1, 16)
    with torch.no_grad():
        plain, _ = seg(x)
        a, _ = seg(x, cond_a)
        b, _ = seg(x, cond_b)
    assert not torch.allclose(plain, a)
    assert not torch.allclose(a, b)


def test_paper_pspnet_output_stride_is_8() -> None:
    from csbsr.core.model.seg import DilatedResNet34

    enc = DilatedResNet34().eval()
    with torch.no_grad():
        deep, aux, sizes = enc(torch.randn(1, 3, 64, 80))
    assert deep.shape == (1, 512, 8, 10)
    assert aux.shape == (1, 256, 8, 10)
    assert sizes == [(64, 80), (32, 40), (16, 20)]
