"""Tests of core.train: every phase runs, losses fall, resume is exact, gradients couple."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from csbsr.core.errors import Cancelled, ConfigError, OutputExistsError
from csbsr.core.progress import RecordingProgress
from csbsr.core.train.config import named_train_config
from csbsr.core.train.schedule import cosine_lr
from csbsr.core.train.trainer import Trainer

HEADER = ("dataset\tstem\timage\tmask\twidth\theight\tcrack_fraction\toriginal_split\tsurface\t"
          "recommended_role\tsr_hr_target_ok\teffective_resolution\tsource\n")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sparse_sample(seed: int):
    """A 128x128 preloaded sample with a dark crack and some texture."""
    from pathlib import Path

    from csbsr.core.train.data import ManifestRow, Sample

    rng = np.random.default_rng(seed)
    img = (140 + 30 * rng.random((128, 128, 3))).astype(np.uint8)
    mask = np.zeros((128, 128), bool)
    mask[20 + seed * 10:23 + seed * 10, 5:120] = True
    img[mask] = 15
    row = ManifestRow("s", f"x{seed}", Path("x"), Path("y"), "train")
    return Sample(row, img, mask, np.flatnonzero(mask))


def make_manifest(root, n_train: int = 2, n_val: int = 1, size: tuple = (64, 64)):
    """A tiny on-disk manifest in the shared format."""
    import cv2

    lines = [HEADER]
    for role, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            s = _sparse_sample(i)
            (root / "images").mkdir(parents=True, exist_ok=True)
            (root / "masks").mkdir(parents=True, exist_ok=True)
            ip, mp = f"images/{role}{i}.png", f"masks/{role}{i}.png"
            cv2.imwrite(str(root / ip), s.image[:size[1], :size[0]])
            cv2.imwrite(str(root / mp), (s.mask[:size[1], :size[0]] * 255).astype(np.uint8))
            lines.append(f"synth\t{role}{i}\t{ip}\t{mp}\t{size[0]}\t{size[1]}\t0.03\t{role}"
                         f"\tconcrete\t{role}\tyes\tnative\tsynthetic\n")
    (root / "manifest.tsv").write_text("".join(lines), encoding="utf-8")
    return root / "manifest.tsv"


def tiny_cfg(**kw):
    base = dict(crop=32, batch_size=2, iters_p1=2, iters_p2=2, iters_p3=2, iters_p4=3,
                iters_p5=2, wf_start=1, checkpoint_every=2, val_images=0, threads=0,
                precision="fp32")
    base.update(kw)
    return named_train_config("lite", **base)


@pytest.fixture(scope="module")
def samples():
    return [_sparse_sample(i) for i in range(3)]


def test_all_phases_run_and_export(tmp_path, samples):
    tr = Trainer(tiny_cfg(), tmp_path / "run", samples=samples, val_samples=samples[:1])
    model_path = tr.run()
    assert model_path.exists() and model_path.with_suffix(".json").exists()
    for p in ("P1", "P2", "P3", "P4", "P5"):
        assert (tmp_path / "run" / f"phase_{p}.safetensors").exists()
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    vals = {r["phase"]: r["validation"] for r in log if "validation" in r}
    assert "psnr" in vals["P1"] and "iou_max" in vals["P4"] and "hd95_min" in vals["P5"]
    card = json.loads(model_path.with_suffix(".json").read_text())
    assert card["model"]["blurskip"]["enabled"] is True
    assert "uav75" in card["training"]["data_sources"]
    p4 = json.loads((tmp_path / "run" / "phase_P4.json").read_text())
    assert p4["model"]["blurskip"]["enabled"] is False  # BlurSkip is untrained before P5
    with pytest.raises(OutputExistsError, match="--resume"):
        Trainer(tiny_cfg(), tmp_path / "run", samples=samples)


def test_phases_freeze_what_they_must(tmp_path, samples):
    tr = Trainer(tiny_cfg(), tmp_path / "r", samples=samples)
    m = tr.model
    before = {k: v.clone() for k, v in m.state_dict().items()}

    def changed(prefix):
        return any(not torch.equal(before[k], v) for k, v in m.state_dict().items()
                   if k.startswith(prefix))

    tr.state.phases = ["P2"]
    tr.run()
    assert changed("sr_net.kernel_head") and not changed("sr_net.feat")
    assert not changed("seg_net")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    tr.state.phases, tr.state.phase_index, tr.state.done = ["P5"], 0, False
    tr.run()
    assert changed("seg_net.blurskip")
    frozen = [k for k in before if not k.startswith("seg_net.blurskip")]
    assert all(torch.equal(before[k], m.state_dict()[k]) for k in frozen)  # incl. BN stats


def _fixed_batch(tr):
    tr.rng = np.random.default_rng(1)
    tr.sampler.rng = tr.rng
    return tr.sampler.next()


@pytest.mark.parametrize("phase", ["P1", "P3", "P4"])
def test_loss_decreases_on_a_fixed_batch(tmp_path, samples, phase):
    tr = Trainer(tiny_cfg(), tmp_path / phase, samples=samples)
    batch = _fixed_batch(tr)
    params = tr._trainable(phase)
    tr._set_modes(phase)
    tr.model.eval()  # deterministic BN/dropout for the comparison
    opt = torch.optim.Adam(params, lr=3e-4)
    first = None
    for _ in range(12):
        loss, _ = tr.step_loss(phase, batch, 0)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    final, _ = tr.step_loss(phase, batch, 0)
    assert float(final.detach()) < first


def test_segmentation_loss_gradient_reaches_the_sr_network(tmp_path, samples):
    from csbsr.core.train.losses import seg_loss

    tr = Trainer(tiny_cfg(), tmp_path / "g", samples=samples)
    batch = _fixed_batch(tr)
    tr._trainable("P4")
    out = tr.model(batch.lr)
    loss, _ = seg_loss(out.seg_logits, out.aux_logits, batch.mask, tr._sdf(batch.mask), 1.0)
    loss.mean().backward()
    grads = [p.grad for n, p in tr.model.sr_net.named_parameters()
             if n.startswith(("up.", "out_conv", "feat.")) and p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_resume_after_cancel_reproduces_the_uninterrupted_run(tmp_path, samples):
    cfg = tiny_cfg(iters_p1=4, iters_p2=0, iters_p3=0, iters_p4=4, iters_p5=0)
    ref = Trainer(cfg, tmp_path / "ref", variant="joint_wf", samples=samples)
    ref.run()
    with pytest.raises(Cancelled):
        Trainer(cfg, tmp_path / "cut", variant="joint_wf", samples=samples,
                progress=RecordingProgress(cancel_at_percent=60)).run()
    state = json.loads((tmp_path / "cut" / "ckpt" / "last.json").read_text())["state"]
    assert state["phase_index"] == 1 and state["it"] == 0  # P1 done, P4 not checkpointed yet
    resumed = Trainer(cfg, tmp_path / "cut", variant="joint_wf", samples=samples, resume=True)
    resumed.run()
    a, b = ref.model.state_dict(), resumed.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_resume_mid_phase_restores_the_optimizer(tmp_path, samples):
    cfg = tiny_cfg(iters_p1=5, iters_p2=0, iters_p3=0, iters_p4=0, iters_p5=0)
    ref = Trainer(cfg, tmp_path / "ref", variant="joint", samples=samples)
    ref.run()
    with pytest.raises(Cancelled):
        Trainer(cfg, tmp_path / "cut", variant="joint", samples=samples,
                progress=RecordingProgress(cancel_at_percent=70)).run()
    doc = json.loads((tmp_path / "cut" / "ckpt" / "last.json").read_text())
    assert doc["state"]["it"] == 4 and doc["has_optimizer"]  # saved at it 2 and 4 of 5
    resumed = Trainer(cfg, tmp_path / "cut", variant="joint", samples=samples, resume=True)
    resumed.run()
    for k, v in ref.model.state_dict().items():
        torch.testing.assert_close(v, resumed.model.state_dict()[k], rtol=1e-5, atol=1e-6)


def test_seg_only_variants_and_phase_validation(tmp_path, samples):
    for variant in ("hr_seg", "bicubic_seg"):
        tr = Trainer(tiny_cfg(), tmp_path / variant, variant=variant, samples=samples,
                     val_samples=samples[:1])
        assert tr.state.phases == ["P4"]
        before = {k: v.clone() for k, v in tr.model.sr_net.state_dict().items()}
        tr.run()
        assert all(torch.equal(before[k], v) for k, v in tr.model.sr_net.state_dict().items())
        card = json.loads((tmp_path / variant / "model.json").read_text())
        assert card["training"]["eval_mode"] == ("hr" if variant == "hr_seg" else "bicubic")
    with pytest.raises(ConfigError, match="not part of variant"):
        Trainer(tiny_cfg(), tmp_path / "x", variant="hr_seg", phases=["P1"], samples=samples)


def test_init_from_a_phase_export(tmp_path, samples):
    first = Trainer(tiny_cfg(iters_p4=0, iters_p5=0), tmp_path / "a", samples=samples)
    first.run()
    second = Trainer(tiny_cfg(), tmp_path / "b", variant="joint", phases=["P4"],
                     init=tmp_path / "a" / "phase_P3.safetensors", samples=samples)
    a = first.model.sr_net.state_dict()
    for k, v in second.model.sr_net.state_dict().items():
        assert torch.equal(a[k], v)


def test_cli_train_on_a_manifest(tmp_path):
    from csbsr.core.cli import main

    m = make_manifest(tmp_path / "data", n_train=2, n_val=1, size=(64, 64))
    out = tmp_path / "cli"
    args = ["-q", "train", "--out", str(out), "--data", str(m), "--variant", "joint",
            "--set", "crop=32", "batch_size=2", "iters_p1=1", "iters_p2=1", "iters_p3=1",
            "iters_p4=2", "val_images=1", "precision=\"fp32\""]
    assert main(args) == 0
    assert (out / "model.safetensors").exists()
    assert main(args) == 2  # exists: needs --resume
    assert main([*args, "--resume"]) == 0
    assert main(["-q", "train", "--out", str(out / "y"), "--data", str(m),
                 "--set", "batch_size=0"]) == 2


def test_cosine_lr():
    assert cosine_lr(0, 10, 1e-3, 1e-5) == pytest.approx(1e-3)
    assert cosine_lr(9, 10, 1e-3, 1e-5) == pytest.approx(1e-5)
    assert cosine_lr(3, 1, 1e-3, 1e-5) == 1e-3


def _negative_sample(seed: int):
    """A sample whose mask has a crack and whose hard-negative mask marks a straight joint."""
    s = _sparse_sample(seed)
    neg = np.zeros_like(s.mask)
    neg[:, 60:62] = True
    s.image[neg] = 40
    s.negative, s.negative_index = neg, np.flatnonzero(neg)
    return s


def test_thin_crack_recipe_runs_every_phase(tmp_path):
    """The lite2 recipe: ThinCrackUNet, raster kernel, BCE+Dice with deep supervision, hard
    negatives, zoom/colour jitter and both degradations."""
    cfg = named_train_config("lite2", crop=32, batch_size=2, iters_p1=1, iters_p2=1,
                             iters_p3=1, iters_p4=4, iters_p5=1, wf_start=1, val_images=0,
                             checkpoint_every=2, bank_fraction=0.0, precision="fp32")
    samples = [_negative_sample(0), _sparse_sample(1)]
    tr = Trainer(cfg, tmp_path / "run", samples=samples, val_samples=samples[:1])
    assert tr.sampler.hardneg.tolist() == [0]
    model_path = tr.run()
    card = json.loads(model_path.with_suffix(".json").read_text())
    assert card["model"]["seg"]["arch"] == "thin_unet"
    assert card["model"]["kernel_scope"] == "raster"
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    p4 = [r for r in log if r.get("phase") == "P4" and "seg_bce" in r]
    assert p4 and all(np.isfinite(r["loss"]) for r in p4)


def test_optimizer_groups_scale_the_sr_rate(tmp_path, samples):
    tr = Trainer(tiny_cfg(sr_lr_factor=0.25, lr=1e-3), tmp_path / "run", samples=samples)
    opt = tr._optimizer("P4")
    rates = sorted(g["lr"] for g in opt.param_groups)
    assert rates == pytest.approx([2.5e-4, 1e-3])
