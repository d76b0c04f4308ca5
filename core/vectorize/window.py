"""The pure per-window step of vectorization: probability (or mask) -> clipped pieces.

``vectorize_window`` knows nothing about files: a batch or distributed engine can call it on
any window of a raster and stitch the pieces afterwards (:mod:`.stitch`).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from .centerline import edge_piece
from .clean import Interior, clean_mask
from .config import VectorizeConfig
from .graph import WindowGraph
from .stitch import Core, Piece, clip


def vectorize_window(p: np.ndarray, valid: np.ndarray, origin: Tuple[int, int], core: Core,
                     interior: Interior, cfg: VectorizeConfig, wid: int, src: str,
                     keep: Optional[np.ndarray] = None) -> List[Piece]:
    """Vectorize one window; return the pieces inside its core (global pixel coordinates).

    Args:
        p: (H, W) float32 probability in [0, 1] (or a 0/1 mask) of the window.
        valid: (H, W) bool analysed pixels.
        origin: (row0, col0) of the window in the raster.
        core: the box (x0, x1, y0, y1) this window's output is kept for (global continuous
            pixel coordinates, +-inf at the raster edges); cores of all windows tile the raster.
        interior: which window edges are interior (another window continues there).
        cfg: vectorization settings.
        wid: the window's index (unique per raster).
        src: "prob" or "mask" (what widths are measured on).
        keep: (H, W) bool pixels of seeded regions (hysteresis, :mod:`.hysteresis`); None =
            every region.
    """
    mask = (p >= float(cfg.threshold)) & valid
    if keep is not None:
        mask &= keep
    if not mask.any():
        return []
    mask = clean_mask(mask, cfg, interior)
    if not mask.any():
        return []
    wg = WindowGraph(mask, valid, interior, cfg)
    deg = wg.graph.degrees()
    pieces: List[Piece] = []
    for u, v, pts in wg.graph.edges.values():
        pieces.extend(clip(edge_piece(wg, u, v, pts, deg, p, cfg, origin, wid, src), core))
    return pieces
