"""Matching OLD and NEW crack lines and classifying every line's change.

Both line sets are in the working frame (metres), OLD already registered into NEW and both
clipped to the compared area. The matching is by *length coverage*, not one-to-one
segments (a crack network is cut into segments at junctions, and a new branch splits an old
segment in two):

1. each line is sampled every ``step`` metres (``tol / 4``), with its local direction;
2. a sample is *covered* by a line of the other set when (shapely ``STRtree`` candidates
   within the largest tolerance) its distance across that line is at most
   ``tol_pair(w_old, w_new)``, it lies at most ``tip_tol`` beyond that line's end, and the
   two directions differ by at most ``max_angle_deg``; the closest such line is its match;
3. per NEW line: covered length, uncovered runs (``added`` pieces when longer than
   ``min_piece``), the OLD length that matches it (OLD samples covered by it), the median
   width of the OLD lines it covers;
4. classes, by precedence: ``new`` (covered length < ``min_piece``), ``extended`` (an added
   piece and a length gain above ``U_L``), ``widened`` (median width gain above ``U_w``),
   else ``unchanged``; an OLD line whose covered length is < ``min_piece`` is ``gone``, and an
   OLD line's uncovered runs longer than ``min_piece`` are ``lost`` pieces (class ``gone``);
5. with a witness (:mod:`.evidence`), a would-be new line, added piece, gone line or lost
   piece that the other run's probability map shows below its threshold is no change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .evidence import Witness
from .uncertainty import UncertaintyModel


@dataclass(frozen=True)
class LineSet:
    """Lines of one inspection in the working frame.

    Attributes:
        geoms: (N,) shapely LineStrings, metres.
        attrs: N attribute dicts (``crack_seg`` fields).
        edge: (N,) bool, True where the line was cut by the compared area's border.
        source: the run's stem.
    """

    geoms: np.ndarray
    attrs: List[Dict[str, Any]]
    edge: np.ndarray
    source: str

    @property
    def width_mm(self) -> np.ndarray:
        """(N,) median widths in mm, NaN when unknown."""
        return np.array([_num(a.get("w_med_mm")) for a in self.attrs], dtype=float)


@dataclass(frozen=True)
class Samples:
    """Points along lines: ``line`` (M,) index, ``d`` (M,) distance along it (m), ``w`` (M,)
    length each stands for (m), ``xy`` (M, 2) and unit tangent ``t`` (M, 2)."""

    line: np.ndarray
    d: np.ndarray
    w: np.ndarray
    xy: np.ndarray
    t: np.ndarray


def sample_lines(geoms: np.ndarray, step: float, half: float) -> Samples:
    """Sample ``geoms`` every ``step`` m (at least once each); tangents over +-``half`` m."""
    import shapely

    lengths = shapely.length(geoms) if len(geoms) else np.zeros(0)
    n = np.maximum(1, np.ceil(lengths / step)).astype(int)
    line = np.repeat(np.arange(len(geoms)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(len(line)) - start
    seg = lengths[line] / n[line]
    d = (k + 0.5) * seg
    g = geoms[line] if len(line) else np.zeros(0, dtype=object)
    xy = _coords(shapely.line_interpolate_point(g, d))
    t = _tangent(g, d, lengths[line], half)
    return Samples(line, d, seg, xy, t)


def _coords(points: np.ndarray) -> np.ndarray:
    import shapely

    return shapely.get_coordinates(points).reshape(-1, 2) if len(points) else np.zeros((0, 2))


def _tangent(g: np.ndarray, d: np.ndarray, length: np.ndarray, half: float) -> np.ndarray:
    import shapely

    if not len(g):
        return np.zeros((0, 2))
    a = _coords(shapely.line_interpolate_point(g, np.clip(d - half, 0, length)))
    b = _coords(shapely.line_interpolate_point(g, np.clip(d + half, 0, length)))
    v = b - a
    n = np.hypot(v[:, 0], v[:, 1])
    n[n == 0] = 1.0
    return v / n[:, None]


def cover(s: Samples, src_w_mm: np.ndarray, dst: np.ndarray, dst_w_mm: np.ndarray,
          unc: UncertaintyModel, half: float) -> np.ndarray:
    """For each sample the index of the closest matching ``dst`` line, or -1 (see module doc).

    Args:
        s: samples of the source lines.
        src_w_mm: (N_src,) median widths of the source lines (NaN unknown).
        dst: (N_dst,) LineStrings of the other inspection.
        dst_w_mm: (N_dst,) their median widths.
        unc: the uncertainty model (tolerances).
        half: tangent half-window, metres.
    """
    import shapely

    best = np.full(len(s.line), -1, dtype=np.int64)
    if not len(s.line) or not len(dst):
        return best
    wmax = np.nanmax(np.concatenate((src_w_mm, dst_w_mm, [0.0])))
    tol_max = unc.tol_pair_m(wmax, 0.0) + unc.tip_tol_m
    tree = shapely.STRtree(dst)
    pts = shapely.points(s.xy)
    i, j = tree.query(pts, predicate="dwithin", distance=tol_max)
    if not len(i):
        return best
    lines = dst[j]
    proj = shapely.line_locate_point(lines, pts[i])
    q = _coords(shapely.line_interpolate_point(lines, proj))
    tj = _tangent(lines, proj, shapely.length(lines), half)
    v = s.xy[i] - q
    along = np.abs(np.sum(v * tj, axis=1))
    lateral = np.abs(v[:, 0] * tj[:, 1] - v[:, 1] * tj[:, 0])
    cosang = np.abs(np.sum(s.t[i] * tj, axis=1))
    w_src = np.nan_to_num(src_w_mm[s.line[i]])
    w_dst = np.nan_to_num(dst_w_mm[j])
    tol = np.minimum(unc.tol_m + 0.5 * np.maximum(w_src, w_dst) / 1000.0, unc.cfg.max_tol_m)
    ok = (lateral <= tol) & (along <= unc.tip_tol_m) & \
        (cosang >= math.cos(math.radians(unc.cfg.max_angle_deg)))
    if not ok.any():
        return best
    i, j, dist = i[ok], j[ok], np.hypot(lateral[ok], along[ok])
    order = np.lexsort((dist, i))  # by sample, closest first
    i, j = i[order], j[order]
    first = np.ones(len(i), bool)
    first[1:] = i[1:] != i[:-1]
    best[i[first]] = j[first]
    return best


def runs(flags: np.ndarray) -> List[Tuple[int, int]]:
    """Maximal runs of True in a 1-D bool array, as (first, last + 1) index pairs."""
    if not len(flags):
        return []
    f = np.concatenate(([False], flags.astype(bool), [False]))
    edges = np.flatnonzero(f[1:] != f[:-1])
    return list(zip(edges[0::2], edges[1::2]))


def tips(ls: LineSet, area: Any, near: float) -> np.ndarray:
    """(K, 2) free crack tips of a line set: line ends that no other line of the set comes
    within ``near`` m of, and that are not on the border of ``area`` (None = no border)."""
    import shapely

    if not len(ls.geoms):
        return np.zeros((0, 2))
    ends = np.vstack([np.asarray(g.coords)[[0, -1], :2] for g in ls.geoms])
    owner = np.repeat(np.arange(len(ls.geoms)), 2)
    pts = shapely.points(ends)
    i, j = shapely.STRtree(ls.geoms).query(pts, predicate="dwithin", distance=near)
    shared = np.zeros(len(ends), bool)
    shared[i[owner[i] != j]] = True
    free = ~shared
    if area is not None:
        free &= shapely.distance(pts, area.boundary) > near
    return ends[free]


def _matched(covered: float, length: float, min_piece: float) -> bool:
    """A line is found again when its covered length reaches ``min_piece`` (long lines) or
    half its length (lines shorter than two ``min_piece``)."""
    return covered >= min(min_piece, 0.5 * length)


def classify(old: LineSet, new: LineSet, unc: UncertaintyModel, area: Any = None,
             old_witness: Optional[Witness] = None, new_witness: Optional[Witness] = None
             ) -> List[Tuple[Any, Dict[str, Any]]]:
    """Match the two line sets and return the change features: (geometry, fields) pairs.

    Geometries are in the working frame; the fields are ``schema.CHANGE_FIELDS`` (without
    ``old_src``, set by the caller). ``area`` (the compared polygon) keeps line ends cut by
    its border from counting as crack tips. A witness (see :mod:`.evidence`) vetoes a
    ``new`` line or an added piece the OLD run saw below its threshold (then ``unchanged``),
    and a ``gone`` line or lost piece the NEW run saw (then ``unchanged``, from OLD).
    """
    def seen(w: Optional[Witness], g: Any) -> Tuple[bool, Optional[float]]:
        return w.seen(g) if w is not None else (False, None)

    import shapely
    from shapely.ops import substring

    step = max(unc.tol_m / 4.0, 1e-4)
    half = max(unc.tol_m, 2.0 * step)
    min_piece = unc.min_piece_m
    w_old, w_new = old.width_mm, new.width_mm
    s_new = sample_lines(new.geoms, step, half)
    s_old = sample_lines(old.geoms, step, half)
    m_new = cover(s_new, w_new, old.geoms, w_old, unc, half)  # NEW samples -> OLD line
    m_old = cover(s_old, w_old, new.geoms, w_new, unc, half)  # OLD samples -> NEW line
    old_len_for_new = np.bincount(m_old[m_old >= 0], weights=s_old.w[m_old >= 0],
                                  minlength=len(new.geoms))
    old_tips = shapely.points(tips(old, area, 2.0 * step))
    out: List[Tuple[Any, Dict[str, Any]]] = []
    for n, geom in enumerate(new.geoms):
        sel = s_new.line == n
        match, w, d = m_new[sel], s_new.w[sel], s_new.d[sel]
        length = float(geom.length)
        covered = float(w[match >= 0].sum())
        a = new.attrs[n]
        f = _base(a, new.source, length, bool(new.edge[n]))
        f["cover"] = covered / length if length > 0 else 0.0
        if not _matched(covered, length, min_piece):
            was, f["evid"] = seen(old_witness, geom)
            if was:  # the OLD run saw it below its threshold
                f.update(change="unchanged", sig_len=0)
                out.append((geom, f))
                continue
            f.update(change="new", len_old_m=0.0, d_len_m=length, u_len_m=unc.u_len_m(0, length),
                     sig_len=1)
            reach = unc.tol_pair_m(None, w_new[n]) + unc.tip_tol_m
            ends = shapely.points(np.asarray(geom.coords)[[0, -1], :2])
            if len(old_tips) and length > f["u_len_m"] and \
                    float(np.min(shapely.distance(ends[:, None], old_tips[None, :]))) <= reach:
                f["change"] = "extended"  # a new segment that continues an OLD crack tip
                out.append((geom, f))
                out.append((geom, dict(f, part="added")))
            else:
                out.append((geom, f))
            continue
        ids = match[match >= 0]
        len_old = float(old_len_for_new[n])
        wo = w_old[ids]
        wo = wo[np.isfinite(wo)]
        w_o = float(np.median(wo)) if wo.size else None
        sev_old = _mode([old.attrs[k].get("sev") for k in ids])
        d_len = length - len_old
        u_len = unc.u_len_m(len_old, length)
        d_w = None if w_o is None or not math.isfinite(w_new[n]) else float(w_new[n] - w_o)
        u_w = unc.u_width_mm
        f.update(old_segs=",".join(str(old.attrs[k].get("seg_id")) for k in np.unique(ids)),
                 len_old_m=len_old, d_len_m=d_len, u_len_m=u_len,
                 sig_len=int(abs(d_len) > u_len), w_old_mm=w_o, d_w_med_mm=d_w, u_w_mm=u_w,
                 sig_w=int(d_w is not None and abs(d_w) > u_w), sev_old=sev_old)
        added = []
        for r0, r1 in runs(match < 0):
            a0 = max(0.0, float(d[r0] - w[r0] / 2))
            a1 = min(length, float(d[r1 - 1] + w[r1 - 1] / 2))
            if a1 - a0 >= min_piece:
                piece = substring(geom, a0, a1)
                was, v = seen(old_witness, piece)
                f["evid"] = v if f.get("evid") is None else max(f["evid"], v or 0.0)
                if not was:
                    added.append(piece)
        if added and d_len > u_len:
            f["change"] = "extended"
        elif d_w is not None and d_w > u_w:
            f["change"] = "widened"
        else:
            f["change"] = "unchanged"
        out.append((geom, f))
        if f["change"] == "extended":
            for piece in added:
                g = dict(f, part="added", len_m=float(piece.length), d_len_m=float(piece.length),
                         cover=0.0)
                out.append((piece, g))
    for o, geom in enumerate(old.geoms):
        sel = s_old.line == o
        match, w, d = m_old[sel], s_old.w[sel], s_old.d[sel]
        length = float(geom.length)
        covered = float(w[match >= 0].sum())
        a = old.attrs[o]
        f = _base(a, old.source, length, bool(old.edge[o]))
        f.update(change="gone", cover=covered / length if length > 0 else 0.0,
                 len_old_m=length, w_old_mm=a.get("w_med_mm"), sev_old=a.get("sev"),
                 u_len_m=unc.u_len_m(length, 0.0), old_segs=str(a.get("seg_id")))
        if not _matched(covered, length, min_piece):
            was, f["evid"] = seen(new_witness, geom)
            if was:  # still there, the NEW run saw it below its threshold
                f.update(change="unchanged", sig_len=0)
            else:
                f.update(d_len_m=-length, sig_len=1)
            out.append((geom, f))
            continue
        for r0, r1 in runs(match < 0):
            a0 = max(0.0, float(d[r0] - w[r0] / 2))
            a1 = min(length, float(d[r1 - 1] + w[r1 - 1] / 2))
            if a1 - a0 >= min_piece:
                piece = substring(geom, a0, a1)
                was, v = seen(new_witness, piece)
                if not was:
                    out.append((piece, dict(f, part="lost", len_m=float(piece.length),
                                            d_len_m=-float(piece.length), sig_len=1, cover=0.0,
                                            evid=v)))
    return out


def _base(a: Dict[str, Any], source: str, length: float, edge: bool) -> Dict[str, Any]:
    """The fields every feature copies from its source line."""
    return {"part": "line", "source": source, "seg_id": a.get("seg_id"),
            "crack_id": a.get("crack_id"), "len_m": length, "w_med_mm": a.get("w_med_mm"),
            "sev": a.get("sev"), "ctype": a.get("ctype"), "azimuth": a.get("azimuth"),
            "gsd_mm": a.get("gsd_mm"), "edge": int(edge)}


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f if math.isfinite(f) else float("nan")


def _mode(values: List[Optional[str]]) -> Optional[str]:
    vals = [v for v in values if v]
    if not vals:
        return None
    keys, counts = np.unique(np.array(vals, dtype=object).astype(str), return_counts=True)
    return str(keys[int(np.argmax(counts))])
