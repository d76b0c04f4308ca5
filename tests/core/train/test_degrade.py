"""Tests of core.degrade: kernels, blur, down-scaling, protocols and the fixed test set."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from csbsr.core.errors import InvalidInputError
from csbsr.core.train import degrade as D


def _moments(k: np.ndarray):
    r = k.shape[0] // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (k * xx * xx).sum(), (k * yy * yy).sum(), (k * xx * yy).sum()


def test_kernel_normalised_and_has_the_requested_covariance():
    k = D.anisotropic_gaussian_kernel(1.0, 2.0, 0.0)
    assert k.shape == (21, 21) and k.dtype == np.float32
    assert abs(k.sum() - 1) < 1e-6 and k.min() >= 0
    vx, vy, cxy = _moments(k)
    assert vx == pytest.approx(1.0, rel=1e-3)
    assert vy == pytest.approx(4.0, rel=1e-3)
    assert abs(cxy) < 1e-6


def test_kernel_rotation_by_half_pi_swaps_the_axes():
    a = D.anisotropic_gaussian_kernel(0.8, 2.5, 0.0)
    b = D.anisotropic_gaussian_kernel(0.8, 2.5, math.pi / 2)
    np.testing.assert_allclose(b, a.T, atol=1e-6)
    c = D.anisotropic_gaussian_kernel(0.8, 2.5, math.pi / 4)
    assert _moments(c)[2] > 0.5  # tilted: a positive xy covariance


def test_random_kernels_are_reproducible_and_in_range():
    k1 = D.random_kernels(np.random.default_rng(3), 5)
    k2 = D.random_kernels(np.random.default_rng(3), 5)
    np.testing.assert_array_equal(k1, k2)
    assert k1.shape == (5, 21, 21)
    np.testing.assert_allclose(k1.sum(axis=(1, 2)), 1.0, atol=1e-5)
    for k in k1:
        vx, vy, _ = _moments(k)
        assert 0.2 ** 2 * 0.5 < vx + vy < 2 * 4.0 ** 2


def test_blur_with_a_delta_is_identity_and_matches_a_per_sample_loop():
    img = torch.rand(2, 3, 32, 40)
    delta = torch.zeros(2, 21, 21)
    delta[:, 10, 10] = 1
    torch.testing.assert_close(D.blur(img, delta), img)
    ks = torch.from_numpy(D.random_kernels(np.random.default_rng(0), 2))
    out = D.blur(img, ks, padding="zero")
    for b in range(2):
        ref = torch.nn.functional.conv2d(img[b:b + 1].transpose(0, 1), ks[b][None, None],
                                         padding=10).transpose(0, 1)
        torch.testing.assert_close(out[b:b + 1], ref, rtol=1e-5, atol=1e-5)


def test_zero_padding_darkens_borders_reflect_does_not():
    img = torch.full((1, 3, 32, 32), 0.5)
    k = torch.from_numpy(D.random_kernels(np.random.default_rng(1), 1, sigma_range=(3, 4)))
    torch.testing.assert_close(D.blur(img, k, "reflect"), img)
    z = D.blur(img, k, "zero")
    assert z[0, 0, 0, 0] < 0.45 and abs(float(z[0, 0, 16, 16]) - 0.5) < 1e-3


def test_downscale_explicit_antialias_and_shape_checks():
    img = torch.full((1, 3, 32, 32), 0.25)
    out = D.downscale(img, 4)
    assert out.shape == (1, 3, 8, 8)
    torch.testing.assert_close(out, torch.full_like(out, 0.25))
    noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    aa = D.downscale(noise, 4, antialias=True)
    plain = D.downscale(noise, 4, antialias=False)
    assert float(aa.std()) < 0.6 * float(plain.std())  # antialiasing averages 16 px
    with pytest.raises(InvalidInputError, match="multiple"):
        D.downscale(torch.zeros(1, 3, 30, 32), 4)


def test_degrade_paper_is_reproducible_and_redegrade_matches():
    hr = torch.rand(3, 3, 48, 48)
    a = D.degrade(hr, np.random.default_rng(7))
    b = D.degrade(hr, np.random.default_rng(7))
    torch.testing.assert_close(a.lr, b.lr)
    assert a.lr.shape == (3, 3, 12, 12) and a.kernel.shape == (3, 21, 21)
    torch.testing.assert_close(D.redegrade(hr, a.kernel, 4), a.lr)
    c = D.degrade(hr, np.random.default_rng(8))
    assert not torch.allclose(a.lr, c.lr)


def test_redegrade_is_differentiable_in_image_and_kernel():
    sr = torch.rand(2, 3, 32, 32, requires_grad=True)
    k = torch.from_numpy(D.random_kernels(np.random.default_rng(0), 2)).requires_grad_(True)
    D.redegrade(sr, k, 4).sum().backward()
    assert sr.grad is not None and k.grad is not None and float(k.grad.abs().sum()) > 0


def test_realistic_protocol_quantises_and_keeps_a_valid_kernel():
    hr = torch.rand(2, 3, 64, 64)
    d = D.degrade(hr, np.random.default_rng(2), protocol="realistic")
    assert d.lr.shape == (2, 3, 16, 16)
    vals = d.lr * 255
    torch.testing.assert_close(vals, vals.round())
    assert float(d.lr.min()) >= 0 and float(d.lr.max()) <= 1
    torch.testing.assert_close(d.kernel.sum(dim=(1, 2)), torch.ones(2), atol=1e-5, rtol=0)
    assert float(d.kernel.min()) >= 0
    with pytest.raises(InvalidInputError, match="unknown degradation"):
        D.degrade(hr, np.random.default_rng(0), protocol="nope")


def test_motion_kernel_is_a_line_of_the_requested_length():
    k = D.motion_kernel(6.0, 0.0)
    assert abs(k.sum() - 1) < 1e-6
    cols = np.nonzero(k.sum(axis=0) > 1e-4)[0]
    assert 6 <= cols.max() - cols.min() + 1 <= 8
    assert np.count_nonzero(k.sum(axis=1) > 1e-4) <= 2


def test_fixed_degradation_depends_only_on_row_and_seed():
    hr = torch.rand(1, 3, 32, 32)
    a = D.fixed_degradation(hr, "ds", "img1", seed=5)
    D.fixed_degradation(torch.rand(1, 3, 32, 32), "ds", "other", seed=5)  # order-independent
    b = D.fixed_degradation(hr, "ds", "img1", seed=5)
    torch.testing.assert_close(a.lr, b.lr)
    torch.testing.assert_close(a.kernel, b.kernel)
    c = D.fixed_degradation(hr, "ds", "img1", seed=6)
    assert not torch.allclose(a.kernel, c.kernel)
    torch.testing.assert_close(a.lr * 255, (a.lr * 255).round())  # 8-bit like a saved PNG


def test_camera_parts_switch_off_without_changing_the_other_draws():
    """The realistic protocol's sensor end (noise, JPEG) can be switched off part by part
    (scripts/degradation_study.py); the kernel, exposure and motion stay the same draws."""
    g = torch.linspace(0, 1, 64)
    hr = (0.5 + 0.4 * torch.sin(g[None, :] * 40) * torch.cos(g[:, None] * 23)).expand(1, 3, 64, 64)

    def run(camera):
        return D.fixed_degradation(hr.clone(), "ds", "img", protocol="realistic", camera=camera)

    full = run(D.REALISTIC_CAMERA)
    clean = run(D.Camera(noise=False, jpeg_quality=None))
    noisy = run(D.Camera(noise=True, jpeg_quality=None))
    jpeg_low = run(D.Camera(noise=False, jpeg_quality=(10, 10)))
    jpeg_high = run(D.Camera(noise=False, jpeg_quality=(100, 100)))
    for d in (clean, noisy, jpeg_low, jpeg_high):
        torch.testing.assert_close(d.kernel, full.kernel)
        torch.testing.assert_close(d.hr, full.hr)
    # no noise, no JPEG: the 8-bit rounding of the blurred, down-scaled target, exactly
    expect = (D.redegrade(full.hr, full.kernel, 4).clamp(0, 1) * 255).round() / 255
    torch.testing.assert_close(clean.lr, expect, atol=1e-6, rtol=0)
    # sensor noise: read sigma >= 0.002 (0.5 grey levels), at most ~0.025 here
    resid = float((noisy.lr - clean.lr).std())
    assert 0.5 / 255 < resid < 0.03
    # JPEG: quality 10 departs from the clean image much more than quality 100
    err_low = float((jpeg_low.lr - clean.lr).abs().mean())
    err_high = float((jpeg_high.lr - clean.lr).abs().mean())
    assert err_low > 3 * err_high
    assert not torch.equal(full.lr, clean.lr)
    with pytest.raises(InvalidInputError, match="jpeg_quality"):
        D.Camera(jpeg_quality=(90, 50))
