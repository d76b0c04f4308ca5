"""Tests of core.evaluate and ``csbsr evaluate`` (random-weight models, tiny manifests)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from csbsr.core.errors import InvalidInputError
from csbsr.core.model.card import ModelCard, build_model, save_model
from csbsr.core.model.config import named_model_config
from csbsr.core.train.evaluate import evaluate_model

KEYS = ("iou_max", "aiu", "hd95_min", "ahd95", "psnr", "ssim", "f1_ods", "best_threshold",
        "n_images")
HEADER = ("dataset\tstem\timage\tmask\twidth\theight\tcrack_fraction\toriginal_split\tsurface\t"
          "recommended_role\tsr_hr_target_ok\teffective_resolution\tsource\n")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for i in range(3):
        img = (130 + 40 * rng.random((48, 64, 3))).astype(np.uint8)
        mask = np.zeros((48, 64), np.uint8)
        mask[10 + 8 * i:12 + 8 * i, :] = 255
        img[mask > 0] = 20
        cv2.imwrite(str(root / f"images/v{i}.jpg"), img)
        cv2.imwrite(str(root / f"masks/v{i}.png"), mask)
        lines.append(f"synth\tv{i}\timages/v{i}.jpg\tmasks/v{i}.png\t64\t48\t0.04\tval\tc\tval\t"
                     "yes\tnative\tsynthetic\n")
    (root / "manifest.tsv").write_text("".join(lines), encoding="utf-8")
    return root / "manifest.tsv"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    cfg = named_model_config("lite", blurskip=False)
    path = tmp_path_factory.mktemp("m") / "rand.safetensors"
    save_model(build_model(cfg), ModelCard(model=cfg), path)
    return path


def test_evaluate_joint_is_deterministic_and_complete(model_path, manifest):
    a = evaluate_model(model_path, manifest, split="val", device="cpu")
    b = evaluate_model(model_path, manifest, split="val", device="cpu")
    for k in KEYS:
        assert k in a
        assert a[k] == b[k]
    assert a["n_images"] == 3 and 0 <= a["iou_max"] <= 1 and a["psnr"] > 10
    assert a["aiu"] <= a["iou_max"] and a["hd95_min"] <= a["ahd95"]


def test_evaluate_modes_and_limit(model_path, manifest):
    hr = evaluate_model(model_path, manifest, mode="hr", limit=2, device="cpu")
    assert hr["n_images"] == 2 and hr["psnr"] is None and hr["ssim"] is None
    bic = evaluate_model(model_path, manifest, mode="bicubic", degradation="realistic",
                         device="cpu")
    assert bic["psnr"] is not None and bic["degradation"] == "realistic"
    with pytest.raises(InvalidInputError, match="mode"):
        evaluate_model(model_path, manifest, mode="nope")


def test_cli_evaluate_prints_json_and_protects_outputs(model_path, manifest, tmp_path, capsys):
    from csbsr.core.cli import main

    out = tmp_path / "res.json"
    args = ["-q", "evaluate", "--model", str(model_path), "--manifest", str(manifest),
            "--split", "val", "--seed", "5", "--json", str(out), "--limit", "2"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(printed) and json.loads(out.read_text()) == printed
    assert main(args) == 2  # exists without --overwrite
    assert main([*args, "--overwrite"]) == 0
    assert main(["-q", "evaluate", "--model", str(tmp_path / "none.safetensors"),
                 "--manifest", str(manifest)]) == 2


def test_evaluate_real_val_images(model_path, shared_cracks):
    res = evaluate_model(model_path, shared_cracks / "manifest.tsv", split="val", limit=2,
                         device="cpu")
    assert res["n_images"] == 2 and res["psnr"] > 15


def test_cli_evaluate_hd_options(model_path, manifest, capsys):
    from csbsr.core.cli import main

    base = ["-q", "evaluate", "--model", str(model_path), "--manifest", str(manifest),
            "--limit", "2"]
    assert main([*base, "--no-hd"]) == 0
    no_hd = json.loads(capsys.readouterr().out)
    assert no_hd["hd95_min"] is None and no_hd["ahd95"] is None and no_hd["hd_every"] is None
    assert main([*base, "--hd-every", "10"]) == 0
    coarse = json.loads(capsys.readouterr().out)
    assert coarse["hd_every"] == 10 and coarse["hd95_min"] is not None
    assert coarse["f1_ods"] == no_hd["f1_ods"]  # HD does not touch the other metrics
    with pytest.raises(SystemExit) as exc:
        main([*base, "--hd-every", "0"])
    assert exc.value.code == 2
    assert "--hd-every" in capsys.readouterr().err
