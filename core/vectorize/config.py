"""Configuration of vectorization and measurement (``csbsr vectorize``): cleaning, graph,
widths, severity standards, crack types."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..errors import ConfigError

SEVERITY_STANDARDS: Dict[str, Tuple[float, float]] = {
    "d6433": (10.0, 75.0),  # ASTM D6433 L&T: < 10 mm low, 10-75 mm medium, > 75 mm high
    "ltpp": (6.0, 19.0),  # FHWA LTPP DIM L&T: <= 6 mm low, 6-19 mm medium, > 19 mm high
}
SEVERITY_BASES = ("w_med", "w_mean", "w_p95", "w_max")
LENGTH_MODES = ("grid", "ellipsoid")


@dataclass(frozen=True)
class VectorizeConfig:
    """How crack probability/mask rasters become measured centre-lines (``core/vectorize.py``).

    Attributes:
        threshold: crack if probability >= threshold (0-1; also the width iso-level).
        seed_threshold: hysteresis: a connected region of the mask (``p >= threshold``) is
            kept only if its peak probability reaches this (0-1): weak responses are kept
            where they continue a confident crack, isolated ones are dropped. None or a
            value <= threshold = off (``csbsr run`` then takes the model card's).
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
        length_mode: "grid" = lengths as distances in the raster's projected CRS; "ellipsoid"
            = on the CRS's ellipsoid (the projection's scale error removed). A geographic CRS
            is always measured on the ellipsoid.
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
    seed_threshold: Optional[float] = None
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
    length_mode: str = "grid"
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
        if self.seed_threshold is not None and not 0.0 <= float(self.seed_threshold) < 1.0:
            raise ConfigError(f"seed_threshold (--seed-threshold) must be a probability in "
                              f"[0, 1), or 0 to switch the seed off; got {self.seed_threshold}")
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
        if self.length_mode not in LENGTH_MODES:
            raise ConfigError(f"length_mode must be one of {LENGTH_MODES}, "
                              f"got {self.length_mode!r}")
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

    @property
    def hysteresis(self) -> bool:
        """True when ``seed_threshold`` drops regions (it is above ``threshold``)."""
        return self.seed_threshold is not None and self.seed_threshold > self.threshold

    def severity_thresholds_mm(self) -> Tuple[float, float]:
        """Return the (low/medium, medium/high) width limits in mm of the chosen standard."""
        if self.standard == "custom":
            a, b = self.custom_thresholds_mm  # type: ignore[misc]
            return float(a), float(b)
        return SEVERITY_STANDARDS[self.standard]


