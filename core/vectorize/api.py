"""Crack probability/mask rasters -> measured crack centre-lines (:class:`CrackNetwork`).

Pipeline, per overlapping window (memory bounded):

1. threshold (``p >= cfg.threshold``), drop small components, fill small holes;
2. Lee skeleton (scikit-image) -> skan path graph;
3. iterative scale-adaptive spur pruning (tip branch shorter than
   ``max(spur_min_px, spur_factor * r_junction)``), degree-2 joins, junction-cluster merging
   (junction-junction branches shorter than ``r1 + r2``), short isolated fragments dropped;
4. per branch: Gaussian smoothing of the pixel chain (odd-reflected, ends pinned), free tips
   extended by ``r_tip - 0.5`` px along the end tangent (the raw chain-code length overestimates
   oblique cracks by 5-8 %);
5. width profiles perpendicular to the smoothed centre-line on the probability map (or the
   mask), edge-to-edge at the ``threshold`` iso-level with linear sub-sample interpolation,
   junction neighbourhoods (``1.5 r + 1`` px) excluded;
6. lines clipped to the window's core; pieces that meet on a seam are joined again, so results
   do not depend on the window size.

Then the merged graph is measured (``core/measure.py``): metric length/width, orientation,
type (long/trans/diag w.r.t. an optional road axis; block/alligator from closed cells),
severity, nodes and a summary.

Pixel convention: continuous pixel coordinates with the centre of pixel (row, col) at
``(col + 0.5, row + 0.5)``; map coordinates are ``transform * (x, y)``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check_cancelled
from .config import VectorizeConfig

INF = float("inf")


@dataclass(frozen=True)
class CrackSegment:
    """One measured crack segment (an edge of the pruned crack graph).

    Attributes:
        geometry: shapely LineString in the raster CRS (map units).
        attributes: values for :data:`csbsr.core.measure.FIELDS` (None = null).
    """

    geometry: Any
    attributes: Dict[str, Any]


@dataclass(frozen=True)
class CrackNode:
    """A crack graph node (tip, junction, border or loop point).

    Attributes:
        geometry: shapely Point in the raster CRS.
        attributes: values for :data:`csbsr.core.measure.NODE_FIELDS`.
    """

    geometry: Any
    attributes: Dict[str, Any]


@dataclass(frozen=True)
class CrackNetwork:
    """The result of vectorization.

    Attributes:
        segments: measured crack segments.
        nodes: tips and junctions.
        summary: run summary: ``total_len_m``, ``len_by_type_sev_m`` {type: {sev: m}},
            ``density_m_m2`` (length / analysed area), ``area_m2``, counts (``n_segments``,
            ``n_cracks``, ``n_nodes``, ``n_tips``, ``n_junctions``, ``n_truncated``),
            ``gsd_mm``, ``standard``, ``thresholds_mm``, ``software``, ``version``, ...
        crs_wkt: WKT of the raster CRS the geometries are in.
    """

    segments: List[CrackSegment]
    nodes: List[CrackNode]
    summary: Dict[str, Any]
    crs_wkt: str


# ------------------------------------------------------------------------------ internals
@dataclass
class _Piece:
    """A centre-line piece in global continuous pixel coordinates, with per-vertex samples."""

    xy: np.ndarray  # (N, 2) float64
    w: np.ndarray  # (N,) width in px, nan = not sampled
    nrm: np.ndarray  # (N, 2) unit normal (pixel space) of the width profile
    conf: np.ndarray  # (N,) probability at the vertex, nan = synthetic vertex
    kinds: List[str]  # end kinds: tip | junc | border | win | seam | loop
    keys: List[Any]  # node key for junction ends
    radius: List[float]  # inscribed radius at the ends (px)
    src: str
    win: int
    closed: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)


def _axis_windows(n: int, win: int, ov: int) -> List[Tuple[int, int, float, float]]:
    """Split [0, n) into windows (start, end, core_lo, core_hi); cores tile the axis."""
    if n <= win:
        return [(0, n, -INF, INF)]
    step = win - ov
    starts = [*range(0, n - win, step), n - win]
    starts = sorted(set(starts))
    out = []
    for i, s in enumerate(starts):
        e = s + win
        lo = -INF if i == 0 else float((s + starts[i - 1] + win) // 2)
        hi = INF if i == len(starts) - 1 else float((starts[i + 1] + e) // 2)
        out.append((s, e, lo, hi))
    return out


def _chain_len(pts: np.ndarray) -> float:
    if len(pts) < 2:
        return 0.0
    d = np.diff(pts, axis=0)
    return float(np.sum(np.hypot(d[:, 0], d[:, 1])))


def _drop_blobs(mask: np.ndarray, min_elongation: float,
                interior: Tuple[bool, bool, bool, bool]) -> np.ndarray:
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


def _clean(mask: np.ndarray, cfg: VectorizeConfig, interior: Tuple[bool, bool, bool, bool]
           ) -> np.ndarray:
    """Drop small components and blobs (not those cut by an interior window edge); fill
    small holes."""
    from scipy import ndimage as ndi

    if cfg.min_elongation > 0:
        mask = _drop_blobs(mask, cfg.min_elongation, interior)
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


def _smooth(xy: np.ndarray, sigma: float, closed: bool) -> np.ndarray:
    """Gaussian-smooth (N, 2) vertices; odd reflection at open ends keeps them pinned."""
    from scipy.ndimage import gaussian_filter1d

    n = len(xy)
    if n < 3 or sigma <= 0:
        return xy.copy()
    sig = min(sigma, max(0.5, (n - 1) / 10.0))
    if closed:
        body = xy[:-1]
        out = gaussian_filter1d(body, sig, axis=0, mode="wrap")
        return np.vstack([out, out[:1]])
    k = min(n - 1, int(math.ceil(4 * sig)))
    head = 2 * xy[0] - xy[1:k + 1][::-1]
    tail = 2 * xy[-1] - xy[-k - 1:-1][::-1]
    padded = np.vstack([head, xy, tail])
    out = gaussian_filter1d(padded, sig, axis=0, mode="nearest")[k:k + n]
    out[0] = xy[0]
    out[-1] = xy[-1]
    return out


def _bilinear(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    return map_coordinates(img, [rows, cols], order=1, mode="constant", cval=0.0)


class _Graph:
    """A small multigraph of skeleton paths (node ids are skan pixel-node ids)."""

    def __init__(self) -> None:
        self.edges: Dict[int, List[Any]] = {}  # eid -> [u, v, pts (N, 2) rows/cols float]
        self.pos: Dict[int, np.ndarray] = {}
        self.next_id = 0

    def add(self, u: int, v: int, pts: np.ndarray) -> None:
        self.edges[self.next_id] = [u, v, pts]
        self.next_id += 1

    def degrees(self) -> Dict[int, int]:
        deg: Dict[int, int] = {}
        for u, v, _ in self.edges.values():
            deg[u] = deg.get(u, 0) + 1
            deg[v] = deg.get(v, 0) + 1
        return deg

    def incidence(self) -> Dict[int, List[int]]:
        inc: Dict[int, List[int]] = {}
        for eid, (u, v, _) in self.edges.items():
            inc.setdefault(u, []).append(eid)
            if v != u:
                inc.setdefault(v, []).append(eid)
        return inc


def _join_degree2(g: _Graph) -> bool:
    """Join the two edges at every degree-2 node; return True if anything changed."""
    changed = False
    while True:
        deg = g.degrees()
        inc = g.incidence()
        todo = [n for n, d in deg.items() if d == 2 and len(inc.get(n, ())) == 2]
        if not todo:
            return changed
        done_any = False
        for n in todo:
            eids = [e for e in inc.get(n, ()) if e in g.edges]
            if len(eids) != 2:
                continue
            e1, e2 = eids
            u1, v1, p1 = g.edges[e1]
            u2, v2, p2 = g.edges[e2]
            if n not in (u1, v1) or n not in (u2, v2):
                continue
            if v1 != n:
                u1, v1, p1 = v1, u1, p1[::-1]
            if u2 != n:
                u2, v2, p2 = v2, u2, p2[::-1]
            del g.edges[e1]
            del g.edges[e2]
            g.add(u1, v2, np.vstack([p1, p2[1:]]))
            changed = done_any = True
            break  # incidence is stale: recompute
        if not done_any:
            return changed


def _window_pieces(p: np.ndarray, valid: np.ndarray, r0: int, c0: int,
                   core: Tuple[float, float, float, float],
                   interior: Tuple[bool, bool, bool, bool], cfg: VectorizeConfig,
                   wid: int, src: str) -> List[_Piece]:
    """Run the per-window pipeline; return pieces clipped to the core (global pixel coords)."""
    import cv2
    from skan import Skeleton
    from skimage.morphology import skeletonize

    h, w = p.shape
    thr = float(cfg.threshold)
    mask = (p >= thr) & valid
    if not mask.any():
        return []
    mask = _clean(mask, cfg, interior)
    if not mask.any():
        return []
    skel = skeletonize(mask, method="lee").astype(bool)
    if skel.sum() < 2:
        return []
    edt = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # distance to the raster edge / nodata / outside-AOI (interior window edges excluded)
    top, bottom, left, right = interior
    pad = np.pad(valid.astype(np.uint8), 1, constant_values=1)
    if not top:
        pad[0, :] = 0
    if not bottom:
        pad[-1, :] = 0
    if not left:
        pad[:, 0] = 0
    if not right:
        pad[:, -1] = 0
    dinv = cv2.distanceTransform(pad, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]

    def dwin(rc: np.ndarray) -> float:
        r, c = float(rc[0]), float(rc[1])
        d = INF
        if top:
            d = min(d, r)
        if bottom:
            d = min(d, h - 1 - r)
        if left:
            d = min(d, c)
        if right:
            d = min(d, w - 1 - c)
        return d

    def rad(rc: np.ndarray) -> float:
        return float(edt[int(round(rc[0])), int(round(rc[1]))])

    sk = Skeleton(skel)
    g = _Graph()
    coords = np.asarray(sk.coordinates)
    for i in range(sk.n_paths):
        idx = np.asarray(sk.path(i))
        if len(idx) < 2:
            continue
        g.add(int(idx[0]), int(idx[-1]), coords[idx].astype(np.float64))
    for u, v, pts in g.edges.values():
        g.pos[u] = pts[0]
        g.pos[v] = pts[-1]

    def tip_kind(n: int) -> str:
        rc = g.pos[n]
        r = rad(rc)
        if dwin(rc) <= r + 2.0:
            return "win"
        if float(dinv[int(round(rc[0])), int(round(rc[1]))]) <= r + 1.5:
            return "border"
        return "tip"

    # --- prune / join / merge junctions until stable
    for _ in range(20):
        changed = False
        deg = g.degrees()
        cand = []
        for eid, (u, v, pts) in g.edges.items():
            if u == v:
                continue
            for tip, j in ((u, v), (v, u)):
                if deg[tip] == 1 and deg[j] >= 3 and tip_kind(tip) != "win":
                    ln = _chain_len(pts)
                    if ln < max(cfg.spur_min_px, cfg.spur_factor * rad(g.pos[j])):
                        cand.append((ln, eid, j))
        cand.sort()
        for _ln, eid, j in cand:
            if eid not in g.edges or deg.get(j, 0) < 3:
                continue
            u, v, _ = g.edges.pop(eid)
            deg[u] -= 1
            deg[v] -= 1
            changed = True
        changed |= _join_degree2(g)
        # junction clusters: contract short junction-junction edges
        deg = g.degrees()
        for eid in list(g.edges):
            if eid not in g.edges:
                continue
            u, v, pts = g.edges[eid]
            if u == v or deg.get(u, 0) < 3 or deg.get(v, 0) < 3:
                continue
            if _chain_len(pts) >= rad(g.pos[u]) + rad(g.pos[v]):
                continue
            newpos = pts[len(pts) // 2].copy()
            del g.edges[eid]
            for e2 in g.edges.values():
                if e2[0] == v:
                    e2[0] = u
                if e2[1] == v:
                    e2[1] = u
                if e2[0] == u:
                    e2[2] = e2[2].copy()
                    e2[2][0] = newpos
                if e2[1] == u:
                    e2[2] = e2[2].copy()
                    e2[2][-1] = newpos
            g.pos[u] = newpos
            deg = g.degrees()
            changed = True
        # tiny self-loops and short isolated fragments
        deg = g.degrees()
        for eid in list(g.edges):
            u, v, pts = g.edges[eid]
            ln = _chain_len(pts)
            if u == v and deg.get(u, 0) > 2 and ln < cfg.min_length_px + 2 * rad(g.pos[u]):
                del g.edges[eid]
                changed = True
            elif (u != v and deg.get(u) == 1 and deg.get(v) == 1 and ln < cfg.min_length_px
                  and tip_kind(u) == "tip" and tip_kind(v) == "tip"):
                del g.edges[eid]
                changed = True
        if not changed:
            break

    deg = g.degrees()
    pieces: List[_Piece] = []
    level = thr
    for u, v, pts in g.edges.values():
        closed = u == v and deg.get(u, 0) == 2
        kinds, radii = [], []
        for n in (u, v):
            if closed:
                kinds.append("loop")
            elif deg.get(n, 0) == 1:
                kinds.append(tip_kind(n))
            else:
                kinds.append("junc")
            radii.append(rad(g.pos[n]))
        xy = pts[:, ::-1] + 0.5  # (x, y) continuous pixel coordinates in the window
        xs = _smooth(xy, cfg.smooth_sigma_px, closed)
        n = len(xs)
        # tangents / normals
        t = np.gradient(xs, axis=0) if n > 1 else np.array([[1.0, 0.0]])
        tn = np.hypot(t[:, 0], t[:, 1])
        tn[tn == 0] = 1.0
        t = t / tn[:, None]
        nrm = np.column_stack((-t[:, 1], t[:, 0]))
        # width profiles
        rmax = float(max(1.0, np.max(edt[pts[:, 0].astype(int), pts[:, 1].astype(int)])))
        half = min(96.0, math.ceil(rmax + 3.0))
        step = 0.25
        offs = np.arange(-half, half + step / 2, step)
        m0 = int(np.argmin(np.abs(offs)))
        rows = (xs[:, 1] - 0.5)[:, None] + offs[None, :] * nrm[:, 1:2]
        cols = (xs[:, 0] - 0.5)[:, None] + offs[None, :] * nrm[:, 0:1]
        prof = _bilinear(p, rows.ravel(), cols.ravel()).reshape(rows.shape)
        centre = prof[:, m0]
        right_p = prof[:, m0:]
        left_p = prof[:, m0::-1]
        wv = np.full(n, np.nan)
        ok = centre >= level
        rb = right_p < level
        lb = left_p < level
        has_r = rb.any(axis=1)
        has_l = lb.any(axis=1)
        ok &= has_r & has_l
        jr = np.argmax(rb, axis=1)
        jl = np.argmax(lb, axis=1)
        ii = np.arange(n)
        jr1 = np.maximum(jr, 1)
        jl1 = np.maximum(jl, 1)
        vr0, vr1 = right_p[ii, jr1 - 1], right_p[ii, jr1]
        vl0, vl1 = left_p[ii, jl1 - 1], left_p[ii, jl1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dr = (jr1 - 1 + (vr0 - level) / (vr0 - vr1)) * step
            dl = (jl1 - 1 + (vl0 - level) / (vl0 - vl1)) * step
        wv[ok] = (dr + dl)[ok]
        dr = np.where(ok, dr, 0.0)
        dl = np.where(ok, dl, 0.0)
        # profiles must stay inside the window
        for sign, d in ((1.0, dr), (-1.0, dl)):
            er = xs[:, 1] - 0.5 + sign * d * nrm[:, 1]
            ec = xs[:, 0] - 0.5 + sign * d * nrm[:, 0]
            out = (er < 0) | (er > h - 1) | (ec < 0) | (ec > w - 1)
            wv[out] = np.nan
        # junction neighbourhoods excluded
        d = np.diff(xs, axis=0)
        s = np.concatenate([[0.0], np.cumsum(np.hypot(d[:, 0], d[:, 1]))])
        if kinds[0] == "junc":
            wv[s < 1.5 * radii[0] + 1.0] = np.nan
        if kinds[1] == "junc":
            wv[s > s[-1] - (1.5 * radii[1] + 1.0)] = np.nan
        conf = _bilinear(p, xs[:, 1] - 0.5, xs[:, 0] - 0.5).astype(np.float64)
        # free-tip extension along the end tangent
        if cfg.tip_extension and not closed and n >= 2:
            back = min(3.0 * cfg.smooth_sigma_px, s[-1] / 2.0)
            for end in (0, 1):
                if kinds[end] not in ("tip", "border"):
                    continue
                if end == 0:
                    k = int(np.searchsorted(s, back))
                    k = min(max(k, 1), n - 1)
                    dvec = xs[0] - xs[k]
                else:
                    k = int(np.searchsorted(s, s[-1] - back))
                    k = min(max(k, 0), n - 2)
                    dvec = xs[-1] - xs[k]
                nd = math.hypot(dvec[0], dvec[1])
                if nd == 0:
                    continue
                ext = _tip_extension(p, xs[0] if end == 0 else xs[-1], dvec / nd,
                                     radii[end], level)
                if ext <= 0:
                    continue
                newp = (xs[0] if end == 0 else xs[-1]) + dvec / nd * ext
                if end == 0:
                    xs = np.vstack([newp, xs])
                    wv = np.concatenate([[np.nan], wv])
                    nrm = np.vstack([nrm[:1], nrm])
                    conf = np.concatenate([[np.nan], conf])
                else:
                    xs = np.vstack([xs, newp])
                    wv = np.concatenate([wv, [np.nan]])
                    nrm = np.vstack([nrm, nrm[-1:]])
                    conf = np.concatenate([conf, [np.nan]])
        keys = [(wid, u) if kinds[0] == "junc" else None, (wid, v) if kinds[1] == "junc" else None]
        xs = xs + np.array([c0, r0], dtype=np.float64)
        piece = _Piece(xs, wv, nrm, conf, kinds, keys, radii, src, wid, closed)
        pieces.extend(_clip(piece, core))
    return pieces


def _tip_extension(p: np.ndarray, tip_xy: np.ndarray, direction: np.ndarray, radius: float,
                   level: float) -> float:
    """Distance (px) from a free tip to the crack's end along the end tangent.

    Marches along the tangent ray on the probability map (or mask) and returns the distance
    to the ``level`` crossing (linear interpolation); falls back to ``radius - 0.5`` (the
    inscribed-radius rule) when the map does not cross the level within ``radius + 4`` px.
    """
    step = 0.25
    offs = np.arange(0.0, radius + 4.0 + step / 2, step)
    rows = tip_xy[1] - 0.5 + offs * direction[1]
    cols = tip_xy[0] - 0.5 + offs * direction[0]
    v = _bilinear(p, rows, cols)
    below = v < level
    if not below.any() or below[0]:
        return max(0.0, radius - 0.5)
    j = int(np.argmax(below))
    v0, v1 = float(v[j - 1]), float(v[j])
    return (j - 1 + (v0 - level) / (v0 - v1)) * step


def _exit_point(a: np.ndarray, b: np.ndarray, core: Tuple[float, float, float, float]
                ) -> np.ndarray:
    """Point where the segment from ``a`` (inside the core) to ``b`` (outside) leaves it."""
    x0, x1, y0, y1 = core
    ts = [1.0]
    dx, dy = b[0] - a[0], b[1] - a[1]
    if b[0] < x0 and dx != 0:
        ts.append((x0 - a[0]) / dx)
    if b[0] >= x1 and dx != 0:
        ts.append((x1 - a[0]) / dx)
    if b[1] < y0 and dy != 0:
        ts.append((y0 - a[1]) / dy)
    if b[1] >= y1 and dy != 0:
        ts.append((y1 - a[1]) / dy)
    t = max(0.0, min(ts))
    return a + t * (b - a)


def _clip(pc: _Piece, core: Tuple[float, float, float, float]) -> List[_Piece]:
    """Clip a piece to the core box ``(x0, x1, y0, y1)`` (half-open; inf = raster border)."""
    x0, x1, y0, y1 = core
    x, y = pc.xy[:, 0], pc.xy[:, 1]
    inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    if inside.all():
        return [pc]
    if not inside.any():
        return []
    xy, w, nrm, conf = pc.xy, pc.w, pc.nrm, pc.conf
    kinds, keys, radius = list(pc.kinds), list(pc.keys), list(pc.radius)
    if pc.closed:  # rotate so the ring starts outside the core
        k = int(np.argmin(inside[:-1]))
        sl = np.r_[k:len(xy) - 1, 0:k + 1]
        xy, w, nrm, conf, inside = xy[sl], w[sl], nrm[sl], conf[sl], inside[sl]
        kinds, keys = ["seam", "seam"], [None, None]
    out = []
    n = len(xy)
    i = 0
    while i < n:
        if not inside[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and inside[j + 1]:
            j += 1
        sl = slice(i, j + 1)
        pxy, pw, pn, pcf = xy[sl], w[sl], nrm[sl], conf[sl]
        k0, k1 = kinds[0], kinds[1]
        y0k, y1k = keys[0], keys[1]
        r0_, r1_ = radius[0], radius[1]
        if i > 0:
            e = _exit_point(xy[i], xy[i - 1], core)
            pxy = np.vstack([e, pxy])
            pw = np.concatenate([[np.nan], pw])
            pn = np.vstack([pn[:1], pn])
            pcf = np.concatenate([[np.nan], pcf])
            k0, y0k, r0_ = "seam", None, 0.0
        if j < n - 1:
            e = _exit_point(xy[j], xy[j + 1], core)
            pxy = np.vstack([pxy, e])
            pw = np.concatenate([pw, [np.nan]])
            pn = np.vstack([pn, pn[-1:]])
            pcf = np.concatenate([pcf, [np.nan]])
            k1, y1k, r1_ = "seam", None, 0.0
        if len(pxy) >= 2:
            out.append(_Piece(pxy, pw, pn, pcf, [k0, k1], [y0k, y1k], [r0_, r1_], pc.src,
                              pc.win, False))
        i = j + 1
    return out


def _cat(a: _Piece, b: _Piece) -> _Piece:
    """Concatenate ``b`` after ``a`` (a's end meets b's start); the meeting vertices average."""
    mid = (a.xy[-1] + b.xy[0]) / 2.0
    xy = np.vstack([a.xy[:-1], mid[None, :], b.xy[1:]])
    w = np.concatenate([a.w[:-1], [np.nan], b.w[1:]])
    nrm = np.vstack([a.nrm[:-1], a.nrm[-1:], b.nrm[1:]])
    conf = np.concatenate([a.conf[:-1], [np.nan], b.conf[1:]])
    return _Piece(xy, w, nrm, conf, [a.kinds[0], b.kinds[1]], [a.keys[0], b.keys[1]],
                  [a.radius[0], b.radius[1]], a.src if a.src == b.src else "prob", a.win)


def _rev(pc: _Piece) -> _Piece:
    return _Piece(pc.xy[::-1].copy(), pc.w[::-1].copy(), pc.nrm[::-1].copy(),
                  pc.conf[::-1].copy(), pc.kinds[::-1], pc.keys[::-1], pc.radius[::-1],
                  pc.src, pc.win, pc.closed)


def _link_chains(pieces: List[_Piece], links: Dict[Tuple[int, int], Tuple[int, int]]
                 ) -> List[_Piece]:
    """Join pieces along ``links`` ((piece, end) <-> (piece, end)); returns merged pieces."""
    visited = [False] * len(pieces)
    chains: List[_Piece] = []

    def walk(start: int, start_end: int) -> _Piece:
        # start_end: the end of ``start`` that is the chain's beginning
        cur = pieces[start] if start_end == 0 else _rev(pieces[start])
        visited[start] = True
        i, far = start, 1 - start_end
        while (i, far) in links:
            j, ej = links[(i, far)]
            if visited[j]:
                cur.closed = j == start
                if cur.closed:
                    cur.kinds = ["loop", "loop"]
                break
            nxt = pieces[j] if ej == 0 else _rev(pieces[j])
            cur = _cat(cur, nxt)
            visited[j] = True
            i, far = j, 1 - ej
        return cur

    for i in range(len(pieces)):
        if visited[i]:
            continue
        if (i, 0) not in links:
            chains.append(walk(i, 0))
        elif (i, 1) not in links:
            chains.append(walk(i, 1))
    for i in range(len(pieces)):
        if not visited[i]:
            chains.append(walk(i, 0))
    return chains


def _merge_seams(pieces: List[_Piece], tol: float = 2.0) -> List[_Piece]:
    """Join pieces whose ends meet on a window seam."""
    from scipy.spatial import cKDTree

    ends = [(i, e) for i, pc in enumerate(pieces) for e in (0, 1) if pc.kinds[e] == "seam"]
    links: Dict[Tuple[int, int], Tuple[int, int]] = {}
    if ends:
        pts = np.array([pieces[i].xy[0 if e == 0 else -1] for i, e in ends])
        pairs = cKDTree(pts).query_pairs(tol, output_type="ndarray")
        if len(pairs):
            dist = np.hypot(*(pts[pairs[:, 0]] - pts[pairs[:, 1]]).T)
            for k in np.argsort(dist, kind="stable"):
                a, b = ends[pairs[k, 0]], ends[pairs[k, 1]]
                if a in links or b in links or a[0] == b[0]:
                    continue
                if pieces[a[0]].win == pieces[b[0]].win:
                    continue
                links[a] = b
                links[b] = a
    for i, e in ends:  # unmatched seam ends become plain tips (no extension)
        if (i, e) not in links:
            pieces[i].kinds[e] = "tip"
    return _link_chains(pieces, links)


def _join_through_degree2(chains: List[_Piece]) -> List[_Piece]:
    """Join chains meeting at a junction key used by exactly two ends; lone keys become tips."""
    use: Dict[Any, List[Tuple[int, int]]] = {}
    for i, c in enumerate(chains):
        for e in (0, 1):
            if c.kinds[e] == "junc":
                use.setdefault(c.keys[e], []).append((i, e))
    links: Dict[Tuple[int, int], Tuple[int, int]] = {}
    for _key, lst in use.items():
        if len(lst) == 1:
            i, e = lst[0]
            chains[i].kinds[e] = "tip"
        elif len(lst) == 2 and lst[0][0] != lst[1][0]:
            links[lst[0]] = lst[1]
            links[lst[1]] = lst[0]
        elif len(lst) == 2:  # both ends of one chain: a loop through a pass-through junction
            i = lst[0][0]
            chains[i].closed = True
            chains[i].kinds = ["loop", "loop"]
    if not links:
        return chains
    return _link_chains(chains, links)


# ------------------------------------------------------------------------------ readers
Reader = Callable[[int, int, int, int], Tuple[np.ndarray, np.ndarray]]


def _scale_for(vmax: float) -> float:
    if vmax <= 1.0:
        return 1.0
    if vmax <= 255.0:
        return 255.0
    return 65535.0


def _array_reader(arr: np.ndarray, scale: float, nodata: Optional[float]) -> Reader:
    def read(r0: int, c0: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        a = arr[r0:r0 + h, c0:c0 + w]
        valid = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)
        if nodata is not None:
            valid &= a != nodata
        p = np.where(valid, a.astype(np.float32) / np.float32(scale), 0.0).astype(np.float32)
        return p, valid

    return read


# ------------------------------------------------------------------------------ public API
def vectorize_array(prob_or_mask: np.ndarray, transform: Any, crs: Any,
                    cfg: Optional[VectorizeConfig] = None, progress: Optional[Progress] = None,
                    model_name: str = "", aoi: Any = None,
                    nodata: Optional[float] = None) -> CrackNetwork:
    """Vectorize an in-memory crack probability map or binary mask.

    Args:
        prob_or_mask: (H, W) array: probability (float 0-1, or uint8 0-255) or a binary mask
            (bool, 0/1 or 0/255). Values in {0, max} only are treated as a binary mask.
        transform: affine.Affine pixel-corner geotransform (rasterio convention).
        crs: the raster CRS (rasterio CRS, pyproj CRS, WKT or "EPSG:xxxx"); projected in a
            linear unit, or geographic (measured on the ellipsoid). Mercator is refused.
        cfg: vectorization settings (defaults: ``VectorizeConfig()``).
        progress: progress/cancel receiver.
        model_name: recorded in ``model_ver``.
        aoi: optional shapely (multi)polygon in the raster CRS restricting the analysis.
        nodata: value marking pixels outside the analysed area.

    Raises:
        InvalidInputError: wrong shape, no/unsupported CRS.
        Cancelled: when ``progress`` asks to stop.
    """
    cfg = cfg or VectorizeConfig()
    arr = np.asarray(prob_or_mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(
            f"expected a single-band (H, W) probability or mask array, got shape {arr.shape}: "
            "pass one band"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if nodata is not None:
        finite = finite[finite != nodata]
    vmax = float(finite.max()) if finite.size else 0.0
    binary = bool(finite.size == 0 or np.all((finite == 0) | (finite == vmax)))
    scale = _scale_for(vmax)
    return _run(_array_reader(arr, scale, nodata), arr.shape[0], arr.shape[1], transform, crs,
                cfg, progress, model_name, aoi, "mask" if binary else "prob")


def vectorize_raster(path: Any, cfg: Optional[VectorizeConfig] = None,
                     progress: Optional[Progress] = None, model_name: str = "",
                     aoi: Any = None) -> CrackNetwork:
    """Vectorize a probability (uint8 0-255 or float 0-1) or binary mask GeoTIFF.

    The raster is read band 1, in overlapping windows of ``cfg.window_px`` (memory bounded);
    nodata / internal mask pixels are excluded from the analysed area.

    Raises:
        InvalidInputError: unreadable file, no CRS, Mercator CRS.
        Cancelled: when ``progress`` asks to stop.
    """
    import rasterio
    from rasterio.windows import Window

    cfg = cfg or VectorizeConfig()
    progress = progress or NullProgress()
    try:
        src = rasterio.open(str(path))
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise InvalidInputError(
            f"cannot open {path} as a raster ({exc}): pass a probability or mask GeoTIFF "
            "written by 'csbsr detect'"
        ) from exc
    with src:
        if src.crs is None:
            from .measure import make_georef

            make_georef(src.transform, None)  # raises the no-CRS message
        h, w = src.height, src.width
        nodata = src.nodata
        step = max(256, int(cfg.window_px))
        vmax, binary = 0.0, True
        win_max = []
        progress.set_status("scanning raster values")
        for r0 in range(0, h, step):
            for c0 in range(0, w, step):
                check_cancelled(progress)
                win = Window(c0, r0, min(step, w - c0), min(step, h - r0))
                a = src.read(1, window=win)
                m = src.read_masks(1, window=win) > 0
                if a.dtype.kind == "f":
                    m &= np.isfinite(a)
                v = a[m]
                if v.size:
                    wm = float(v.max())
                    vmax = max(vmax, wm)
                    win_max.append(wm)
                    if binary and np.any((v > 0) & (v < wm)):
                        binary = False
        if binary and any(0 < x < vmax for x in win_max):
            binary = False
        scale = _scale_for(vmax)

        def read(r0: int, c0: int, hh: int, ww: int) -> Tuple[np.ndarray, np.ndarray]:
            win = Window(c0, r0, ww, hh)
            a = src.read(1, window=win)
            valid = src.read_masks(1, window=win) > 0
            if a.dtype.kind == "f":
                valid &= np.isfinite(a)
            if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
                valid &= a != nodata
            p = np.where(valid, a.astype(np.float32) / np.float32(scale), 0.0)
            return p.astype(np.float32), valid

        return _run(read, h, w, src.transform, src.crs, cfg, progress, model_name, aoi,
                    "mask" if binary else "prob")


def _run(read: Reader, height: int, width: int, transform: Any, crs: Any,
         cfg: VectorizeConfig, progress: Optional[Progress], model_name: str, aoi: Any,
         src: str) -> CrackNetwork:
    from affine import Affine

    from .measure import make_georef

    progress = progress or NullProgress()
    geo = make_georef(transform, crs)
    t0 = time.monotonic()
    rows = _axis_windows(height, int(cfg.window_px), int(cfg.overlap_px))
    cols = _axis_windows(width, int(cfg.window_px), int(cfg.overlap_px))
    n_win = len(rows) * len(cols)
    pieces: List[_Piece] = []
    analysed_m2 = 0.0
    aff = Affine(geo.a, geo.b, geo.c, geo.d, geo.e, geo.f)
    k = 0
    for r0, r1, cy0, cy1 in rows:
        for c0, c1, cx0, cx1 in cols:
            check_cancelled(progress)
            p, valid = read(r0, c0, r1 - r0, c1 - c0)
            if aoi is not None:
                from rasterio.features import geometry_mask

                valid = valid & geometry_mask([aoi], out_shape=valid.shape,
                                              transform=aff @ Affine.translation(c0, r0),
                                              invert=True)
                p = np.where(valid, p, 0.0).astype(np.float32)
            interior = (r0 > 0, r1 < height, c0 > 0, c1 < width)
            core = (cx0, cx1, cy0, cy1)
            pieces.extend(_window_pieces(p, valid, r0, c0, core, interior, cfg, k, src))
            # analysed area: valid pixels inside the core
            rr0 = int(max(r0, cy0)) - r0
            rr1 = int(min(r1, cy1)) - r0
            cc0 = int(max(c0, cx0)) - c0
            cc1 = int(min(c1, cx1)) - c0
            nvalid = int(np.count_nonzero(valid[rr0:rr1, cc0:cc1]))
            centre = geo.to_map(np.array([[c0 + (c1 - c0) / 2.0, r0 + (r1 - r0) / 2.0]]))[0]
            analysed_m2 += nvalid * geo.pixel_area_m2(centre)
            k += 1
            progress.set_progress(85.0 * k / n_win)
            el = time.monotonic() - t0
            progress.set_status(f"vectorizing window {k}/{n_win} ({el:.0f} s)")
    check_cancelled(progress)
    chains = _merge_seams(pieces)
    chains = _join_through_degree2(chains)
    progress.set_status("measuring cracks")
    net = _assemble(chains, geo, cfg, analysed_m2, model_name, src,
                           (height, width), progress)
    progress.set_progress(100.0)
    return net


def _drop_short_cracks(chains: List[_Piece], geo: Any, min_len_m: float) -> List[_Piece]:
    """Drop whole cracks (chains connected through junctions) shorter than ``min_len_m``."""
    parent = list(range(len(chains)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: Dict[Any, int] = {}
    for i, c in enumerate(chains):
        for e in (0, 1):
            if not c.closed and c.kinds[e] == "junc":
                j = owner.setdefault(c.keys[e], i)
                ra, rb = find(i), find(j)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    total: Dict[int, float] = {}
    for i, c in enumerate(chains):
        r = find(i)
        total[r] = total.get(r, 0.0) + geo.line_length_m(geo.to_map(c.xy))
    return [c for i, c in enumerate(chains) if total[find(i)] >= min_len_m]


def _assemble(chains: List[_Piece], geo: Any, cfg: VectorizeConfig, analysed_m2: float,
              model_name: str, src: str, shape: Tuple[int, int], progress: Progress
              ) -> CrackNetwork:
    """Build nodes, measure every chain and classify it; return the network."""
    import shapely
    from shapely.geometry import LineString, Point

    from .. import __version__
    from .measure import (
        STANDARD_LABELS,
        axial_azimuth_deg,
        classify_orientation,
        severity,
        summarise,
        width_stats_mm,
    )

    chains = [c for c in chains if len(c.xy) >= 2 and _chain_len(c.xy) > 1e-9]
    if cfg.min_crack_length_m > 0:
        chains = _drop_short_cracks(chains, geo, cfg.min_crack_length_m)
    chains.sort(key=lambda c: (round(float(c.xy[:, 1].min()), 3),
                               round(float(c.xy[:, 0].min()), 3)))
    # ---- nodes
    node_key: Dict[Any, int] = {}
    nkind: List[str] = []
    nxy: List[List[np.ndarray]] = []
    nrad: List[float] = []
    ends: List[List[int]] = []

    def new_node(kind: str) -> int:
        nkind.append(kind)
        nxy.append([])
        nrad.append(0.0)
        return len(nkind) - 1

    for c in chains:
        if c.closed:
            nid = new_node("loop")
            ids = [nid, nid]
        else:
            ids = []
            for e in (0, 1):
                kind = c.kinds[e]
                if kind == "junc":
                    if c.keys[e] not in node_key:
                        node_key[c.keys[e]] = new_node("junc")
                    ids.append(node_key[c.keys[e]])
                else:
                    ids.append(new_node("border" if kind == "border" else "tip"))
        for e, nid in enumerate(ids):
            nxy[nid].append(c.xy[0 if e == 0 else -1])
            nrad[nid] = max(nrad[nid], float(c.radius[e]))
        ends.append(ids)
    npos = [np.mean(np.array(v), axis=0) if v else np.zeros(2) for v in nxy]
    deg = [0] * len(nkind)
    for ids in ends:
        for nid in ids:
            deg[nid] += 1
    for c, ids in zip(chains, ends):
        c.xy = c.xy.copy()
        c.xy[0] = npos[ids[0]]
        c.xy[-1] = npos[ids[1]]
    # ---- crack ids (connected components)
    parent = list(range(len(nkind)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in ends:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    comp: Dict[int, int] = {}
    crack_of_node = []
    for nid in range(len(nkind)):
        r = find(nid)
        if r not in comp:
            comp[r] = len(comp) + 1
        crack_of_node.append(comp[r])
    # ---- closed cells -> block / alligator
    cell_m = np.full(len(chains), np.inf)
    if chains:
        lines_px = [LineString(c.xy) for c in chains]
        faces = [g for g in shapely.get_parts(shapely.polygonize(lines_px)) if not g.is_empty]
        if faces:
            bnd = shapely.boundary(np.array(faces, dtype=object))
            tree = shapely.STRtree(bnd)
            mids = shapely.line_interpolate_point(np.array(lines_px, dtype=object), 0.5,
                                                  normalized=True)
            qi, ti = tree.query(mids, predicate="dwithin", distance=1e-6)
            faces_of: Dict[int, set] = {}
            for i, t in zip(qi, ti):
                faces_of.setdefault(int(i), set()).add(int(t))
            # pattern cracking is a network of cells: a cell counts only when it shares an
            # edge with another cell (an isolated closed loop, e.g. a spall outline, does not)
            networked = {t for fs in faces_of.values() if len(fs) > 1 for t in fs}
            for i, fs in faces_of.items():
                for t in fs & networked:
                    centre = geo.to_map(np.array(faces[t].centroid.coords))[0]
                    size = math.sqrt(faces[t].area * geo.pixel_area_m2(centre))
                    cell_m[i] = min(cell_m[i], size)
    # ---- per-segment measurement
    std_label = STANDARD_LABELS[cfg.standard]
    thresholds = cfg.severity_thresholds_mm()
    proc = f"csbsr {__version__}"
    segments: List[CrackSegment] = []
    a_lin = np.array([[geo.a, geo.b], [geo.d, geo.e]])
    tol_map = float(cfg.simplify_px) * math.sqrt(abs(np.linalg.det(a_lin)))
    centre_map = geo.to_map(np.array([[shape[1] / 2.0, shape[0] / 2.0]]))[0]
    gsd_run_mm = math.sqrt(geo.pixel_area_m2(centre_map)) * 1000.0
    for i, (c, ids) in enumerate(zip(chains, ends)):
        if i % 200 == 0:
            check_cancelled(progress)
            progress.set_progress(85.0 + 14.0 * i / max(1, len(chains)))
        xy_map = geo.to_map(c.xy)
        centre = xy_map.mean(axis=0)
        jac = geo.jacobian_m(centre)
        gsd_mm = math.sqrt(abs(np.linalg.det(jac))) * 1000.0
        len_m = geo.line_length_m(xy_map)
        chord_m = 0.0 if c.closed else geo.line_length_m(xy_map[[0, -1]])
        scale_mm = np.hypot(*(jac @ c.nrm.T)) * 1000.0
        stats = width_stats_mm(c.w * scale_mm)
        wpx = c.w[np.isfinite(c.w)]
        resolv = bool(wpx.size >= 3 and float(np.median(wpx)) >= cfg.resolvable_px)
        az = axial_azimuth_deg(geo.to_local_m(xy_map))
        rel, ctype = classify_orientation(az, cfg.road_azimuth_deg, cfg.long_tol_deg)
        if cell_m[i] < cfg.alligator_cell_m:
            ctype = "alligator"
        elif cell_m[i] <= cfg.block_cell_m:
            ctype = "block"
        sev = severity(stats[cfg.severity_basis + "_mm"], resolv, thresholds)
        kinds = [nkind[ids[0]], nkind[ids[1]]]
        if c.closed:
            br = 3
        else:
            nj = sum(k == "junc" for k in kinds)
            br = {0: 0, 1: 1, 2: 2}[nj]
        conf = c.conf[np.isfinite(c.conf)]
        geom = LineString(xy_map)
        if tol_map > 0:
            geom = shapely.simplify(geom, tol_map, preserve_topology=False)
        attrs = {
            "seg_id": i + 1,
            "crack_id": crack_of_node[ids[0]],
            "node_from": ids[0] + 1,
            "node_to": ids[1] + 1,
            "br_type": br,
            "len_m": len_m,
            "chord_m": chord_m,
            "sinuos": (len_m / chord_m) if chord_m > 0 else None,
            **{k: v for k, v in stats.items()},
            "w_src": src,
            "w_resolv": int(resolv),
            "azimuth": az,
            "rel_ang": rel,
            "ctype": ctype,
            "sev_std": std_label,
            "sev": sev,
            "sev_basis": cfg.severity_basis,
            "edge_trunc": int("border" in kinds),
            "conf": float(np.mean(conf)) if conf.size else None,
            "gsd_mm": gsd_mm,
            "model_ver": model_name or "",
            "proc_ver": proc,
        }
        segments.append(CrackSegment(geom, attrs))
    nodes: List[CrackNode] = []
    for nid in range(len(nkind)):
        pm = geo.to_map(npos[nid][None, :])[0]
        r_mm = nrad[nid] * math.sqrt(geo.pixel_area_m2(pm)) * 1000.0
        nodes.append(CrackNode(Point(pm), {
            "node_id": nid + 1, "crack_id": crack_of_node[nid], "degree": deg[nid],
            "n_kind": nkind[nid], "r_mm": r_mm}))
    summary = summarise([s.attributes for s in segments], analysed_m2)
    summary.update({
        "n_segments": len(segments),
        "n_cracks": len({crack_of_node[ids[0]] for ids in ends}),
        "n_nodes": len(nodes),
        "n_tips": sum(k in ("tip", "border") for k in nkind),
        "n_junctions": sum(k == "junc" for k in nkind),
        "n_truncated": sum(s.attributes["edge_trunc"] for s in segments),
        "gsd_mm": gsd_run_mm,
        "standard": std_label,
        "thresholds_mm": list(thresholds),
        "severity_basis": cfg.severity_basis,
        "threshold": cfg.threshold,
        "min_crack_length_m": cfg.min_crack_length_m,
        "min_elongation": cfg.min_elongation,
        "road_azimuth_deg": cfg.road_azimuth_deg,
        "width_source": src,
        "raster_size": [int(shape[1]), int(shape[0])],
        "crs": geo.crs_name,
        "window_px": int(cfg.window_px),
        "overlap_px": int(cfg.overlap_px),
        "model": model_name or "",
        "software": "csbsr",
        "version": __version__,
    })
    return CrackNetwork(segments, nodes, summary, geo.crs_wkt)
