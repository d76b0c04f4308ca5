"""The crack network: nodes, crack ids, closed cells, and the measurement of every chain.

Input: stitched chains (:class:`~.stitch.Piece`) in global pixel coordinates. Output: a
:class:`~csbsr.core.records.CrackNetwork` with one :class:`SegmentRecord` per chain (metric
length and chord, width statistics, orientation, type, severity, truncation, confidence), one
:class:`NodeRecord` per node, and the :class:`CrackSummary`. Lengths are final here: grid
distance in the CRS, or on its ellipsoid when ``cfg.length_mode == "ellipsoid"`` (always for
a geographic CRS), so the summary, the layer and the report agree.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import numpy as np

from ..progress import Progress, check_cancelled
from ..records import (
    CrackNetwork,
    CrackNode,
    CrackSegment,
    CrackSummary,
    NodeRecord,
    SegmentRecord,
)
from .config import VectorizeConfig
from .stitch import Piece, chain_len


def drop_short_cracks(chains: List[Piece], geo: Any, min_len_m: float) -> List[Piece]:
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


def assemble(chains: List[Piece], geo: Any, cfg: VectorizeConfig, analysed_m2: float,
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

    chains = [c for c in chains if len(c.xy) >= 2 and chain_len(c.xy) > 1e-9]
    if cfg.min_crack_length_m > 0:
        chains = drop_short_cracks(chains, geo, cfg.min_crack_length_m)
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
    # a geographic CRS is always measured on the ellipsoid
    length_mode = "ellipsoid" if (cfg.length_mode == "ellipsoid" or geo.geographic) else "grid"
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
        if length_mode == "ellipsoid":
            factor = geo.ellipsoid_factor(xy_map)
            len_m, chord_m = len_m * factor, chord_m * factor
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
        segments.append(CrackSegment(geom, SegmentRecord(**attrs)))
    nodes: List[CrackNode] = []
    for nid in range(len(nkind)):
        pm = geo.to_map(npos[nid][None, :])[0]
        r_mm = nrad[nid] * math.sqrt(geo.pixel_area_m2(pm)) * 1000.0
        nodes.append(CrackNode(Point(pm), NodeRecord(
            node_id=nid + 1, crack_id=crack_of_node[nid], degree=deg[nid],
            n_kind=nkind[nid], r_mm=r_mm)))
    summary = CrackSummary(
        **summarise([s.record for s in segments], analysed_m2),
        n_segments=len(segments),
        n_cracks=len({crack_of_node[ids[0]] for ids in ends}),
        n_nodes=len(nodes),
        n_tips=sum(k in ("tip", "border") for k in nkind),
        n_junctions=sum(k == "junc" for k in nkind),
        n_truncated=sum(int(s.record.edge_trunc or 0) for s in segments),
        gsd_mm=gsd_run_mm, standard=std_label, thresholds_mm=tuple(thresholds),
        severity_basis=cfg.severity_basis, threshold=cfg.threshold,
        seed_threshold=float(cfg.seed_threshold or 0.0) if cfg.hysteresis else None,
        min_crack_length_m=cfg.min_crack_length_m, min_elongation=cfg.min_elongation,
        length_mode=length_mode, road_azimuth_deg=cfg.road_azimuth_deg, width_source=src,
        raster_size=(int(shape[1]), int(shape[0])), crs=geo.crs_name, crs_wkt=geo.crs_wkt,
        window_px=int(cfg.window_px), overlap_px=int(cfg.overlap_px), model=model_name or "",
        software="csbsr", version=__version__)
    return CrackNetwork(segments, nodes, summary, geo.crs_wkt)
