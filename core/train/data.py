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

Extra masks beside a pair, found by convention under the data set's folder with the same
stem (``AUX_MASKS``): *hard negatives* (look-alikes labelled as background: UAV75
``planking/`` formwork lines, PaveSeg ``hardneg/`` sealed cracks and joints) that the
sampler centres crops on and the loss weights up, and *ignore* areas (PaveSeg ``ignore/``
alligator areas without pixel labels) that the loss skips.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check_cancelled

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .degrade import Camera

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
    negative: Optional[Path] = None  # hard-negative mask (look-alikes), if the set has one
    ignore: Optional[Path] = None  # areas without pixel labels, if the set has them


_EFFECTIVE = re.compile(r"effective\s*~?\s*(\d+)\s*x\s*(\d+)", re.IGNORECASE)
_FROM = re.compile(r"from\s+(\d+)\s*x\s*(\d+)", re.IGNORECASE)
_FACTOR = re.compile(r"upsampled\s*~?\s*(\d+(?:\.\d+)?)\s*x\s+to\s+(\d+)\s*x\s*(\d+)",
                     re.IGNORECASE)

#: extra masks by data set: kind -> folder (same stem, PNG, 0 = no, > 127 = yes)
AUX_MASKS: Dict[str, Dict[str, str]] = {
    "uav75": {"negative": "planking"},
    "paveseg": {"negative": "hardneg", "ignore": "ignore"},
}


def parse_effective_resolution(text: str) -> Optional[Tuple[int, int]]:
    """Parse "(effective ~256x181 ...)", "... from 256x256 ..." or "upsampled ~3x to 448x448"
    into the effective (width, height).

    Returns None for "native" or an unparseable text.
    """
    for rx in (_EFFECTIVE, _FROM):
        m = rx.search(text or "")
        if m:
            return int(m.group(1)), int(m.group(2))
    m = _FACTOR.search(text or "")
    if m:
        f = float(m.group(1))
        return int(round(int(m.group(2)) / f)), int(round(int(m.group(3)) / f))
    return None


def read_manifests(paths: Union[PathLike, Sequence[PathLike]],
                   roles: Optional[Sequence[str]] = None) -> List[ManifestRow]:
    """Read one manifest or several (their rows concatenated); see :func:`read_manifest`."""
    if isinstance(paths, (str, Path)):
        return read_manifest(paths, roles)
    rows: List[ManifestRow] = []
    for p in paths:
        rows += read_manifest(p, roles)
    return rows


def _aux_path(root: Path, dataset: str, kind: str, stem: str) -> Optional[Path]:
    folder = AUX_MASKS.get(dataset, {}).get(kind)
    if folder is None:
        return None
    p = root / dataset / folder / f"{stem}.png"
    return p if p.is_file() else None


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
                          extra={k: v for k, v in r.items() if k not in REQUIRED_COLUMNS},
                          negative=_aux_path(root, r["dataset"], "negative", r["stem"]),
                          ignore=_aux_path(root, r["dataset"], "ignore", r["stem"]))
        if not row.image.is_file() or not row.mask.is_file():
            raise InvalidInputError(
                f"manifest row {row.dataset}/{row.stem}: {row.image} or {row.mask} is missing; "
                "paths must be relative to the manifest's folder"
            )
        rows.append(row)
    return rows


@dataclass
class Sample:
    """One preloaded pair at HR size.

    Attributes:
        row: its manifest row.
        image: (H, W, 3) uint8 RGB.
        mask: (H, W) bool, True = crack.
        crack_index: flat indices of crack pixels (int64).
        negative: (H, W) bool hard-negative pixels (look-alikes), or None.
        ignore: (H, W) bool pixels without labels (skipped by the loss), or None.
        negative_index: flat indices of hard-negative pixels (int64; empty without any).
    """

    row: ManifestRow
    image: np.ndarray
    mask: np.ndarray
    crack_index: np.ndarray
    negative: Optional[np.ndarray] = None
    ignore: Optional[np.ndarray] = None
    negative_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _read_binary(path: Optional[Path], shape: Tuple[int, ...]) -> Optional[np.ndarray]:
    import cv2

    if path is None:
        return None
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None or m.shape != shape:
        raise InvalidInputError(f"cannot use {path}: unreadable or not {shape[1]}x{shape[0]} px")
    on = m > 127
    return on if on.any() else None


def _resize_binary(m: np.ndarray, w: int, h: int, threshold: float) -> np.ndarray:
    import cv2

    return cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > threshold


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
    negative = _read_binary(row.negative, mask.shape)
    ignore = _read_binary(row.ignore, mask.shape)
    if hr_policy == "effective" and not row.sr_hr_target_ok and row.effective_size:
        w, h = row.effective_size
        if (w, h) != (img.shape[1], img.shape[0]):
            img = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_AREA)
            mask = _resize_binary(mask, w, h, MASK_DOWNSAMPLE_THRESHOLD)
            negative = None if negative is None else _resize_binary(negative, w, h, 0.5)
            ignore = None if ignore is None else _resize_binary(ignore, w, h, 0.0)
    h = img.shape[0] - img.shape[0] % multiple
    w = img.shape[1] - img.shape[1] % multiple
    img = np.ascontiguousarray(img[:h, :w])
    mask = np.ascontiguousarray(mask[:h, :w])
    negative = None if negative is None else np.ascontiguousarray(negative[:h, :w] & ~mask[:h, :w])
    ignore = None if ignore is None else np.ascontiguousarray(ignore[:h, :w])
    return Sample(row=row, image=img, mask=mask,
                  crack_index=np.flatnonzero(mask.ravel()).astype(np.int64),
                  negative=negative, ignore=ignore,
                  negative_index=(np.flatnonzero(negative.ravel()).astype(np.int64)
                                  if negative is not None else np.zeros(0, np.int64)))


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
class EvalItem:
    """One fixed evaluation input: LR (1, 3, h, w), HR (1, 3, H, W), mask (H, W) bool."""

    row: ManifestRow
    lr: torch.Tensor
    hr: torch.Tensor
    mask: np.ndarray
    kernel: torch.Tensor


def fixed_eval_items(samples: Sequence[Sample], seed: int = 5, protocol: str = "paper",
                     scale: int = 4, padding: str = "reflect",
                     camera: Optional[Camera] = None) -> List[EvalItem]:
    """The fixed degraded evaluation set: one deterministic LR per sample (see degrade);
    ``camera``: the sensor part of "realistic" (:class:`.degrade.Camera`; None = the
    protocol's own)."""
    from .degrade import REALISTIC_CAMERA, fixed_degradation

    items = []
    for s in samples:
        hr = to_tensor_image(s.image)
        d = fixed_degradation(hr, s.row.dataset, s.row.stem, seed=seed, protocol=protocol,
                              scale=scale, padding=padding, camera=camera or REALISTIC_CAMERA)
        items.append(EvalItem(row=s.row, lr=d.lr, hr=d.hr, mask=s.mask, kernel=d.kernel))
    return items
