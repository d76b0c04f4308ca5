"""Training recipes (``csbsr train --config lite2|lite|paper``)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from ..errors import ConfigError
from ..model.config import NAMED_MODELS


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe (``csbsr train --config lite|paper``): data, schedule, losses.

    Phases (iterations each; 0 skips a phase): P1 non-blind SR with the true kernel, P2
    kernel estimator only, P3 blind SR, P4 joint SR + segmentation (w^F switched on after
    ``wf_start`` P4 iterations in the w^F variants), P5 BlurSkip only (all else frozen,
    BN and dropout in eval mode). Adam with a cosine decay from ``lr`` to ``lr_min`` inside
    every phase (lr_min == lr gives a constant rate); gradient-norm clip ``grad_clip``.

    Attributes:
        name: label.
        model: named architecture ("lite" or "paper", see ``named_model_config``).
        crop: HR crop side in pixels (a multiple of the scale).
        batch_size: crops per step.
        iters_p1 ... iters_p5: iterations of each phase.
        lr, lr_min: Adam learning-rate range (cosine per phase).
        sr_lr_factor: the SR network's parameters train at ``lr * sr_lr_factor``.
        grad_clip: max gradient norm (0 = off).
        beta: task weight: L = (1 - beta)·L_SR + beta·L_seg.
        aux_weight: weight of the auxiliary segmentation head.
        sr_weights: (HR L1, LR L1, kernel MSE) weights of the KBPN loss.
        m_f: amplitude of the failure-oriented weight w^F.
        wf_start: P4 iteration after which w^F is applied (w^F variants only).
        crack_fraction: share of crops centred on a crack pixel.
        hardneg_fraction: share of crops centred on a hard-negative pixel.
        bank_fraction: share of crops from the orthophoto negative bank (``--negatives``).
        gsd_jitter: (min, max) random zoom of training crops (1, 1 = none).
        colour_jitter: strength of the colour augmentation (0 = none).
        dataset_power: data sets weigh n_images**power (1 = every image alike).
        dataset_boost: ((dataset, factor), ...) extra weight of some data sets.
        hardneg_weight: loss weight of hard-negative pixels (``bce_dice`` loss).
        seg_loss: "boundary_combo" (the paper) or "bce_dice" (thin cracks; see core.losses).
        pos_weight: BCE weight of crack pixels (``bce_dice``).
        protocol: degradation of the validation subset, and of training unless
            ``train_protocols`` is given ("paper" or "realistic").
        train_protocols: training degradations, one drawn per batch (empty = ``protocol``).
        padding: blur padding ("reflect" or "zero").
        hr_policy: "effective" (downsample upsampled sets to their effective resolution) or
            "stored".
        val_images: size of the fixed validation subset evaluated after each phase.
        val_seed: seed of the fixed degraded validation set.
        checkpoint_every: iterations between resumable checkpoints.
        seed: seed of crops, augmentations, kernels and initialisation.
        device: "auto", "cpu" or a GPU spec (see core.device).
        precision: "auto", "fp32", "bf16" or "fp16".
        threads: torch CPU threads (0 = leave torch's default).
    """

    name: str = "lite"
    model: str = "lite"
    crop: int = 96
    batch_size: int = 6
    iters_p1: int = 600
    iters_p2: int = 200
    iters_p3: int = 300
    iters_p4: int = 1500
    iters_p5: int = 300
    lr: float = 3e-4
    lr_min: float = 1e-5
    sr_lr_factor: float = 1.0
    grad_clip: float = 1.0
    beta: float = 0.3
    aux_weight: float = 0.4
    sr_weights: Tuple[float, float, float] = (0.4, 0.4, 0.2)
    m_f: float = 1.0
    wf_start: int = 200
    crack_fraction: float = 0.7
    hardneg_fraction: float = 0.0
    bank_fraction: float = 0.0
    gsd_jitter: Tuple[float, float] = (1.0, 1.0)
    colour_jitter: float = 0.0
    dataset_power: float = 1.0
    dataset_boost: Tuple[Tuple[str, float], ...] = ()
    hardneg_weight: float = 1.0
    seg_loss: str = "boundary_combo"
    pos_weight: float = 3.0
    protocol: str = "paper"
    train_protocols: Tuple[str, ...] = ()
    padding: str = "reflect"
    hr_policy: str = "effective"
    val_images: int = 40
    val_seed: int = 5
    checkpoint_every: int = 100
    seed: int = 1121
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.model not in NAMED_MODELS:
            raise ConfigError(f"model must be one of {sorted(NAMED_MODELS)}, got {self.model!r}")
        scale = NAMED_MODELS[self.model].scale
        if self.crop < 8 * scale or self.crop % scale:
            raise ConfigError(
                f"crop must be a multiple of the scale {scale} and >= {8 * scale}, got {self.crop}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        for name in ("iters_p1", "iters_p2", "iters_p3", "iters_p4", "iters_p5", "wf_start",
                     "val_images", "threads"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if not 0 < self.lr_min <= self.lr:
            raise ConfigError(f"need 0 < lr_min <= lr, got lr={self.lr}, lr_min={self.lr_min}")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError(f"beta must be in [0, 1], got {self.beta}")
        if len(self.sr_weights) != 3 or min(self.sr_weights) < 0:
            raise ConfigError(f"sr_weights must be 3 non-negative numbers, got {self.sr_weights}")
        if not 0.0 <= self.crack_fraction <= 1.0:
            raise ConfigError(f"crack_fraction must be in [0, 1], got {self.crack_fraction}")
        for prot in (self.protocol, *self.train_protocols):
            if prot not in ("paper", "realistic"):
                raise ConfigError(f"protocol must be 'paper' or 'realistic', got {prot!r}")
        if self.seg_loss not in ("boundary_combo", "bce_dice"):
            raise ConfigError(f"seg_loss must be 'boundary_combo' or 'bce_dice', "
                              f"got {self.seg_loss!r}")
        if not 0.0 <= self.crack_fraction + self.hardneg_fraction + self.bank_fraction <= 1.0:
            raise ConfigError("crack_fraction + hardneg_fraction + bank_fraction must be <= 1")
        lo, hi = (float(v) for v in self.gsd_jitter)
        if not 0.1 <= lo <= hi <= 10.0:
            raise ConfigError(f"gsd_jitter must be (min, max) with 0.1 <= min <= max <= 10, "
                              f"got {self.gsd_jitter}")
        if self.pos_weight <= 0 or self.hardneg_weight < 0:
            raise ConfigError("pos_weight must be > 0 and hardneg_weight >= 0")
        if self.padding not in ("reflect", "zero"):
            raise ConfigError(f"padding must be 'reflect' or 'zero', got {self.padding!r}")
        if self.hr_policy not in ("effective", "stored"):
            raise ConfigError(f"hr_policy must be 'effective' or 'stored', got {self.hr_policy!r}")


LITE_TRAIN = TrainConfig()
#: the thin-crack recipe (CSBSR-lite v2): ThinCrackUNet, hard negatives, orthophoto negative
#: bank, zoom and colour augmentation, both degradations, BCE + Dice with deep supervision.
#: Iterations sized for about 90 CPU minutes on 2 cores (bf16).
LITE2_TRAIN = TrainConfig(
    name="lite2", model="lite2", crop=128, batch_size=8, iters_p1=600, iters_p2=200,
    iters_p3=400, iters_p4=8000, iters_p5=600, lr=1e-3, lr_min=2e-5, sr_lr_factor=0.3,
    beta=0.5,
    aux_weight=0.5, wf_start=500, crack_fraction=0.5, hardneg_fraction=0.15,
    bank_fraction=0.08, gsd_jitter=(0.6, 1.6), colour_jitter=1.0, dataset_power=0.5,
    dataset_boost=(("uav75", 4.0), ("paveseg", 2.0), ("nha12d", 2.0)), hardneg_weight=3.0,
    seg_loss="bce_dice", pos_weight=3.0, train_protocols=("paper", "realistic"),
    val_images=60, checkpoint_every=200)
PAPER_TRAIN = TrainConfig(
    name="paper", model="paper", crop=224, batch_size=6, iters_p1=10000, iters_p2=10000,
    iters_p3=10000, iters_p4=670000, iters_p5=20000, lr=2e-5, lr_min=2e-5, grad_clip=0.0,
    wf_start=0, val_images=200, checkpoint_every=2000,
)
NAMED_TRAIN: Dict[str, TrainConfig] = {"lite": LITE_TRAIN, "lite2": LITE2_TRAIN,
                                       "paper": PAPER_TRAIN}


def named_train_config(name: str, **overrides: Any) -> TrainConfig:
    """Return the named training recipe ("lite2", "lite" = CPU, "paper" = GPU), with overrides."""
    if name not in NAMED_TRAIN:
        raise ConfigError(f"unknown train config {name!r}; choose one of {sorted(NAMED_TRAIN)}")
    return dataclasses.replace(NAMED_TRAIN[name], **overrides)


