"""Mask cleaning before skeletonization: small components, blobs and small holes."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .config import VectorizeConfig

#: (top, bottom, left, right): True where the window edge is interior (another window goes on)
Interior = Tuple[bool, bool, bool, bool]


def drop_blobs(mask: np.ndarray, min_elongation: float,
                interior: Interior) -> np.ndarray:
    """Drop compact components: a crack is long and thin, a blob (tree crown, stain, spall,
    car) is not. Elongation = L² / A with L the skeleton length and A the area (pixels);
    a crack w px wide and L long has L / w, a disc about 1. Components cut by an interior
    window edge are kept (they are judged whole in the window that holds them)."""
    from scipy import ndimage as ndi
    from skimage.morphology import skeletonize

    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if not n:
        return mask
    area = np.bincount(lab.ravel(), minlength=n + 1).astype(np.float64)
    skel = np.bincount(lab[skeletonize(mask)], minlength=n + 1).astype(np.float64)
    blob = skel ** 2 < min_elongation * np.maximum(area, 1.0)
    blob[0] = False
    top, bottom, left, right = interior
    for on, edge in ((top, lab[0]), (bottom, lab[-1]), (left, lab[:, 0]), (right, lab[:, -1])):
        if on:
            blob[np.unique(edge)] = False
    return mask & ~blob[lab] if blob.any() else mask


def clean_mask(mask: np.ndarray, cfg: VectorizeConfig, interior: Interior
           ) -> np.ndarray:
    """Drop small components and blobs (not those cut by an interior window edge); fill
    small holes."""
    from scipy import ndimage as ndi

    if cfg.min_elongation > 0:
        mask = drop_blobs(mask, cfg.min_elongation, interior)
    st = np.ones((3, 3), bool)
    if cfg.min_area_px > 0:
        lab, n = ndi.label(mask, structure=st)
        if n:
            sizes = np.bincount(lab.ravel())
            small = sizes < cfg.min_area_px
            small[0] = False
            top, bottom, left, right = interior
            for on, edge in ((top, lab[0]), (bottom, lab[-1]), (left, lab[:, 0]),
                             (right, lab[:, -1])):
                if on:
                    small[np.unique(edge)] = False
            if small.any():
                mask = mask & ~small[lab]
    if cfg.hole_area_px > 0:
        lab, n = ndi.label(~mask)
        if n:
            sizes = np.bincount(lab.ravel())
            fill = sizes <= cfg.hole_area_px
            fill[0] = False
            # holes touching the window edge are not holes
            for edge in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
                fill[np.unique(edge)] = False
            if fill.any():
                mask = mask | fill[lab]
    return mask
