"""Tests of core.losses: KBPN SR loss, w^F, Boundary-Combo, SDF and the α schedule."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from csbsr.core.train import losses as L
from csbsr.core.train.degrade import random_kernels, redegrade


def _sr_case():
    hr = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    k = torch.from_numpy(random_kernels(np.random.default_rng(0), 2))
    lr = redegrade(hr, k, 4)
    return hr, lr, k


def test_sr_loss_is_zero_for_a_perfect_output_and_kernel():
    hr, lr, k = _sr_case()
    total, _parts = L.sr_loss(hr, hr, lr, k, k)
    assert total.shape == (2,)
    assert float(total.abs().max()) < 1e-6


def test_sr_loss_terms_and_weights():
    hr, lr, k = _sr_case()
    sr = hr + 0.1
    k2 = torch.flip(k, dims=[1])
    total, parts = L.sr_loss(sr, hr, lr, k2, k, L.SRLossWeights(1.0, 0.0, 0.0))
    torch.testing.assert_close(total, torch.full((2,), 0.1), atol=1e-5, rtol=0)
    _, parts = L.sr_loss(sr, hr, lr, k2, k)
    mse = ((k2 - k) ** 2).mean(dim=(1, 2))
    torch.testing.assert_close(parts["kernel"], mse)
    literal, _ = L.sr_loss(sr, hr, lr, k2, k, L.SRLossWeights(0.4, 0.4, 0.0))
    intent, _ = L.sr_loss(sr, hr, lr, k2, k)
    torch.testing.assert_close(intent - literal, 0.2 * mse)


def test_failure_weights_range_and_effect_on_the_sr_loss():
    logits = torch.tensor([[[[10.0, -10.0], [10.0, -10.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    w = L.failure_weights(logits, mask, 1.0)
    np.testing.assert_allclose(w.flatten().numpy(), [1, math.e, math.e, 1], rtol=1e-4)
    assert not w.requires_grad
    hr, lr, k = _sr_case()
    sr = hr + 0.05
    wf = torch.ones(2, 1, 32, 32)
    wf[:, :, :16] = math.e
    base, _ = L.sr_loss(sr, hr, lr, k, k)
    weighted, parts = L.sr_loss(sr, hr, lr, k, k, wf=wf)
    assert bool((weighted > base).all())
    torch.testing.assert_close(parts["hr"], torch.full((2,), 0.05 * (1 + math.e) / 2),
                               atol=1e-5, rtol=0)


def test_signed_distance_maps_sign_boundary_and_empty():
    m = np.zeros((2, 9, 9), bool)
    m[0, 2:7, 2:7] = True
    phi = L.signed_distance_maps(m)
    assert phi.shape == (2, 9, 9) and phi.dtype == np.float32
    assert phi[0, 4, 4] < 0  # deep inside
    assert phi[0, 0, 0] == pytest.approx(1.0)  # farthest background pixel
    assert phi[0, 2, 4] == 0.0  # inner boundary
    assert float(np.abs(phi[1]).max()) == 0.0  # crack-free crop
    assert phi.min() >= -1 and phi.max() <= 1


def test_boundary_combo_perfect_and_wrong_predictions():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 6:9, :] = 1
    sdf = torch.from_numpy(L.signed_distance_maps(mask[:, 0].numpy() > 0.5))[:, None]
    good = (mask * 2 - 1) * 30.0
    total, _parts = L.boundary_combo_loss(good, mask, sdf, alpha=1.0)
    assert float(total) < 1e-6
    bad, _ = L.boundary_combo_loss(-good, mask, sdf, alpha=1.0)
    assert float(bad) > 1.0
    # boundary term: rewards probability inside (phi < 0), penalises outside (phi > 0)
    b_good, _ = L.boundary_combo_loss(good, mask, sdf, alpha=0.0)
    b_bad, _ = L.boundary_combo_loss(-good, mask, sdf, alpha=0.0)
    assert float(b_good) < 0 < float(b_bad)


def test_boundary_combo_is_stable_for_extreme_logits():
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 3] = 1
    logits = torch.full((2, 1, 8, 8), 1e4, requires_grad=True)
    sdf = torch.zeros_like(mask)
    total, _ = L.seg_loss(logits, (logits * 0.5,), mask, sdf, alpha=0.7)
    total.sum().backward()
    assert bool(torch.isfinite(total).all()) and bool(torch.isfinite(logits.grad).all())


def test_seg_loss_adds_the_aux_head():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2] = 1
    sdf = torch.zeros_like(mask)
    main = torch.randn(1, 1, 8, 8)
    aux = torch.randn(1, 1, 8, 8)
    only, _ = L.seg_loss(main, (), mask, sdf, 1.0)
    both, _ = L.seg_loss(main, (aux,), mask, sdf, 1.0, aux_weight=0.4)
    a, _ = L.boundary_combo_loss(aux, mask, sdf, 1.0)
    torch.testing.assert_close(both, only + 0.4 * a)


def test_alpha_schedule():
    assert L.alpha_at(0, 100) == 1.0
    assert L.alpha_at(99, 100) == 1.0
    assert L.alpha_at(100, 100) == pytest.approx(0.99)
    assert L.alpha_at(250, 100) == pytest.approx(0.98)
    assert L.alpha_at(10 ** 6, 100) == pytest.approx(0.01)


def test_tolerance_band_zeroes_the_weight_next_to_cracks_only():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, :] = 1
    w = L.tolerance_weight(mask, None, band_px=1)
    assert bool((w[..., 4, :] == 1).all())  # crack pixels keep their weight
    assert bool((w[..., 3, :] == 0).all()) and bool((w[..., 5, :] == 0).all())
    assert bool((w[..., 0, :] == 1).all())


def test_bce_dice_ignores_zero_weight_pixels_and_skips_dice_on_empty_masks():
    logits = torch.full((2, 1, 8, 8), -3.0)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 2, :] = 1
    w = torch.ones_like(mask)
    _base, parts = L.bce_dice_loss(logits, mask, w)
    assert float(parts["dice"][1]) == 0.0 and float(parts["dice"][0]) > 0.9
    # a confident false positive in an ignored pixel costs nothing
    fp = logits.clone()
    fp[1, 0, 6, 6] = 8.0
    w2 = w.clone()
    w2[1, 0, 6, 6] = 0.0
    ignored, _ = L.bce_dice_loss(fp, mask, w2)
    counted, _ = L.bce_dice_loss(fp, mask, w)
    assert float(ignored[1]) < float(counted[1])


def test_deep_supervision_pools_the_mask_to_each_side_output():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5, 3:12] = 1
    main = torch.full((1, 1, 16, 16), -4.0)
    perfect_side = torch.where(torch.nn.functional.max_pool2d(mask, 4) > 0, 6.0, -6.0)
    wrong_side = -perfect_side
    good, _ = L.deep_supervision_loss(main, (perfect_side,), mask, None)
    bad, _ = L.deep_supervision_loss(main, (wrong_side,), mask, None)
    assert float(bad) > float(good) + 1.0
