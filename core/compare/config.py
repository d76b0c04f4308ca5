"""Settings of a comparison of two inspections (``csbsr compare``), frozen and validated.

Units: lengths in metres, widths in millimetres, angles in degrees; "px" values are pixels of
the *resolving* grid of each inspection, i.e. the input orthophoto's ground sampling distance
(GSD), not the finer super-resolved grid the lines were traced on (see ``uncertainty.py``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..errors import ConfigError

#: registration models, from the fewest to the most parameters
REG_MODELS = ("translation", "similarity", "affine")


@dataclass(frozen=True)
class CompareConfig:
    """How two inspections are registered, matched and classified.

    Attributes:
        register: estimate the residual transform between the two orthophotos (False =
            ``--no-registration``: the data are trusted to be aligned).
        reg_model: ``auto`` (the simplest model the tie points support, by BIC),
            ``translation``, ``similarity`` (shift, rotation, scale) or ``affine``.
        reg_max_px: the registration images are at most this many pixels a side (the overlap
            is resampled to the coarser orthophoto GSD, or coarser to fit).
        reg_min_inliers: fewer RANSAC inliers than this = cannot be registered.
        reg_ransac_px: RANSAC inlier threshold in registration pixels.
        reg_max_rmse_px: a tie-point residual RMSE above this = cannot be registered.
        assumed_reg_error_m: misregistration assumed with ``register=False`` (None = one GSD
            of the coarser orthophoto).
        min_overlap: the overlap must cover at least this fraction of the smaller footprint.
        k: coverage factor of every uncertainty (2 = about 95 % for a normal error).
        width_sigma_px: standard uncertainty of one median width, in resolving pixels.
        len_rel_sigma: relative standard uncertainty of one length (fraction).
        tip_sigma_px: standard uncertainty of the position of one crack tip along the crack.
        pos_sigma_px: standard uncertainty of a centre-line's position across the crack.
        max_angle_deg: the largest direction difference of two matching lines.
        min_piece_tol: added or lost pieces shorter than this many matching tolerances are
            ignored (they are the ends of the tolerance buffer, not a change).
        max_tol_m: cap on the matching tolerance.
        evidence_ratio: a line missing from the other inspection's lines is not a change when
            that inspection's probability map along it reaches this fraction of its threshold
            (the crack was seen, just below the threshold); 0 = lines only.
        report: also write the HTML change report.
        overwrite: replace existing outputs.
    """

    register: bool = True
    reg_model: str = "auto"
    reg_max_px: int = 3000
    reg_min_inliers: int = 12
    reg_ransac_px: float = 1.5
    reg_max_rmse_px: float = 1.0
    assumed_reg_error_m: Optional[float] = None
    min_overlap: float = 0.05
    k: float = 2.0
    width_sigma_px: float = 0.5
    len_rel_sigma: float = 0.01
    tip_sigma_px: float = 1.0
    pos_sigma_px: float = 1.0
    max_angle_deg: float = 30.0
    min_piece_tol: float = 3.0
    max_tol_m: float = 0.25
    evidence_ratio: float = 0.5
    report: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.reg_model not in ("auto", *REG_MODELS):
            raise ConfigError(f"unknown registration model {self.reg_model!r}: use auto, "
                              f"{', '.join(REG_MODELS)}")
        positive = {"reg_max_px": self.reg_max_px, "reg_ransac_px": self.reg_ransac_px,
                    "reg_max_rmse_px": self.reg_max_rmse_px, "k": self.k,
                    "width_sigma_px": self.width_sigma_px, "tip_sigma_px": self.tip_sigma_px,
                    "pos_sigma_px": self.pos_sigma_px, "max_tol_m": self.max_tol_m,
                    "min_piece_tol": self.min_piece_tol}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if self.reg_max_px < 64:
            raise ConfigError(f"reg_max_px must be >= 64, got {self.reg_max_px}")
        if self.reg_min_inliers < 3:
            raise ConfigError(f"reg_min_inliers must be >= 3, got {self.reg_min_inliers}")
        if not 0.0 <= self.len_rel_sigma < 1.0:
            raise ConfigError(f"len_rel_sigma must be in [0, 1), got {self.len_rel_sigma}")
        if not 0.0 <= self.evidence_ratio <= 1.0:
            raise ConfigError(f"evidence_ratio must be in [0, 1], got {self.evidence_ratio}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ConfigError(f"min_overlap must be in (0, 1], got {self.min_overlap}")
        if not 0.0 < self.max_angle_deg <= 90.0:
            raise ConfigError(f"max_angle_deg must be in (0, 90], got {self.max_angle_deg}")
        if self.assumed_reg_error_m is not None and not (
                math.isfinite(self.assumed_reg_error_m) and self.assumed_reg_error_m >= 0):
            raise ConfigError("assumed_reg_error_m must be >= 0 metres, got "
                              f"{self.assumed_reg_error_m!r}")

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict of every setting."""
        return dataclasses.asdict(self)
