"""``csbsr detect`` and ``csbsr run`` in-process: outputs, exit codes, messages."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from csbsr.core.cli import main
from csbsr.core.model.card import ModelCard, build_model, save_model
from csbsr.core.model.config import ModelConfig


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig()
    path = tmp_path_factory.mktemp("model") / "lite.safetensors"
    save_model(build_model(cfg), ModelCard(model=cfg, input_gsd_m=0.008, halo_lr_px=16), path)
    return path


def _ortho(path, crs="EPSG:32633", size=40):
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3,
                       dtype="uint8", crs=crs, transform=Affine(0.008, 0, 5e5, 0, -0.008, 4e6)
                       ) as d:
        d.write(rng.integers(0, 255, (3, size, size)).astype(np.uint8))
    return path


def test_detect_writes_outputs(tmp_path, model_path, capsys):
    src = _ortho(tmp_path / "site.tif")
    out = tmp_path / "out"
    rc = main(["-q", "detect", str(src), "--out", str(out), "--model", str(model_path),
               "--device", "cpu", "--tile-px", "32", "--batch", "2", "--save-sr",
               "--threshold", "0.6"])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["site_mask.tif", "site_prob.tif", "site_run.json", "site_sr.tif"]
    run = json.loads((out / "site_run.json").read_text())
    assert run["config"]["threshold"] == 0.6 and run["config"]["tile"]["batch"] == 2
    assert run["device"]["torch_device"] == "cpu"
    printed = capsys.readouterr().out
    assert "site_prob.tif" in printed and "tiles" in printed and "mm/px" in printed


def test_run_is_detect_for_now(tmp_path, model_path, capsys):
    src = _ortho(tmp_path / "site.tif")
    rc = main(["-q", "run", str(src), "--out", str(tmp_path / "o"), "--model", str(model_path),
               "--device", "cpu", "--tile-px", "40"])
    assert rc == 0
    assert (tmp_path / "o" / "site_mask.tif").exists()
    assert "mask:" in capsys.readouterr().out


def test_errors_exit_2_with_one_line(tmp_path, model_path, capsys):
    src = _ortho(tmp_path / "nocrs.tif", crs=None)
    rc = main(["-q", "detect", str(src), "--out", str(tmp_path / "o"), "--model",
               str(model_path), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("csbsr: error:") and "gdal_edit" in err[-1]
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"not a tiff at all")
    assert main(["-q", "detect", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_existing_outputs_exit_2_unless_overwrite(tmp_path, model_path, capsys):
    src = _ortho(tmp_path / "site.tif", size=20)
    args = ["-q", "detect", str(src), "--out", str(tmp_path / "o"), "--model", str(model_path),
            "--device", "cpu"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_gsd_too_coarse_names_the_fix(tmp_path, model_path, capsys):
    src = tmp_path / "coarse.tif"
    with rasterio.open(src, "w", driver="GTiff", width=20, height=20, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=Affine(0.15, 0, 5e5, 0, -0.15, 4e6)) as d:
        d.write(np.zeros((3, 20, 20), np.uint8))
    assert main(["-q", "detect", str(src), "--out", str(tmp_path / "o"), "--model",
                 str(model_path), "--device", "cpu"]) == 2
    assert "--gsd-policy native" in capsys.readouterr().err
    assert main(["-q", "detect", str(src), "--out", str(tmp_path / "o"), "--model",
                 str(model_path), "--device", "cpu", "--gsd-policy", "native"]) == 0
