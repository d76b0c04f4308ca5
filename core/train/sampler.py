"""Training batches: crack-biased HR crops with hard negatives, zoom and colour jitter,
degraded on the fly (the crop policy of a recipe: :class:`CropPolicy`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidInputError
from .data import MASK_DOWNSAMPLE_THRESHOLD, Sample

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass
class Batch:
    """A training batch (all float32 tensors on the CPU).

    Attributes:
        lr: (B, 3, crop/s, crop/s) LR input.
        hr: (B, 3, crop, crop) HR target in [0, 1].
        mask: (B, 1, crop, crop) binary crack mask (0/1 floats).
        kernel: (B, K, K) true blur kernel.
        weight: (B, 1, crop, crop) per-pixel loss weight: 0 = ignore, 1 = normal,
            ``hardneg_weight`` on hard negatives; None = all ones.
    """

    lr: torch.Tensor
    hr: torch.Tensor
    mask: torch.Tensor
    kernel: torch.Tensor
    weight: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class CropPolicy:
    """How :class:`PatchSampler` draws crops (the defaults reproduce the first lite recipe).

    Attributes:
        crack_fraction: share of crops centred on a crack pixel.
        hardneg_fraction: share of crops centred on a hard-negative pixel (from samples
            that have hard-negative masks).
        bank_fraction: share of crops from the negative bank (orthophoto scenes).
        gsd_jitter: (min, max) random zoom of a crop (log-uniform); 1 = none. Down-zoomed
            masks are area-resampled and kept where >= 25 % crack, so thin cracks survive.
        colour_jitter: strength of brightness/contrast/saturation jitter (0 = none).
        protocols: degradation protocols, one drawn per batch.
        dataset_power: samples are drawn with probability ~ n_dataset**(power - 1), so data
            sets weigh n**power in total (1 = uniform over images, 0.5 = square-root balance).
        dataset_boost: ((dataset, factor), ...) extra weight of some data sets.
        hardneg_weight: loss weight of hard-negative pixels.
    """

    crack_fraction: float = 0.7
    hardneg_fraction: float = 0.0
    bank_fraction: float = 0.0
    gsd_jitter: Tuple[float, float] = (1.0, 1.0)
    colour_jitter: float = 0.0
    protocols: Tuple[str, ...] = ("paper",)
    dataset_power: float = 1.0
    dataset_boost: Tuple[Tuple[str, float], ...] = ()
    hardneg_weight: float = 1.0


class PatchSampler:
    """Random crack-biased HR crops with zoom, colour, flips and rotations, degraded on the fly.

    Args:
        samples: preloaded samples (at HR size).
        crop: HR crop side in pixels (multiple of ``scale``).
        batch_size: crops per batch.
        scale: SR factor.
        rng: the generator driving crops, augmentations and kernels (checkpointable).
        crack_fraction: probability that a crop is centred around a crack pixel (overrides
            ``policy.crack_fraction``; kept for the first recipe's call sites).
        protocol: degradation protocol ("paper" or "realistic"); overridden by
            ``policy.protocols`` when a policy is given.
        padding: blur padding ("reflect" or "zero").
        policy: the crop policy (None = the first lite recipe's).
        bank: crack-free orthophoto crops (:class:`core.negatives.NegativeBank`), or None.
    """

    def __init__(self, samples: Sequence[Sample], crop: int, batch_size: int, scale: int,
                 rng: np.random.Generator, crack_fraction: Optional[float] = None,
                 protocol: str = "paper", padding: str = "reflect",
                 policy: Optional[CropPolicy] = None, bank: Any = None) -> None:
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
        if policy is None:
            policy = CropPolicy(protocols=(protocol,))
        if crack_fraction is not None:
            policy = dataclasses.replace(policy, crack_fraction=crack_fraction)
        self.samples = list(samples)
        self.crop = crop
        self.batch_size = batch_size
        self.scale = scale
        self.rng = rng
        self.policy = policy
        self.padding = padding
        self.bank = bank if policy.bank_fraction > 0 else None
        self.weights = _sample_weights(self.samples, policy)
        self.hardneg = np.array([i for i, s in enumerate(self.samples)
                                 if s.negative_index.size], np.int64)

    @property
    def crack_fraction(self) -> float:
        """Share of crack-centred crops."""
        return self.policy.crack_fraction

    def _pick(self, pool: Optional[np.ndarray] = None) -> Sample:
        if pool is None:
            return self.samples[int(self.rng.choice(len(self.samples), p=self.weights))]
        w = self.weights[pool] / self.weights[pool].sum()
        return self.samples[int(pool[self.rng.choice(len(pool), p=w)])]

    def _item(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One crop: image (c, c, 3) uint8, mask (c, c) bool, weight (c, c) float32."""
        p, c, r = self.policy, self.crop, self.rng.random()
        if self.bank is not None and r < p.bank_fraction:
            img = self.bank.crop(c, self.rng)
            return img, np.zeros((c, c), bool), np.ones((c, c), np.float32)
        r -= p.bank_fraction if self.bank is not None else 0.0
        centre: Optional[str] = None
        if self.hardneg.size and r < p.hardneg_fraction:
            s, centre = self._pick(self.hardneg), "negative"
        else:
            s = self._pick()
            if s.crack_index.size and self.rng.random() < p.crack_fraction:
                centre = "crack"
        return self._crop(s, centre)

    def _crop(self, s: Sample, centre: Optional[str]
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = s.mask.shape
        c = self.crop
        lo, hi = self.policy.gsd_jitter
        zoom = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
        src = int(min(h, w, max(8, round(c / zoom))))
        index = {"crack": s.crack_index, "negative": s.negative_index}.get(centre or "")
        if index is not None and index.size:
            cy, cx = divmod(int(index[self.rng.integers(index.size)]), w)
            y0 = int(np.clip(cy - self.rng.integers(0, src), 0, h - src))
            x0 = int(np.clip(cx - self.rng.integers(0, src), 0, w - src))
        else:
            y0 = int(self.rng.integers(0, h - src + 1))
            x0 = int(self.rng.integers(0, w - src + 1))
        win = (slice(y0, y0 + src), slice(x0, x0 + src))
        img, msk = s.image[win], s.mask[win]
        weight = np.ones((src, src), np.float32)
        if s.negative is not None:
            weight[s.negative[win]] = self.policy.hardneg_weight
        if s.ignore is not None:
            weight[s.ignore[win]] = 0.0
        if src != c:
            img, msk, weight = _zoom(img, msk, weight, c)
        k = int(self.rng.integers(0, 4))
        if self.rng.random() < 0.5:
            img, msk, weight = img[:, ::-1], msk[:, ::-1], weight[:, ::-1]
        img = np.rot90(img, k)
        if self.policy.colour_jitter > 0:
            img = _colour_jitter(img, self.rng, self.policy.colour_jitter)
        return img, np.rot90(msk, k), np.rot90(weight, k)

    def next_hr(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw crops only: (hr (B, 3, c, c) in [0, 1], mask (B, 1, c, c) in {0, 1})."""
        hr, mask, _ = self._next_hr()
        return hr, mask

    def _next_hr(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        imgs, msks, wts = zip(*(self._item() for _ in range(self.batch_size)))
        hr = torch.from_numpy(np.ascontiguousarray(np.stack(imgs).transpose(0, 3, 1, 2)))
        mask = torch.from_numpy(np.ascontiguousarray(np.stack(msks)[:, None]))
        weight = torch.from_numpy(np.ascontiguousarray(np.stack(wts)[:, None]))
        return hr.float().div_(255.0), mask.float(), weight

    def next(self) -> Batch:
        """Draw one degraded batch."""
        from .degrade import degrade

        hr, mask, weight = self._next_hr()
        protocols = self.policy.protocols
        protocol = protocols[int(self.rng.integers(len(protocols)))] if len(protocols) > 1 \
            else protocols[0]
        d = degrade(hr, self.rng, protocol=protocol, scale=self.scale, padding=self.padding)
        return Batch(lr=d.lr, hr=d.hr, mask=mask, kernel=d.kernel, weight=weight)


def _sample_weights(samples: Sequence[Sample], policy: CropPolicy) -> np.ndarray:
    """Per-sample draw probabilities (data-set balance and boosts)."""
    names = [s.row.dataset for s in samples]
    counts: Dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    boost = dict(policy.dataset_boost)
    w = np.array([counts[n] ** (policy.dataset_power - 1.0) * boost.get(n, 1.0) for n in names],
                 np.float64)
    return w / w.sum()


def _zoom(img: np.ndarray, msk: np.ndarray, weight: np.ndarray, c: int
          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample a square crop to c x c (area when shrinking, linear when enlarging)."""
    import cv2

    shrink = img.shape[0] > c
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    img = cv2.resize(np.ascontiguousarray(img), (c, c), interpolation=interp)
    mf = cv2.resize(msk.astype(np.float32), (c, c), interpolation=interp)
    msk = mf > (MASK_DOWNSAMPLE_THRESHOLD if shrink else 0.5)
    wt = cv2.resize(np.ascontiguousarray(weight), (c, c), interpolation=cv2.INTER_NEAREST)
    return img, msk, wt


def _colour_jitter(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast, saturation (and sometimes greyscale) of a uint8 crop."""
    x = img.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    if rng.random() < 0.15 * strength:
        x = np.repeat(grey, 3, axis=2)
    else:
        sat = 1.0 + strength * rng.uniform(-0.4, 0.4)
        x = grey + sat * (x - grey)
    contrast = 1.0 + strength * rng.uniform(-0.3, 0.3)
    bright = strength * rng.uniform(-20.0, 20.0)
    mean = x.mean()
    x = (x - mean) * contrast + mean + bright
    return np.clip(x, 0, 255).astype(np.uint8)
