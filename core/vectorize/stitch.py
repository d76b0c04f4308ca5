"""Centre-line pieces and their stitching across processing windows.

A :class:`Piece` is a centre-line in *global* continuous pixel coordinates (``x = col +
0.5``) with per-vertex width samples, profile normals and probabilities, and the kind of each
end (tip, junc, border, win, seam, loop). Each window keeps only the part of its pieces inside
its core (:func:`clip`); pieces that meet on a core seam are joined again
(:func:`merge_seams`), so the result does not depend on the window size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import numpy as np

#: a core box (x0, x1, y0, y1) in global pixel coordinates; +-inf at the raster edges
Core = Tuple[float, float, float, float]


@dataclass
class Piece:
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


def chain_len(pts: np.ndarray) -> float:
    """Polyline length of (N, 2) points (pixels)."""
    if len(pts) < 2:
        return 0.0
    d = np.diff(pts, axis=0)
    return float(np.sum(np.hypot(d[:, 0], d[:, 1])))


def exit_point(a: np.ndarray, b: np.ndarray, core: Core
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


def clip(pc: Piece, core: Core) -> List[Piece]:
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
            e = exit_point(xy[i], xy[i - 1], core)
            pxy = np.vstack([e, pxy])
            pw = np.concatenate([[np.nan], pw])
            pn = np.vstack([pn[:1], pn])
            pcf = np.concatenate([[np.nan], pcf])
            k0, y0k, r0_ = "seam", None, 0.0
        if j < n - 1:
            e = exit_point(xy[j], xy[j + 1], core)
            pxy = np.vstack([pxy, e])
            pw = np.concatenate([pw, [np.nan]])
            pn = np.vstack([pn, pn[-1:]])
            pcf = np.concatenate([pcf, [np.nan]])
            k1, y1k, r1_ = "seam", None, 0.0
        if len(pxy) >= 2:
            out.append(Piece(pxy, pw, pn, pcf, [k0, k1], [y0k, y1k], [r0_, r1_], pc.src,
                              pc.win, False))
        i = j + 1
    return out


def cat(a: Piece, b: Piece) -> Piece:
    """Concatenate ``b`` after ``a`` (a's end meets b's start); the meeting vertices average."""
    mid = (a.xy[-1] + b.xy[0]) / 2.0
    xy = np.vstack([a.xy[:-1], mid[None, :], b.xy[1:]])
    w = np.concatenate([a.w[:-1], [np.nan], b.w[1:]])
    nrm = np.vstack([a.nrm[:-1], a.nrm[-1:], b.nrm[1:]])
    conf = np.concatenate([a.conf[:-1], [np.nan], b.conf[1:]])
    return Piece(xy, w, nrm, conf, [a.kinds[0], b.kinds[1]], [a.keys[0], b.keys[1]],
                  [a.radius[0], b.radius[1]], a.src if a.src == b.src else "prob", a.win)


def rev(pc: Piece) -> Piece:
    """The piece reversed (end kinds, keys and radii swapped)."""
    return Piece(pc.xy[::-1].copy(), pc.w[::-1].copy(), pc.nrm[::-1].copy(),
                  pc.conf[::-1].copy(), pc.kinds[::-1], pc.keys[::-1], pc.radius[::-1],
                  pc.src, pc.win, pc.closed)


def link_chains(pieces: List[Piece], links: Dict[Tuple[int, int], Tuple[int, int]]
                 ) -> List[Piece]:
    """Join pieces along ``links`` ((piece, end) <-> (piece, end)); returns merged pieces."""
    visited = [False] * len(pieces)
    chains: List[Piece] = []

    def walk(start: int, start_end: int) -> Piece:
        # start_end: the end of ``start`` that is the chain's beginning
        cur = pieces[start] if start_end == 0 else rev(pieces[start])
        visited[start] = True
        i, far = start, 1 - start_end
        while (i, far) in links:
            j, ej = links[(i, far)]
            if visited[j]:
                cur.closed = j == start
                if cur.closed:
                    cur.kinds = ["loop", "loop"]
                break
            nxt = pieces[j] if ej == 0 else rev(pieces[j])
            cur = cat(cur, nxt)
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


def merge_seams(pieces: List[Piece], tol: float = 2.0) -> List[Piece]:
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
    return link_chains(pieces, links)


def join_through_degree2(chains: List[Piece]) -> List[Piece]:
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
    return link_chains(chains, links)
