"""KBPN: shapes at x2/x4 on odd and even sizes, valid kernels, non-blind mode, pseudo-LR."""
from __future__ import annotations

import pytest
import torch
from csbsr.core.model.blocks import blur_downsample, code_to_kernel, kernel_to_code
from csbsr.core.model.sr import KBPN


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (9, 12)])
def test_shapes_odd_and_even(scale: int, hw: tuple) -> None:
    torch.manual_seed(0)
    net = KBPN(scale=scale, channels=8, stages=2).eval()
    lr = torch.rand(2, 3, *hw)
    with torch.no_grad():
        out = net(lr)
    assert out.sr.shape == (2, 3, hw[0] * scale, hw[1] * scale)
    assert out.kernel.shape == (2, 21, 21)
    assert out.kernel_logits.shape == (2, 49)


def test_kernel_positive_and_normalised_even_for_extreme_logits() -> None:
    net = KBPN(scale=4, channels=8, stages=3)
    for logits in (torch.randn(4, 49) * 50, torch.full((4, 49), -1e4), torch.zeros(4, 49)):
        code, kernel = net.kernel_from_logits(logits)
        assert torch.isfinite(kernel).all()
        assert (kernel >= 0).all()
        torch.testing.assert_close(kernel.sum(dim=(1, 2)), torch.ones(4))
        torch.testing.assert_close(code.sum(dim=1), torch.ones(4))


def test_estimated_kernel_of_a_forward_pass_is_valid() -> None:
    torch.manual_seed(1)
    net = KBPN(scale=4, channels=8, stages=2)
    out = net(torch.rand(3, 3, 12, 12) * 3 - 1)  # out-of-range input: still a valid kernel
    assert (out.kernel >= 0).all()
    torch.testing.assert_close(out.kernel.sum(dim=(1, 2)), torch.ones(3))


def test_non_blind_mode_uses_the_given_kernel() -> None:
    torch.manual_seed(2)
    net = KBPN(scale=4, channels=8, stages=2)
    gt = torch.rand(2, 21, 21)
    gt = gt / gt.sum(dim=(1, 2), keepdim=True)
    out = net(torch.rand(2, 3, 10, 10), gt_kernel=gt)
    torch.testing.assert_close(out.kernel, gt)
    # refiners are bypassed: no gradient reaches them in non-blind mode
    out.sr.mean().backward()
    assert all(p.grad is None for p in net.refiners.parameters())


def test_untrained_network_is_close_to_bicubic() -> None:
    torch.manual_seed(3)
    net = KBPN(scale=4, channels=8, stages=2).eval()
    lr = torch.rand(1, 3, 16, 16)
    bic = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    with torch.no_grad():
        sr = net(lr).sr
    assert (sr - bic).abs().mean() < 0.05


def test_blur_downsample_matches_blur_then_area_and_is_batched() -> None:
    torch.manual_seed(4)
    img = torch.rand(3, 2, 32, 28)
    kernel = torch.rand(3, 21, 21)
    kernel = kernel / kernel.sum(dim=(1, 2), keepdim=True)
    fast = blur_downsample(img, kernel, 4)
    # reference: per-sample full-resolution blur with reflect padding, then 4x4 area average
    ref = []
    for b in range(3):
        x = torch.nn.functional.pad(img[b:b + 1], (10, 10, 10, 10), mode="reflect")
        w = kernel[b].expand(2, 1, 21, 21)
        blurred = torch.nn.functional.conv2d(x, w, groups=2)
        ref.append(torch.nn.functional.avg_pool2d(blurred, 4))
    torch.testing.assert_close(fast, torch.cat(ref), atol=1e-5, rtol=1e-4)


def test_kernel_code_round_trip_keeps_a_delta_centred() -> None:
    delta = torch.zeros(1, 21, 21)
    delta[0, 10, 10] = 1.0
    code = kernel_to_code(delta, 7)
    assert code.sum().item() == pytest.approx(1.0)
    back = code_to_kernel(code, 21)
    assert back[0].argmax().item() == 10 * 21 + 10
