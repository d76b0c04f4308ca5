"""Frozen, validated configuration dataclasses and their dict/JSON round-trips.

Each consumer receives only the sub-config it needs. ``nn.Module``s never see a config:
``model/factory.py`` translates :class:`ModelConfig` into constructor arguments.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Type, TypeVar, Union

from .errors import ConfigError
from .model.config import (
    NAMED_MODELS,
    BlurSkipConfig,
    ModelConfig,
    SegConfig,
    SRConfig,
)

T = TypeVar("T")



def from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Raises:
        ConfigError: on unknown keys or a value that fails validation.
    """
    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls!r} is not a config dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(fields)}"
        )
    kwargs: Dict[str, Any] = {}
    for name, value in data.items():
        ftype = fields[name].type
        sub = _NESTED.get(ftype) if isinstance(ftype, str) else None
        if sub is not None and isinstance(value, dict):
            kwargs[name] = from_dict(sub, value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def to_dict(obj: Any) -> Dict[str, Any]:
    """Return a JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def save_json(obj: Any, path: Union[str, Path]) -> None:
    """Write a config dataclass as indented JSON."""
    Path(path).write_text(json.dumps(to_dict(obj), indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Normalisation:
    """How raster values map to the model's [0, 1] input: ``(x - offset) / scale``.

    Attributes:
        value_scale: divisor (255 for 8-bit, 65535 or a percentile for 16-bit).
        value_offset: subtracted before dividing.
    """

    value_scale: float = 255.0
    value_offset: float = 0.0

    def __post_init__(self) -> None:
        import math

        for name in ("value_scale", "value_offset"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(f"normalisation.{name} must be a finite number, got {v!r}")
        if not self.value_scale > 0:
            raise ConfigError(f"normalisation.value_scale must be > 0, got {self.value_scale}")


# Sub-configs of other stages (tiling, inference, vectorization, training) are added
# below by the modules that own those stages.


@dataclass(frozen=True)
class TileConfig:
    """How a raster is cut into tiles for inference (all sizes in LR = input pixels).

    Attributes:
        tile_px: side of a tile's core (the part whose output is kept); None = auto
            (128 on CPU, 256 on GPU). Larger tiles waste less compute on the halo.
        overlap_px: halo added on every side of a core and cropped away after inference;
            None = the model card's ``halo_lr_px`` (at least the receptive field / 2).
        batch: tiles per forward pass; None = auto (1 on CPU, 8 on GPU). A GPU
            out-of-memory error halves it and goes on.
    """

    tile_px: Optional[int] = None
    overlap_px: Optional[int] = None
    batch: Optional[int] = None

    def __post_init__(self) -> None:
        if self.tile_px is not None and not 16 <= int(self.tile_px) <= 8192:
            raise ConfigError(f"tile_px must be in 16..8192 LR pixels, got {self.tile_px}")
        if self.overlap_px is not None and not 0 <= int(self.overlap_px) <= 1024:
            raise ConfigError(f"overlap_px must be in 0..1024 LR pixels, got {self.overlap_px}")
        if self.batch is not None and int(self.batch) < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")


GSD_POLICIES = ("auto", "native")
PROB_DTYPES = ("uint8", "float16")


@dataclass(frozen=True)
class InferenceConfig:
    """Everything ``core.infer.detect`` needs besides the raster and the output folder.

    Attributes:
        model_path: a ``*.safetensors`` model (with its ``.json`` card); None = the shipped
            default (``default_model_path()``).
        device: "auto", "cpu" or a GPU (any spec ``core.device.resolve_device`` accepts).
        precision: "auto", "fp32", "bf16" or "fp16" (fp16 on GPU only).
        tile: tiling (tile size, halo, batch).
        threshold: probability threshold of the binary mask in [0, 1]; None = the model
            card's ``recommended_threshold``.
        save_sr: also write the super-resolved RGB image (3 bands, uint8).
        bands: 1-based band indexes of the red, green and blue inputs.
        prob_dtype: "uint8" (probability x 255) or "float16" (probability in [0, 1]).
        gsd_m: input ground sampling distance in metres to assume instead of the raster's
            own (e.g. a raster with a wrong pixel size); None = from the geotransform.
        gsd_policy: "auto" = resample to the model's input GSD when the raster's GSD
            differs by more than ``gsd_tolerance`` (with a warning); "native" = run at the
            raster's own GSD whatever it is.
        gsd_tolerance: relative GSD difference accepted without resampling (0.25 = 25 %).
        value_range: (low, high) raster values mapped to 0 and 1; None = the model card's
            normalisation for 8-bit input and the 0.5-99.5 percentiles of a decimated read
            for other data types.
        aoi: (xmin, ymin, xmax, ymax) in the raster's CRS units: process only this extent
            (snapped outwards to whole input pixels); None = the whole raster.
        overwrite: replace existing outputs.
        threads: CPU threads for torch; None = leave torch's default.
    """

    model_path: Optional[str] = None
    device: str = "auto"
    precision: str = "auto"
    tile: TileConfig = field(default_factory=TileConfig)
    threshold: Optional[float] = None
    save_sr: bool = False
    bands: Tuple[int, ...] = (1, 2, 3)
    prob_dtype: str = "uint8"
    gsd_m: Optional[float] = None
    gsd_policy: str = "auto"
    gsd_tolerance: float = 0.25
    value_range: Optional[Tuple[float, float]] = None
    aoi: Optional[Tuple[float, float, float, float]] = None
    overwrite: bool = False
    threads: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.tile, TileConfig):
            raise ConfigError(f"tile must be a TileConfig, got {type(self.tile).__name__}")
        if self.threshold is not None and not 0.0 < float(self.threshold) < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if len(self.bands) != 3 or any(int(b) < 1 for b in self.bands):
            raise ConfigError(f"bands must be three 1-based band numbers, got {self.bands}")
        if self.prob_dtype not in PROB_DTYPES:
            raise ConfigError(f"prob_dtype must be one of {PROB_DTYPES}, got {self.prob_dtype!r}")
        if self.gsd_policy not in GSD_POLICIES:
            raise ConfigError(f"gsd_policy must be one of {GSD_POLICIES}, got {self.gsd_policy!r}")
        if self.gsd_m is not None and not float(self.gsd_m) > 0:
            raise ConfigError(f"gsd_m must be > 0 metres, got {self.gsd_m}")
        if not 0.0 <= float(self.gsd_tolerance) <= 10.0:
            raise ConfigError(f"gsd_tolerance must be in [0, 10], got {self.gsd_tolerance}")
        if self.value_range is not None and (
            len(self.value_range) != 2 or not self.value_range[1] > self.value_range[0]
        ):
            raise ConfigError(f"value_range must be (low, high) with high > low, "
                              f"got {self.value_range}")
        if self.aoi is not None and (
            len(self.aoi) != 4 or not (self.aoi[2] > self.aoi[0] and self.aoi[3] > self.aoi[1])
        ):
            raise ConfigError(
                f"aoi must be (xmin, ymin, xmax, ymax) with max > min, got {self.aoi}")
        if self.threads is not None and int(self.threads) < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")


SEVERITY_STANDARDS: Dict[str, Tuple[float, float]] = {
    "d6433": (10.0, 75.0),  # ASTM D6433 L&T: < 10 mm low, 10-75 mm medium, > 75 mm high
    "ltpp": (6.0, 19.0),  # FHWA LTPP DIM L&T: <= 6 mm low, 6-19 mm medium, > 19 mm high
}
SEVERITY_BASES = ("w_med", "w_mean", "w_p95", "w_max")


@dataclass(frozen=True)
class VectorizeConfig:
    """How crack probability/mask rasters become measured centre-lines (``core/vectorize.py``).

    Attributes:
        threshold: crack if probability >= threshold (0-1; also the width iso-level).
        min_area_px: connected components smaller than this (pixels) are dropped.
        hole_area_px: holes smaller than this (pixels) inside cracks are filled.
        min_length_px: isolated tip-to-tip fragments shorter than this (pixels) are dropped.
        min_crack_length_m: whole cracks (segments connected through junctions) shorter
            than this (metres) are dropped; 0 keeps every crack.
        min_elongation: connected regions of the mask whose skeleton length² / area is
            below this are blobs, not cracks (a crack w px wide and L long scores L / w, a
            tree crown or a stain about 1), and are dropped; 0 keeps them.
        spur_factor: a tip branch shorter than max(spur_min_px, spur_factor * junction radius)
            is a spur and is pruned (pixels).
        spur_min_px: see ``spur_factor`` (pixels).
        smooth_sigma_px: Gaussian smoothing of the centre-line vertices (pixels).
        tip_extension: extend free tips by (radius - 0.5 px) along the end tangent.
        simplify_px: Douglas-Peucker tolerance applied to the stored geometry after measuring
            (pixels; 0 = keep every vertex).
        resolvable_px: median widths under this (pixels) are flagged not resolvable and get
            severity "NR".
        standard: severity standard: "d6433" (default), "ltpp" or "custom".
        custom_thresholds_mm: (low/medium, medium/high) width limits in mm for "custom".
        severity_basis: width statistic the severity uses: w_med, w_mean, w_p95 or w_max.
        road_azimuth_deg: road/structure axis, degrees clockwise from grid north (0-180); None
            = crack types are not classified by orientation ("uncl").
        long_tol_deg: within this angle of the road axis a crack is longitudinal, within this
            angle of its normal transverse, else diagonal (degrees).
        alligator_cell_m: closed cells smaller than this (sqrt of area, metres) = alligator.
        block_cell_m: closed cells from alligator_cell_m up to this size = block cracking.
        window_px: side of the processing window (pixels); bounds memory.
        overlap_px: overlap between windows (pixels); must exceed crack width + 16.
    """

    threshold: float = 0.5
    min_area_px: int = 20
    hole_area_px: int = 8
    min_length_px: float = 10.0
    min_crack_length_m: float = 0.05
    min_elongation: float = 5.0
    spur_factor: float = 1.5
    spur_min_px: float = 3.0
    smooth_sigma_px: float = 2.0
    tip_extension: bool = True
    simplify_px: float = 0.5
    resolvable_px: float = 2.5
    standard: str = "d6433"
    custom_thresholds_mm: Optional[Tuple[float, float]] = None
    severity_basis: str = "w_med"
    road_azimuth_deg: Optional[float] = None
    long_tol_deg: float = 20.0
    alligator_cell_m: float = 0.3
    block_cell_m: float = 3.0
    window_px: int = 2048
    overlap_px: int = 128

    def __post_init__(self) -> None:
        if not 0.0 < float(self.threshold) < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.standard not in (*SEVERITY_STANDARDS, "custom"):
            raise ConfigError(
                f"standard must be one of {[*SEVERITY_STANDARDS, 'custom']}, got {self.standard!r}"
            )
        if self.standard == "custom":
            t = self.custom_thresholds_mm
            if t is None or len(t) != 2 or not 0 < float(t[0]) < float(t[1]):
                raise ConfigError(
                    "standard 'custom' needs custom_thresholds_mm=(low_mm, high_mm) with "
                    f"0 < low < high, got {t!r} (CLI: --custom-thresholds-mm 5,20)"
                )
        if self.severity_basis not in SEVERITY_BASES:
            raise ConfigError(
                f"severity_basis must be one of {SEVERITY_BASES}, got {self.severity_basis!r}"
            )
        if self.road_azimuth_deg is not None and not (
            -360.0 <= float(self.road_azimuth_deg) <= 360.0
        ):
            raise ConfigError(f"road_azimuth_deg must be in degrees, got {self.road_azimuth_deg}")
        if not 0.0 < float(self.long_tol_deg) < 45.0:
            raise ConfigError(f"long_tol_deg must be in (0, 45), got {self.long_tol_deg}")
        for name in ("min_area_px", "hole_area_px", "min_length_px", "min_crack_length_m",
                     "min_elongation", "spur_factor",
                     "spur_min_px", "smooth_sigma_px", "simplify_px", "resolvable_px"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < float(self.alligator_cell_m) < float(self.block_cell_m):
            raise ConfigError("need 0 < alligator_cell_m < block_cell_m (metres)")
        if int(self.overlap_px) < 32:
            raise ConfigError(f"overlap_px must be >= 32, got {self.overlap_px}")
        if int(self.window_px) < 2 * int(self.overlap_px) + 32:
            raise ConfigError(
                f"window_px ({self.window_px}) must be >= 2 * overlap_px + 32 "
                f"({2 * int(self.overlap_px) + 32})"
            )

    def severity_thresholds_mm(self) -> Tuple[float, float]:
        """Return the (low/medium, medium/high) width limits in mm of the chosen standard."""
        if self.standard == "custom":
            a, b = self.custom_thresholds_mm  # type: ignore[misc]
            return float(a), float(b)
        return SEVERITY_STANDARDS[self.standard]


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


_NESTED: Dict[str, Type[Any]] = {"ModelConfig": ModelConfig, "SRConfig": SRConfig,
                                 "SegConfig": SegConfig, "BlurSkipConfig": BlurSkipConfig,
                                 "Normalisation": Normalisation,
                                 "TileConfig": TileConfig, "InferenceConfig": InferenceConfig,
                                 "VectorizeConfig": VectorizeConfig,
                                 "TrainConfig": TrainConfig}
