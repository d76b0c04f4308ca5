"""Tests of core.data: manifest reading, HR preparation, crack-biased crops, eval items."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from csbsr.core.errors import InvalidInputError
from csbsr.core.train import data as D
from csbsr.core.train import sampler as S

HEADER = ("dataset\tstem\timage\tmask\twidth\theight\tcrack_fraction\toriginal_split\tsurface\t"
          "recommended_role\tsr_hr_target_ok\teffective_resolution\tsource\n")


def write_pair(root: Path, ds: str, stem: str, w: int, h: int, rng: np.random.Generator,
               crack_col: int | None = None) -> tuple:
    """A synthetic textured image with a dark vertical crack and its 0/255 mask."""
    (root / ds / "images").mkdir(parents=True, exist_ok=True)
    (root / ds / "masks").mkdir(parents=True, exist_ok=True)
    img = (120 + 40 * rng.random((h, w, 3))).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    col = w // 2 if crack_col is None else crack_col
    mask[:, col:col + 3] = 255
    img[mask > 0] = 20
    ip, mp = f"{ds}/images/{stem}.png", f"{ds}/masks/{stem}.png"
    cv2.imwrite(str(root / ip), img)
    cv2.imwrite(str(root / mp), mask)
    return ip, mp


def make_manifest(root: Path, n_train: int = 3, n_val: int = 2, size: tuple = (96, 80),
                  upsampled: bool = False) -> Path:
    """A tiny manifest in the shared format (public: reused by other test modules)."""
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for role, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            stem = f"{role}_{i}"
            ip, mp = write_pair(root, "synth", stem, size[0], size[1], rng, 10 + 7 * i)
            ok, eff = ("no", f"lanczos-upsampled from 64x64 (effective ~{size[0] // 2}x"
                             f"{size[1] // 2} isotropic)") if upsampled else ("yes", "native")
            lines.append(f"synth\t{stem}\t{ip}\t{mp}\t{size[0]}\t{size[1]}\t0.03\t{role}\t"
                         f"concrete\t{role}\t{ok}\t{eff}\tsynthetic\n")
    path = root / "manifest.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_parse_effective_resolution():
    assert D.parse_effective_resolution(
        "lanczos-upsampled from 256x256 (effective ~256x181 isotropic)") == (256, 181)
    assert D.parse_effective_resolution(
        "lanczos-upsampled 2x from 256x256 (orig. 448x448 khanhha crops)") == (256, 256)
    assert D.parse_effective_resolution("native") is None


def test_read_manifest_roles_paths_and_errors(tmp_path):
    m = make_manifest(tmp_path)
    rows = D.read_manifest(m, ["train"])
    assert [r.stem for r in rows] == ["train_0", "train_1", "train_2"]
    assert rows[0].image.is_absolute() and rows[0].image.exists()
    assert len(D.read_manifest(m)) == 5
    with pytest.raises(InvalidInputError, match="recommended_role"):
        D.read_manifest(m, ["test"])
    with pytest.raises(InvalidInputError, match="does not exist"):
        D.read_manifest(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("dataset\tstem\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="lacks column"):
        D.read_manifest(bad)


def test_load_sample_binarises_and_downsamples_upsampled_sets(tmp_path):
    m = make_manifest(tmp_path, upsampled=True, size=(96, 80))
    row = D.read_manifest(m, ["train"])[0]
    assert not row.sr_hr_target_ok and row.effective_size == (48, 40)
    s = D.load_sample(row, "effective", multiple=4)
    assert s.image.shape == (40, 48, 3) and s.mask.shape == (40, 48)
    assert s.mask.dtype == bool and s.mask.any()
    assert s.crack_index.size == int(s.mask.sum())
    stored = D.load_sample(row, "stored", multiple=4)
    assert stored.image.shape == (80, 96, 3)
    assert set(np.unique(stored.mask)) == {False, True}
    odd = D.load_sample(row, "stored", multiple=7)
    assert odd.image.shape[0] % 7 == 0 and odd.image.shape[1] % 7 == 0


def test_subset_rows_is_deterministic_and_order_free(tmp_path):
    rows = D.read_manifest(make_manifest(tmp_path, n_train=6, n_val=0))
    a = D.subset_rows(rows, 3)
    b = D.subset_rows(list(reversed(rows)), 3)
    assert [r.stem for r in a] == [r.stem for r in b] and len(a) == 3


def _sparse_sample(rng) -> D.Sample:
    img = np.full((128, 128, 3), 150, np.uint8)
    mask = np.zeros((128, 128), bool)
    mask[100:102, 5:30] = True  # a small crack far from most crops
    img[mask] = 10
    row = D.ManifestRow("s", "x", Path("x"), Path("y"), "train")
    return D.Sample(row, img, mask, np.flatnonzero(mask))


def test_patch_sampler_crack_bias_shapes_and_alignment():
    s = _sparse_sample(None)
    biased = S.PatchSampler([s], 32, 8, 4, np.random.default_rng(0), crack_fraction=1.0)
    uniform = S.PatchSampler([s], 32, 8, 4, np.random.default_rng(0), crack_fraction=0.0)

    def share(sampler):
        hits = 0
        for _ in range(10):
            hr, mask = sampler.next_hr()
            hits += int((mask.flatten(1).sum(1) > 0).sum())
            # flips/rotations keep image and mask aligned: crack pixels are the dark ones
            dark = hr.mean(dim=1, keepdim=True) < 0.2
            assert bool((dark == (mask > 0.5)).all())
        return hits / 80

    assert share(biased) == 1.0
    assert share(uniform) < 0.5
    b = biased.next()
    assert b.lr.shape == (8, 3, 8, 8) and b.hr.shape == (8, 3, 32, 32)
    assert b.mask.shape == (8, 1, 32, 32) and b.kernel.shape == (8, 21, 21)


def test_patch_sampler_rejects_bad_crops():
    s = _sparse_sample(None)
    with pytest.raises(InvalidInputError, match="multiple"):
        S.PatchSampler([s], 30, 2, 4, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="smaller than the crop"):
        S.PatchSampler([s], 256, 2, 4, np.random.default_rng(0))


def test_fixed_eval_items_are_identical_across_calls(tmp_path):
    rows = D.read_manifest(make_manifest(tmp_path), ["val"])
    samples = D.load_samples(rows, multiple=4)
    a = D.fixed_eval_items(samples)
    b = D.fixed_eval_items(list(reversed(samples)))[::-1]
    for x, y in zip(a, b):
        assert bool((x.lr == y.lr).all())
        assert x.lr.shape[-1] * 4 == x.hr.shape[-1]


def test_real_manifest_roles(shared_cracks):
    rows = D.read_manifest(shared_cracks / "manifest.tsv", ["train"])
    assert len(rows) == 615
    assert sum(r.sr_hr_target_ok for r in rows) == 29  # only UAV75 is native
    deep = next(r for r in rows if r.dataset == "deepcrack")
    assert deep.effective_size == (256, 181)
