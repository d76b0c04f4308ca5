"""Hysteresis of the crack mask over a whole raster, computed window by window.

A region of the mask (``p >= threshold``, 8-connected) is kept only if its probability
somewhere reaches ``seed_threshold``: weak responses survive where they continue a
confident crack, isolated weak ones (texture, joints, edges) are dropped. A region can run
through many processing windows and its seed can lie in any of them, so the decision is
global: :func:`seed_map` labels the mask in the disjoint cores of the vectorization grid,
joins the labels across the seams between cores (scipy connected components), and stores
per core which of its mask pixels belong to a seeded region (bit-packed: memory 1 bit per
pixel, ~50 MB for a 400 Mpx raster). Each window then takes its keep mask from there
(:meth:`SeedMap.keep`): results do not depend on the window size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

#: reads (row0, col0, h, w) -> (p (h, w) float32 in [0, 1], valid (h, w) bool)
WindowReader = Callable[[int, int, int, int], Tuple[np.ndarray, np.ndarray]]
Box = Tuple[int, int, int, int]  # (row0, col0, h, w) in raster pixels

EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class SeedMap:
    """Which mask pixels belong to a seeded region, per core of the vectorization grid.

    Attributes:
        cores: (row0, col0, h, w) of every core (disjoint, together the whole raster).
        packed: per core, ``np.packbits`` of its (h, w) keep mask.
    """

    cores: Tuple[Box, ...]
    packed: Tuple[np.ndarray, ...]

    def keep(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        """(h, w) bool: the pixels of window (r0, c0, h, w) that belong to a seeded region."""
        out = np.zeros((h, w), bool)
        for (cr, cc, ch, cw), bits in zip(self.cores, self.packed):
            y0, y1 = max(r0, cr), min(r0 + h, cr + ch)
            x0, x1 = max(c0, cc), min(c0 + w, cc + cw)
            if y0 >= y1 or x0 >= x1:
                continue
            core = np.unpackbits(bits, count=ch * cw).reshape(ch, cw).astype(bool)
            out[y0 - r0:y1 - r0, x0 - c0:x1 - c0] = core[y0 - cr:y1 - cr, x0 - cc:x1 - cc]
        return out


def _label(read: WindowReader, box: Box, threshold: float, seed: float
           ) -> Tuple[np.ndarray, int, np.ndarray]:
    """Labels (h, w) int32 of the mask in ``box``, their count and seeded flag per label
    (index 0 = background, never seeded)."""
    from scipy import ndimage as ndi

    p, valid = read(*box)
    lab, n = ndi.label((p >= threshold) & valid, structure=EIGHT)
    seeded = np.zeros(n + 1, bool)
    if n:  # a region is seeded when one of its pixels reaches the seed
        seeded[np.unique(lab[p >= seed])] = True
        seeded[0] = False
    return lab.astype(np.int32), n, seeded


def _seam_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k, 2) pairs of global labels that touch (8-connected) across a seam between two
    adjacent pixel lines ``a`` and ``b`` of equal length (0 = no crack)."""
    pairs: List[np.ndarray] = []
    n = len(a)
    for d in (-1, 0, 1):
        x = a[max(0, -d):n - max(0, d)]
        y = b[max(0, d):n - max(0, -d)]
        both = (x > 0) & (y > 0)
        if both.any():
            pairs.append(np.stack([x[both], y[both]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def seed_map(read: WindowReader, cores: Sequence[Sequence[Box]], threshold: float,
             seed: float) -> SeedMap:
    """The hysteresis of a raster whose cores form the grid ``cores[row][col]``.

    Two reads of every core: label and find seeds, then (after the labels are joined
    across the seams) write the keep masks.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = len(cores), len(cores[0])
    offset = np.zeros((rows, cols), np.int64)
    seeded_all: List[np.ndarray] = [np.zeros(1, bool)]
    edges: Dict[str, Dict[Tuple[int, int], np.ndarray]] = {
        "top": {}, "bottom": {}, "left": {}, "right": {}}
    total = 0
    for i in range(rows):
        for j in range(cols):
            lab, n, seeded = _label(read, cores[i][j], threshold, seed)
            offset[i, j] = total
            g = np.where(lab > 0, lab.astype(np.int64) + total, 0)
            edges["top"][i, j], edges["bottom"][i, j] = g[0], g[-1]
            edges["left"][i, j], edges["right"][i, j] = g[:, 0], g[:, -1]
            seeded_all.append(seeded[1:])
            total += n
    pairs = [np.zeros((0, 2), np.int64)]
    for i in range(rows - 1):  # horizontal seams: whole raster width, corners included
        upper = np.concatenate([edges["bottom"][i, j] for j in range(cols)])
        lower = np.concatenate([edges["top"][i + 1, j] for j in range(cols)])
        pairs.append(_seam_pairs(upper, lower))
    for j in range(cols - 1):  # vertical seams: whole raster height
        left = np.concatenate([edges["right"][i, j] for i in range(rows)])
        right = np.concatenate([edges["left"][i, j + 1] for i in range(rows)])
        pairs.append(_seam_pairs(left, right))
    e = np.concatenate(pairs)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(total + 1, total + 1))
    _, comp = connected_components(graph, directed=False)
    seeded = np.concatenate(seeded_all)
    comp_seeded = np.zeros(comp.max() + 1, bool)
    comp_seeded[comp[seeded]] = True
    keep = comp_seeded[comp]
    keep[0] = False
    boxes: List[Box] = []
    packed: List[np.ndarray] = []
    for i in range(rows):
        for j in range(cols):
            box = cores[i][j]
            lab, _, _ = _label(read, box, threshold, seed)
            k = np.where(lab > 0, keep[lab.astype(np.int64) + offset[i, j]], False)
            boxes.append(box)
            packed.append(np.packbits(k.ravel()))
    return SeedMap(tuple(boxes), tuple(packed))
