"""Field evaluation: line recall/precision within 2 cm and false crack per m² of crack-free
surface, on drawn probability maps whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest
from csbsr.core.train.fieldeval import (
    HR_GSD_M,
    candidate_grid,
    candidate_key,
    field_configs,
    image_totals,
)


def _scene() -> tuple:
    """(prob, gt): a 300 px GT crack; the detection follows it 2 px off and adds a 200 px
    false crack far from it (HR 2 mm/px)."""
    gt = np.zeros((300, 400), bool)
    gt[60:63, 50:350] = True
    prob = np.full(gt.shape, 0.02, np.float32)
    prob[62:65, 50:350] = 0.9
    prob[220:223, 100:300] = 0.9
    return prob, gt


def test_a_true_and_a_false_crack_are_counted_as_such() -> None:
    prob, gt = _scene()
    t = image_totals(prob, gt, None, *field_configs(0.5)).as_dict()
    assert t["recall_2cm"] == pytest.approx(1.0, abs=0.03)
    assert t["precision_2cm"] == pytest.approx(300 / 500, abs=0.03)
    assert t["fp_len_m"] == pytest.approx(200 * HR_GSD_M, rel=0.05)
    # free surface: everything farther than 3.2 cm (16 px) from the GT crack
    free_px = t["free_area_m2"] / HR_GSD_M ** 2
    assert 300 * 400 - 40 * 340 < free_px < 300 * 400 - 35 * 300


def test_the_hysteresis_seed_drops_the_unconfirmed_false_crack() -> None:
    prob, gt = _scene()
    prob[62:65, 60:64] = 0.99  # only the true crack has a confident spot
    t = image_totals(prob, gt, None, *field_configs(0.5, seed=0.98)).as_dict()
    assert t["fp_len_m"] == 0.0 and t["precision_2cm"] == pytest.approx(1.0, abs=0.01)


def test_unlabelled_area_is_not_counted_as_free() -> None:
    prob, gt = _scene()
    unlabelled = np.zeros(gt.shape, bool)
    unlabelled[200:240, :] = True
    t = image_totals(prob, gt, unlabelled, *field_configs(0.5)).as_dict()
    assert t["fp_len_m"] == 0.0


def test_candidate_grid_and_keys() -> None:
    grid = candidate_grid((0.8, 0.95), (None, 0.9, 0.98))
    assert grid == [(0.8, None), (0.8, 0.9), (0.8, 0.98), (0.95, None), (0.95, 0.98)]
    assert [candidate_key(c) for c in grid[:3]] == ["0.8", "0.8/0.9", "0.8/0.98"]


def test_evaluate_field_on_chosen_sets_and_a_switched_off_camera(shared_cracks, tmp_path,
                                                                 one_torch_thread) -> None:
    """The shipped model on two real UAV75 val photos (a DeepCrack row is filtered out by
    ``datasets``); the sensor noise and JPEG of the realistic protocol switched off are
    recorded and give other lines than the full protocol."""
    import csv

    from csbsr.core.train.degrade import Camera
    from csbsr.core.train.fieldeval import evaluate_field

    with open(shared_cracks / "manifest.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    val = [r for r in rows if r["recommended_role"] == "val"]
    pick = [r for r in val if r["dataset"] == "uav75"][:2] + \
        [r for r in val if r["dataset"] == "deepcrack"][:1]
    for r in pick:
        r["image"], r["mask"] = (str(shared_cracks / r[k]) for k in ("image", "mask"))
    man = tmp_path / "m.tsv"
    with open(man, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(pick)
    full = evaluate_field(None, [man], degradation="realistic", datasets=["uav75"],
                          device="cpu")
    clean = evaluate_field(None, [man], degradation="realistic", datasets=["uav75"],
                           device="cpu", camera=Camera(noise=False, jpeg_quality=None))
    assert full["total"]["n_images"] == clean["total"]["n_images"] == 2
    assert list(full["by_dataset"]) == ["uav75"]
    assert full["camera"] is None
    assert clean["camera"] == {"noise": False, "jpeg_quality": None}
    assert full["total"]["gt_len_m"] == pytest.approx(clean["total"]["gt_len_m"])
    assert full["total"]["det_len_m"] != pytest.approx(clean["total"]["det_len_m"])
