"""The measurement-uncertainty model of a comparison: what counts as a real change.

Every quantity is the standard uncertainty of *one* measurement, combined in quadrature for a
difference of two independent measurements and multiplied by the coverage factor ``k``
(default 2, about 95 % for a normal error). ``g_old`` and ``g_new`` are the *resolving* GSDs
of the two inspections in metres: the GSD of the input orthophoto (what the camera resolved),
not the finer super-resolved grid the lines are traced on.

* Median width: ``sigma_w = width_sigma_px * g`` (default half a pixel), so
  ``U_w = k * sqrt((s g_old)^2 + (s g_new)^2)``; 11.3 mm at 8 mm/px, 2.8 mm at 2 mm/px.
* Length: ``sigma_L^2 = (len_rel_sigma * L)^2 + 2 (tip_sigma_px * g)^2`` (1 % of the length,
  measured on synthetic cracks in ``docs/measurement.md``, plus one pixel per free tip), so
  ``U_L = k * sqrt(sigma_L(L_old)^2 + sigma_L(L_new)^2)``.
* Matching tolerance across the crack: ``tol = k * sqrt((p g_old)^2 + (p g_new)^2 + e_reg^2)``
  with ``p = pos_sigma_px`` and ``e_reg`` the registration residual (RMSE, metres), plus half
  the wider crack's median width (a crack that widens on one side moves its centre-line by
  half the widening), capped at ``max_tol_m``.
* Tip tolerance along the crack: ``tol_tip = k * sqrt((t g_old)^2 + (t g_new)^2)``: a NEW point
  beyond an OLD tip by less than this is the same tip.

A change inside its uncertainty is ``unchanged``, never ``widened`` or ``extended``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .config import CompareConfig


@dataclass(frozen=True)
class UncertaintyModel:
    """The uncertainty model of one compared pair of runs.

    Attributes:
        g_old_m, g_new_m: resolving GSDs in metres.
        reg_rmse_m: registration residual RMSE in metres (or the assumed misregistration).
        cfg: the comparison settings (k and the per-measurement sigmas).
    """

    g_old_m: float
    g_new_m: float
    reg_rmse_m: float
    cfg: CompareConfig

    def _quad(self, a: float, b: float) -> float:
        return self.cfg.k * math.hypot(a, b)

    @property
    def u_width_mm(self) -> float:
        """Uncertainty (k sigma) of a median-width change, mm."""
        s = self.cfg.width_sigma_px
        return self._quad(s * self.g_old_m, s * self.g_new_m) * 1000.0

    def sigma_len_m(self, length_m: float, g_m: float) -> float:
        """Standard uncertainty of one length measurement (m) at resolving GSD ``g_m``."""
        t = self.cfg.tip_sigma_px * g_m
        return math.sqrt((self.cfg.len_rel_sigma * length_m) ** 2 + 2.0 * t * t)

    def u_len_m(self, len_old_m: float, len_new_m: float) -> float:
        """Uncertainty (k sigma) of a length change between these two lengths, metres."""
        return self._quad(self.sigma_len_m(len_old_m, self.g_old_m),
                          self.sigma_len_m(len_new_m, self.g_new_m))

    @property
    def tol_m(self) -> float:
        """Matching tolerance across the crack for zero-width lines, metres."""
        p = self.cfg.pos_sigma_px
        t = self.cfg.k * math.sqrt((p * self.g_old_m) ** 2 + (p * self.g_new_m) ** 2
                                   + self.reg_rmse_m ** 2)
        return min(t, self.cfg.max_tol_m)

    def tol_pair_m(self, w_old_mm: Optional[float], w_new_mm: Optional[float]) -> float:
        """Matching tolerance for two lines of these median widths (None = unknown), m."""
        w = max(_finite(w_old_mm), _finite(w_new_mm)) / 1000.0
        return min(self.tol_m + 0.5 * w, self.cfg.max_tol_m)

    @property
    def tip_tol_m(self) -> float:
        """Tolerance along the crack at a tip, metres."""
        t = self.cfg.tip_sigma_px
        return self._quad(t * self.g_old_m, t * self.g_new_m)

    @property
    def min_piece_m(self) -> float:
        """Added or lost pieces shorter than this are not a change, metres."""
        return self.cfg.min_piece_tol * self.tol_m

    def to_dict(self) -> Dict[str, Any]:
        """The model in numbers (JSON-ready), with its formulas."""
        c = self.cfg
        return {
            "k": c.k,
            "g_old_mm": self.g_old_m * 1000.0, "g_new_mm": self.g_new_m * 1000.0,
            "reg_rmse_mm": self.reg_rmse_m * 1000.0,
            "width_sigma_px": c.width_sigma_px, "u_width_mm": self.u_width_mm,
            "len_rel_sigma": c.len_rel_sigma, "tip_sigma_px": c.tip_sigma_px,
            "u_len_1m_mm": self.u_len_m(1.0, 1.0) * 1000.0,
            "pos_sigma_px": c.pos_sigma_px, "tol_mm": self.tol_m * 1000.0,
            "tip_tol_mm": self.tip_tol_m * 1000.0, "min_piece_mm": self.min_piece_m * 1000.0,
            "formulas": {
                "u_width": "k*sqrt((s*g_old)^2+(s*g_new)^2), s=width_sigma_px",
                "sigma_len": "sqrt((len_rel_sigma*L)^2 + 2*(tip_sigma_px*g)^2)",
                "u_len": "k*sqrt(sigma_len(L_old,g_old)^2 + sigma_len(L_new,g_new)^2)",
                "tol": "k*sqrt((p*g_old)^2+(p*g_new)^2+reg_rmse^2) + max(w_old,w_new)/2",
            },
        }


def _finite(v: Optional[float]) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else 0.0
