"""The main job: all outputs or none, and no user file overwritten without being asked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from csbsr.core.detect.config import InferenceConfig
from csbsr.core.errors import Cancelled, OutputExistsError
from csbsr.core.progress import RecordingProgress
from rasterio.transform import from_origin


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_cfg) -> Path:
    import torch
    from csbsr.core.model.card import ModelCard, build_model, save_model

    torch.manual_seed(0)
    cfg = tiny_cfg("thin_unet")
    model = build_model(cfg)
    with torch.no_grad():  # spread the logits so that a random net still finds "cracks"
        model.seg_net.final.weight.mul_(50.0)
    card = ModelCard(model=cfg, input_gsd_m=None, recommended_threshold=0.5, halo_lr_px=8)
    return save_model(model, card, tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture()
def ortho(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    img = (rng.random((3, 40, 48)) * 60 + 150).astype(np.uint8)
    img[:, 18:21, :] = 40  # a dark horizontal crack
    path = tmp_path / "site.tif"
    with rasterio.open(path, "w", driver="GTiff", width=48, height=40, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 0.008, 0.008)
                       ) as ds:
        ds.write(img)
    return path


def _cfg(model: Path, **kw: object) -> InferenceConfig:
    return InferenceConfig(model_path=str(model), device="cpu", precision="fp32", **kw)


def test_run_writes_every_output(ortho: Path, tiny_model: Path, tmp_path: Path) -> None:
    from csbsr.core.run import run_pipeline

    out = tmp_path / "out"
    res = run_pipeline(ortho, out, _cfg(tiny_model))
    assert set(res.outputs) >= {"prob", "mask", "run", "cracks", "summary", "report",
                                "report_content"}
    assert all(p.exists() for p in res.outputs.values())
    assert res.outputs["cracks"].name == "site_cracks.gpkg"
    assert res.summary["total_len_m"] >= 0.0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_cancel_during_vectorization_leaves_nothing(ortho: Path, tiny_model: Path,
                                                   tmp_path: Path) -> None:
    from csbsr.core.run import run_pipeline

    out = tmp_path / "out"
    progress = RecordingProgress(cancel_at_percent=81.0)  # after detection (0-80 %)
    with pytest.raises(Cancelled):
        run_pipeline(ortho, out, _cfg(tiny_model), progress)
    assert max(progress.percents) >= 80.0  # detection had finished and written its rasters
    assert not out.exists()  # not even the folder it created


def test_existing_outputs_are_refused_before_any_work(ortho: Path, tiny_model: Path,
                                                     tmp_path: Path) -> None:
    from csbsr.core.run import run_pipeline

    out = tmp_path / "out"
    out.mkdir()
    mine = out / "site_summary.json"
    mine.write_text("the user's own file")
    progress = RecordingProgress()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_pipeline(ortho, out, _cfg(tiny_model), progress)
    assert progress.percents == []  # refused before detection started
    assert mine.read_text() == "the user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["site_summary.json"]
    res = run_pipeline(ortho, out, _cfg(tiny_model, overwrite=True))
    assert res.outputs["summary"] == mine and mine.read_text() != "the user's own file"


def test_earlier_results_survive_a_cancelled_overwrite(ortho: Path, tiny_model: Path,
                                                       tmp_path: Path) -> None:
    from csbsr.core.run import run_pipeline

    out = tmp_path / "out"
    run_pipeline(ortho, out, _cfg(tiny_model))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(Cancelled):
        run_pipeline(ortho, out, _cfg(tiny_model, overwrite=True),
                     RecordingProgress(cancel_at_percent=90.0))
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing lost, nothing half-written, no staging left


def test_a_killed_runs_staging_is_removed_and_reported(ortho: Path, tiny_model: Path,
                                                       tmp_path: Path) -> None:
    from csbsr.core.layout import RunLayout
    from csbsr.core.run import run_pipeline

    out = tmp_path / "out"
    stale = RunLayout.for_input(ortho, out).staging
    stale.mkdir(parents=True)
    (stale / ".site_prob.abcd.partial.tif").write_bytes(b"half")
    progress = RecordingProgress()
    run_pipeline(ortho, out, _cfg(tiny_model), progress)
    assert not stale.exists()
    assert any("interrupted run" in w for w in progress.warnings)


@pytest.mark.parametrize("mode", ["grid", "ellipsoid"])
def test_summary_layer_and_report_agree_on_the_total_length(ortho: Path, tiny_model: Path,
                                                            tmp_path: Path, mode: str) -> None:
    """One owner of lengths: the summary total = sum of the layer's len_m = the report figure,
    in both length modes (the ellipsoid mode is applied before the summary is computed)."""
    import json

    from csbsr.core.run import run_pipeline
    from csbsr.core.vectorize.config import VectorizeConfig
    from pyogrio.raw import read

    out = tmp_path / mode
    res = run_pipeline(ortho, out, _cfg(tiny_model),
                       vectorize_cfg=VectorizeConfig(length_mode=mode))
    total = res.summary["total_len_m"]
    meta, _f, _g, data = read(str(res.outputs["cracks"]), layer="crack_seg")
    layer_total = float(np.sum(data[list(meta["fields"]).index("len_m")]))
    assert total > 0 and layer_total == pytest.approx(total, rel=1e-9)
    content = json.loads(res.outputs["report_content"].read_text())
    fig = next(k for k in content["key_figures"] if k["key"] == "total_len_m")
    assert fig["value"] == pytest.approx(total, rel=1e-12)
    assert f"{total:.2f}" in res.outputs["report"].read_text()
    assert res.summary["length_mode"] == mode


def test_ellipsoid_lengths_differ_from_grid_by_the_projection_scale(ortho: Path,
                                                                    tiny_model: Path,
                                                                    tmp_path: Path) -> None:
    from csbsr.core.run import run_pipeline
    from csbsr.core.vectorize.config import VectorizeConfig

    tot = {m: run_pipeline(ortho, tmp_path / m, _cfg(tiny_model),
                           vectorize_cfg=VectorizeConfig(length_mode=m)).summary["total_len_m"]
           for m in ("grid", "ellipsoid")}
    # UTM 33N at 500 km easting, 5000 km northing: scale factor about 0.9996, so the
    # ellipsoidal length is about 0.04 % longer than the grid length
    assert tot["ellipsoid"] / tot["grid"] == pytest.approx(1 / 0.9996, rel=2e-4)


def test_the_cards_hysteresis_seed_is_used_and_recorded(ortho: Path, tiny_model: Path,
                                                        tmp_path: Path) -> None:
    """A card's recommended_seed_threshold reaches the crack lines and the run record; the
    user's seed (0 = off) wins."""
    import dataclasses
    import json

    from csbsr.core.model.card import load_model, save_model
    from csbsr.core.run import run_pipeline
    from csbsr.core.vectorize.config import VectorizeConfig

    loaded = load_model(tiny_model)
    card = dataclasses.replace(loaded.card, recommended_seed_threshold=0.999999)
    seeded = save_model(loaded.model, card, tmp_path / "m" / "seeded.safetensors")
    plain = run_pipeline(ortho, tmp_path / "plain", _cfg(tiny_model), report=False)
    res = run_pipeline(ortho, tmp_path / "seeded", _cfg(seeded), report=False)
    off = run_pipeline(ortho, tmp_path / "off", _cfg(seeded), report=False,
                       vectorize_cfg=VectorizeConfig(seed_threshold=0.0))
    record = json.loads(res.outputs["run"].read_text())
    assert record["vectorize"]["seed_threshold"] == 0.999999
    assert res.summary["seed_threshold"] == 0.999999
    assert plain.summary["total_len_m"] > 0
    assert res.summary["total_len_m"] < plain.summary["total_len_m"]
    assert off.summary["seed_threshold"] is None
    assert off.summary["total_len_m"] == plain.summary["total_len_m"]
