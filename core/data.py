"""Crack data: manifest reading, HR preparation, preloading, crack-biased patch batches.

A manifest is a TSV in the format of ``../shared/data/cracks/manifest.tsv``: one row per
image/mask pair with (at least) ``dataset, stem, image, mask, recommended_role``; paths are
relative to the manifest's folder. Optional columns ``sr_hr_target_ok`` and
``effective_resolution`` say which images were upsampled by their host.

HR preparation (``hr_policy``):
    * ``"effective"`` (default): images whose ``sr_hr_target_ok`` is not "yes" are
      downsampled (area) to their effective resolution ("effective ~256x181" or
      "... from 256x256") before serving as SR targets; their masks are area-downsampled
      and binarised at 0.25 so that 1-2 px cracks stay connected. Native images stay as-is.
    * ``"stored"``: use every image at its stored size (segmentation-only uses).

Masks are binarised once on load (> 127). Images are kept in memory as uint8 (the whole
data set is about 100 MB), so a training step costs a crop and a blur, not a JPEG decode.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import InvalidInputError
from .progress import NullProgress, Progress, check_cancelled

if TYPE_CHECKING:  # pragma: no cover
    import torch

HR_POLICIES = ("effective", "stored")
REQUIRED_COLUMNS = ("dataset", "stem", "image", "mask", "recommended_role")
MASK_DOWNSAMPLE_THRESHOLD = 0.25

PathLike = Union[str, Path]


@dataclass(frozen=True)
class ManifestRow:
    """One image/mask pair of a manifest (paths already resolved to absolute)."""

    dataset: str
    stem: str
    image: Path
    mask: Path
    role: str
    sr_hr_target_ok: bool = True
    effective_size: Optional[Tuple[int, int]] = None  # (width, height) in pixels
    extra: Dict[str, str] = field(default_factory=dict, compare=False)


_EFFECTIVE = re.compile(r"effective\s*~?\s*(\d+)\s*x\s*(\d+)", re.IGNORECASE)
_FROM = re.compile(r"from\s+(\d+)\s*x\s*(\d+)", re.IGNORECASE)


def parse_effective_resolution(text: str) -> Optional[Tuple[int, int]]:
    """Parse "(effective ~256x181 ...)" or "... from 256x256 ..." into (width, height).

    Returns None for "native" or an unparseable text.
    """
    for rx in (_EFFECTIVE, _FROM):
        m = rx.search(text or "")
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def read_manifest(path: PathLike, roles: Optional[Sequence[str]] = None) -> List[ManifestRow]:
    """Read a manifest TSV; keep rows whose ``recommended_role`` is in ``roles`` (all if None).

    Raises:
        InvalidInputError: missing file or columns, unknown role, or a missing image file.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"manifest {path} does not exist: pass --manifest PATH/TO/manifest.tsv"
        )
    root = path.parent
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInputError(
                f"manifest {path} lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}"
            )
        raw = list(reader)
    all_roles = sorted({r["recommended_role"] for r in raw})
    if roles is not None:
        unknown = [r for r in roles if r not in all_roles]
        if unknown:
            raise InvalidInputError(
                f"no rows with recommended_role {unknown} in {path}; available: {all_roles}"
            )
    rows = []
    for r in raw:
        if roles is not None and r["recommended_role"] not in roles:
            continue
        ok = (r.get("sr_hr_target_ok") or "yes").strip().lower() in ("yes", "true", "1")
        eff = None if ok else parse_effective_resolution(r.get("effective_resolution", ""))
        row = ManifestRow(dataset=r["dataset"], stem=r["stem"], image=root / r["image"],
                          mask=root / r["mask"], role=r["recommended_role"],
                          sr_hr_target_ok=ok, effective_size=eff,
                          extra={k: v for k, v in r.items() if k not in REQUIRED_COLUMNS})
        if not row.image.is_file() or not row.mask.is_file():
            raise InvalidInputError(
                f"manifest row {row.dataset}/{row.stem}: {row.image} or {row.mask} is missing; "
                "paths must be relative to the manifest's folder"
            )
        rows.append(row)
    return rows


@dataclass
class Sample:
    """One preloaded pair: image (H, W, 3) uint8 RGB and mask (H, W) bool, at HR size."""

    row: ManifestRow
    image: np.ndarray
    mask: np.ndarray
    crack_index: np.ndarray  # flat indices of crack pixels (int64)


def load_sample(row: ManifestRow, hr_policy: str = "effective", multiple: int = 1) -> Sample:
    """Load, binarise and prepare one pair (see the module doc for ``hr_policy``).

    Args:
        row: the manifest row.
        hr_policy: "effective" or "stored".
        multiple: crop height and width down to a multiple of this (the SR scale).
    """
    import cv2

    if hr_policy not in HR_POLICIES:
        raise InvalidInputError(f"hr_policy must be one of {HR_POLICIES}, got {hr_policy!r}")
    img = cv2.imread(str(row.image), cv2.IMREAD_COLOR)
    msk = cv2.imread(str(row.mask), cv2.IMREAD_GRAYSCALE)
    if img is None or msk is None:
        raise InvalidInputError(f"cannot decode {row.image} or {row.mask}: re-extract the data")
    img = img[:, :, ::-1]
    if msk.shape != img.shape[:2]:
        raise InvalidInputError(
            f"{row.dataset}/{row.stem}: mask {msk.shape} and image {img.shape[:2]} differ"
        )
    mask = msk > 127
    if hr_policy == "effective" and not row.sr_hr_target_ok and row.effective_size:
        w, h = row.effective_size
        if (w, h) != (img.shape[1], img.shape[0]):
            img = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_AREA)
            mf = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            mask = mf > MASK_DOWNSAMPLE_THRESHOLD
    h = img.shape[0] - img.shape[0] % multiple
    w = img.shape[1] - img.shape[1] % multiple
    img = np.ascontiguousarray(img[:h, :w])
    mask = np.ascontiguousarray(mask[:h, :w])
    return Sample(row=row, image=img, mask=mask,
                  crack_index=np.flatnonzero(mask.ravel()).astype(np.int64))


def load_samples(rows: Sequence[ManifestRow], hr_policy: str = "effective", multiple: int = 1,
                 progress: Optional[Progress] = None) -> List[Sample]:
    """Preload many pairs into memory (checks cancellation between images)."""
    progress = progress or NullProgress()
    out = []
    for i, row in enumerate(rows):
        check_cancelled(progress)
        out.append(load_sample(row, hr_policy, multiple))
        progress.set_progress(100.0 * (i + 1) / max(1, len(rows)))
    return out


def subset_rows(rows: Sequence[ManifestRow], n: Optional[int]) -> List[ManifestRow]:
    """A deterministic, dataset-stratified subset of ``n`` rows (all rows if n is None).

    Rows are sorted by (dataset, stem) and picked at evenly spaced positions, so every data
    set keeps about its share and the subset does not depend on the manifest's row order.
    """
    ordered = sorted(rows, key=lambda r: (r.dataset, r.stem))
    if n is None or n >= len(ordered):
        return ordered
    if n < 1:
        raise InvalidInputError(f"--limit must be >= 1, got {n}")
    idx = np.linspace(0, len(ordered) - 1, n).round().astype(int)
    return [ordered[i] for i in idx]


def to_tensor_image(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)[None]


@dataclass
class Batch:
    """A training batch (all float32 tensors on the CPU).

    Attributes:
        lr: (B, 3, crop/s, crop/s) LR input.
        hr: (B, 3, crop, crop) HR target in [0, 1].
        mask: (B, 1, crop, crop) binary crack mask (0/1 floats).
        kernel: (B, K, K) true blur kernel.
    """

    lr: torch.Tensor
    hr: torch.Tensor
    mask: torch.Tensor
    kernel: torch.Tensor


class PatchSampler:
    """Random crack-biased HR crops with flips/rotations, degraded on the fly.

    Args:
        samples: preloaded samples (at HR size).
        crop: HR crop side in pixels (multiple of ``scale``).
        batch_size: crops per batch.
        scale: SR factor.
        rng: the generator driving crops, augmentations and kernels (checkpointable).
        crack_fraction: probability that a crop is centred around a crack pixel (about 70 %
            of crops then contain crack pixels; uniform crops add a few more).
        protocol: degradation protocol name ("paper" or "realistic").
        padding: blur padding ("reflect" or "zero").
    """

    def __init__(self, samples: Sequence[Sample], crop: int, batch_size: int, scale: int,
                 rng: np.random.Generator, crack_fraction: float = 0.7,
                 protocol: str = "paper", padding: str = "reflect") -> None:
        if crop % scale:
            raise InvalidInputError(f"crop {crop} must be a multiple of the scale {scale}")
        small = [s.row.stem for s in samples if min(s.image.shape[:2]) < crop]
        if small:
            raise InvalidInputError(
                f"{len(small)} image(s) are smaller than the crop {crop} (e.g. {small[0]}): "
                "use a smaller crop"
            )
        if not samples:
            raise InvalidInputError("no training samples: check the manifest and --data")
        self.samples = list(samples)
        self.crop = crop
        self.batch_size = batch_size
        self.scale = scale
        self.rng = rng
        self.crack_fraction = crack_fraction
        self.protocol = protocol
        self.padding = padding

    def _crop(self, s: Sample) -> Tuple[np.ndarray, np.ndarray]:
        h, w = s.mask.shape
        c = self.crop
        if s.crack_index.size and self.rng.random() < self.crack_fraction:
            flat = int(s.crack_index[self.rng.integers(s.crack_index.size)])
            cy, cx = divmod(flat, w)
            y0 = int(np.clip(cy - self.rng.integers(0, c), 0, h - c))
            x0 = int(np.clip(cx - self.rng.integers(0, c), 0, w - c))
        else:
            y0 = int(self.rng.integers(0, h - c + 1))
            x0 = int(self.rng.integers(0, w - c + 1))
        img = s.image[y0:y0 + c, x0:x0 + c]
        msk = s.mask[y0:y0 + c, x0:x0 + c]
        k = int(self.rng.integers(0, 4))
        if self.rng.random() < 0.5:
            img, msk = img[:, ::-1], msk[:, ::-1]
        return np.rot90(img, k), np.rot90(msk, k)

    def next_hr(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw crops only: (hr (B, 3, c, c) in [0, 1], mask (B, 1, c, c) in {0, 1})."""
        import torch

        idx = self.rng.integers(0, len(self.samples), self.batch_size)
        imgs, msks = zip(*(self._crop(self.samples[int(i)]) for i in idx))
        hr = torch.from_numpy(np.ascontiguousarray(np.stack(imgs).transpose(0, 3, 1, 2)))
        mask = torch.from_numpy(np.ascontiguousarray(np.stack(msks)[:, None]))
        return hr.float().div_(255.0), mask.float()

    def next(self) -> Batch:
        """Draw one degraded batch."""
        from .degrade import degrade

        hr, mask = self.next_hr()
        d = degrade(hr, self.rng, protocol=self.protocol, scale=self.scale,
                    padding=self.padding)
        return Batch(lr=d.lr, hr=d.hr, mask=mask, kernel=d.kernel)


@dataclass
class EvalItem:
    """One fixed evaluation input: LR (1, 3, h, w), HR (1, 3, H, W), mask (H, W) bool."""

    row: ManifestRow
    lr: torch.Tensor
    hr: torch.Tensor
    mask: np.ndarray
    kernel: torch.Tensor


def fixed_eval_items(samples: Sequence[Sample], seed: int = 5, protocol: str = "paper",
                     scale: int = 4, padding: str = "reflect") -> List[EvalItem]:
    """The fixed degraded evaluation set: one deterministic LR per sample (see degrade)."""
    from .degrade import fixed_degradation

    items = []
    for s in samples:
        hr = to_tensor_image(s.image)
        d = fixed_degradation(hr, s.row.dataset, s.row.stem, seed=seed, protocol=protocol,
                              scale=scale, padding=padding)
        items.append(EvalItem(row=s.row, lr=d.lr, hr=d.hr, mask=s.mask, kernel=d.kernel))
    return items
