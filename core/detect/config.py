"""Configuration of tiled detection (``csbsr detect``): tiling, device, GSD policy, output."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from ..errors import ConfigError


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


