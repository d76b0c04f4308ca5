"""The skeleton graph of one window: skan paths, scale-adaptive pruning and joins.

Node ids are skan's pixel-node ids; an edge is ``[u, v, pts]`` with ``pts`` (N, 2) the
(row, col) pixel chain. :class:`WindowGraph` builds the graph of a cleaned crack mask and
prunes it until stable: tip spurs shorter than ``max(spur_min_px, spur_factor * r_junction)``,
degree-2 joins, junction clusters (junction-junction edges shorter than ``r1 + r2``), tiny
self-loops and short isolated fragments. ``r`` is the inscribed radius (distance transform).
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from .clean import Interior
from .config import VectorizeConfig
from .stitch import chain_len

INF = float("inf")


class Graph:
    """A small multigraph of skeleton paths (node ids are skan pixel-node ids)."""

    def __init__(self) -> None:
        self.edges: Dict[int, List[Any]] = {}  # eid -> [u, v, pts (N, 2) rows/cols float]
        self.pos: Dict[int, np.ndarray] = {}
        self.next_id = 0

    def add(self, u: int, v: int, pts: np.ndarray) -> None:
        """Add an edge u -> v along ``pts`` (N, 2) (row, col)."""
        self.edges[self.next_id] = [u, v, pts]
        self.next_id += 1

    def degrees(self) -> Dict[int, int]:
        """Node id -> number of edge ends."""
        deg: Dict[int, int] = {}
        for u, v, _ in self.edges.values():
            deg[u] = deg.get(u, 0) + 1
            deg[v] = deg.get(v, 0) + 1
        return deg

    def incidence(self) -> Dict[int, List[int]]:
        """Node id -> ids of the edges touching it."""
        inc: Dict[int, List[int]] = {}
        for eid, (u, v, _) in self.edges.items():
            inc.setdefault(u, []).append(eid)
            if v != u:
                inc.setdefault(v, []).append(eid)
        return inc


def join_degree2(g: Graph) -> bool:
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


class WindowGraph:
    """The pruned skeleton graph of a window's crack mask, with the geometry it was cut from.

    Args:
        mask: (H, W) bool cleaned crack mask of the window.
        valid: (H, W) bool analysed pixels (False = nodata / outside the AOI).
        interior: which window edges are interior (another window continues there).
        cfg: pruning thresholds.
    """

    def __init__(self, mask: np.ndarray, valid: np.ndarray, interior: Interior,
                 cfg: VectorizeConfig) -> None:
        import cv2
        from skan import Skeleton
        from skimage.morphology import skeletonize

        self.shape = mask.shape
        self.interior = interior
        self.graph = Graph()
        skel = skeletonize(mask, method="lee").astype(bool)
        self.edt = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2,
                                         cv2.DIST_MASK_PRECISE)
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
        self.dinv = cv2.distanceTransform(pad, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        if skel.sum() < 2:
            return
        sk = Skeleton(skel)
        g = self.graph
        coords = np.asarray(sk.coordinates)
        for i in range(sk.n_paths):
            idx = np.asarray(sk.path(i))
            if len(idx) < 2:
                continue
            g.add(int(idx[0]), int(idx[-1]), coords[idx].astype(np.float64))
        for u, v, pts in g.edges.values():
            g.pos[u] = pts[0]
            g.pos[v] = pts[-1]
        self._prune(cfg)

    def dwin(self, rc: np.ndarray) -> float:
        """Distance (px) from (row, col) to the nearest interior window edge."""
        h, w = self.shape
        top, bottom, left, right = self.interior
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

    def rad(self, rc: np.ndarray) -> float:
        """Inscribed radius (px) of the mask at (row, col)."""
        return float(self.edt[int(round(rc[0])), int(round(rc[1]))])

    def tip_kind(self, n: int) -> str:
        """"win" (cut by a window edge), "border" (raster/nodata edge) or "tip"."""
        rc = self.graph.pos[n]
        r = self.rad(rc)
        if self.dwin(rc) <= r + 2.0:
            return "win"
        if float(self.dinv[int(round(rc[0])), int(round(rc[1]))]) <= r + 1.5:
            return "border"
        return "tip"

    def _prune(self, cfg: VectorizeConfig) -> None:
        g = self.graph
        # --- prune / join / merge junctions until stable
        for _ in range(20):
            changed = False
            deg = g.degrees()
            cand = []
            for eid, (u, v, pts) in g.edges.items():
                if u == v:
                    continue
                for tip, j in ((u, v), (v, u)):
                    if deg[tip] == 1 and deg[j] >= 3 and self.tip_kind(tip) != "win":
                        ln = chain_len(pts)
                        if ln < max(cfg.spur_min_px, cfg.spur_factor * self.rad(g.pos[j])):
                            cand.append((ln, eid, j))
            cand.sort()
            for _ln, eid, j in cand:
                if eid not in g.edges or deg.get(j, 0) < 3:
                    continue
                u, v, _ = g.edges.pop(eid)
                deg[u] -= 1
                deg[v] -= 1
                changed = True
            changed |= join_degree2(g)
            # junction clusters: contract short junction-junction edges
            deg = g.degrees()
            for eid in list(g.edges):
                if eid not in g.edges:
                    continue
                u, v, pts = g.edges[eid]
                if u == v or deg.get(u, 0) < 3 or deg.get(v, 0) < 3:
                    continue
                if chain_len(pts) >= self.rad(g.pos[u]) + self.rad(g.pos[v]):
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
                ln = chain_len(pts)
                if u == v and deg.get(u, 0) > 2 and ln < cfg.min_length_px + 2 * self.rad(g.pos[u]):
                    del g.edges[eid]
                    changed = True
                elif (u != v and deg.get(u) == 1 and deg.get(v) == 1 and ln < cfg.min_length_px
                      and self.tip_kind(u) == "tip" and self.tip_kind(v) == "tip"):
                    del g.edges[eid]
                    changed = True
            if not changed:
                break
