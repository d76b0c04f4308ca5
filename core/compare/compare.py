"""``csbsr compare``: what changed between two inspections of one site.

For each pair of runs whose extents overlap (one pair for two run folders; for survey folders
every NEW run with every overlapping OLD run, the largest overlaps first, each area compared
once):

1. the residual transform OLD -> NEW is estimated from the two orthophotos
   (:mod:`.registration`), or taken as the identity with ``register=False``;
2. the OLD lines and footprint are moved by it; the compared area is the overlap of the two
   footprints, shrunk by the matching tolerance (so a crack cut by one run's border is cut at
   the same place in both), minus the areas compared by earlier pairs;
3. both line sets are clipped to it and matched and classified (:mod:`.matching`) under the
   uncertainty model (:mod:`.uncertainty`), with each run's probability raster as evidence
   against changes that are only detection flicker (:mod:`.evidence`).

Outputs (names from :class:`core.layout.ChangeLayout`), written into a hidden staging folder
inside ``out_dir`` and moved into place only when everything succeeded: ``change.gpkg``
(layer ``crack_change``, in the first NEW run's CRS), ``change_summary.json`` and, unless
``cfg.report`` is False, ``change_report.html``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import __version__, atomic
from ..errors import InvalidInputError, OutputExistsError
from ..layout import CHANGE_LAYER, ChangeLayout
from ..progress import NullProgress, Progress, check_cancelled
from .config import CompareConfig
from .evidence import Witness, open_sampler
from .io import Frame, Inspection, RunData, apply_affine, load_inspection, write_change_layer
from .matching import LineSet, classify
from .registration import Registration, identity, register
from .schema import CHANGE_FIELDS, CLASSES
from .uncertainty import UncertaintyModel

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class PairResult:
    """One compared pair of runs.

    Attributes:
        old, new: the two runs.
        registration: the OLD -> NEW transform and its quality.
        uncertainty: the pair's uncertainty model.
        area: shapely (Multi)Polygon compared, working frame (m).
        old_len_m, new_len_m: total crack length of each run inside ``area``, metres.
    """

    old: RunData
    new: RunData
    registration: Registration
    uncertainty: UncertaintyModel
    area: Any
    old_len_m: float
    new_len_m: float


@dataclass(frozen=True)
class CompareResult:
    """What :func:`compare_inspections` wrote and found.

    Attributes:
        outputs: written files by role (``change``, ``summary``, ``report``).
        summary: the content of ``change_summary.json``.
        pairs: every compared pair.
        features: the ``crack_change`` features: (geometry in the output CRS, fields).
        crs_wkt: the output CRS.
    """

    outputs: Dict[str, Path]
    summary: Dict[str, Any]
    pairs: List[PairResult]
    features: List[Tuple[Any, Dict[str, Any]]]
    crs_wkt: str


def compare_inspections(old: PathLike, new: PathLike, out_dir: PathLike,
                        cfg: Optional[CompareConfig] = None,
                        progress: Optional[Progress] = None,
                        old_ortho: Optional[PathLike] = None,
                        new_ortho: Optional[PathLike] = None) -> CompareResult:
    """Compare two inspections (run or survey folders) and write the change outputs.

    Args:
        old, new: the earlier and the later inspection.
        out_dir: the output folder (created if missing).
        cfg: settings (None = defaults).
        progress: progress and cancel receiver.
        old_ortho, new_ortho: orthophotos overriding ``input.path`` of single runs.

    Raises:
        InvalidInputError: unreadable inputs, no overlap, registration impossible.
        OutputExistsError: an output exists and ``cfg.overwrite`` is False.
        Cancelled: when ``progress`` asks to stop (nothing is left behind).
    """
    t0 = time.perf_counter()
    cfg = cfg or CompareConfig()
    progress = progress or NullProgress()
    layout = ChangeLayout(atomic.check_output_folder(Path(out_dir)))
    for role, folder in (("OLD", old), ("NEW", new)):
        if Path(folder).resolve() == layout.folder.resolve():
            raise InvalidInputError(f"--out {layout.folder} is the {role} inspection's folder: "
                                    "write the comparison into a folder of its own")
    roles = ["change", "summary"] + (["report"] if cfg.report else [])
    for r in roles:
        if layout.path(r).exists() and not cfg.overwrite:
            raise OutputExistsError(f"{layout.path(r)} already exists: choose another --out "
                                    "folder or pass --overwrite to replace it")
    progress.set_status("reading the two inspections")
    old_i = load_inspection(old, old_ortho, "OLD")
    new_i = load_inspection(new, new_ortho, "NEW")
    frame = Frame.for_run(new_i.runs[0])
    out_crs = new_i.runs[0].crs_wkt
    pairs = _pairs(old_i, new_i, frame, cfg)
    results: List[PairResult] = []
    features: List[Tuple[Any, Dict[str, Any]]] = []
    done: Any = None
    for k, (o, n, overlap) in enumerate(pairs):
        check_cancelled(progress)
        progress.set_progress(5.0 + 85.0 * k / len(pairs))
        progress.set_status(f"registering {o.name} -> {n.name}")
        g = max(o.gsd_in_m, n.gsd_in_m)
        if cfg.register:
            reg = register(o.ortho, n.ortho, overlap, frame.crs_wkt, g, cfg)
        else:
            c = overlap.centroid
            err = g if cfg.assumed_reg_error_m is None else cfg.assumed_reg_error_m
            reg = identity((c.x, c.y), err)
        unc = UncertaintyModel(o.gsd_in_m, n.gsd_in_m, reg.rmse_m, cfg)
        fp_old = apply_affine(frame.to_work(o.footprint, o.crs_wkt), reg.matrix)
        fp_new = frame.to_work(n.footprint, n.crs_wkt)
        area = fp_old.intersection(fp_new).buffer(-unc.tol_m, join_style="mitre")
        if done is not None:
            area = area.difference(done)
        if area.is_empty or area.area <= 0:
            continue
        done = area if done is None else done.union(area)
        progress.set_status(f"matching the cracks of {o.name} and {n.name}")
        old_lines = _clip(apply_affine(frame.to_work(o.geoms, o.crs_wkt), reg.matrix),
                          o.attrs, area, o.name, unc.min_piece_m)
        new_lines = _clip(frame.to_work(n.geoms, n.crs_wkt), n.attrs, area, n.name,
                          unc.min_piece_m)
        with ExitStack() as stack:
            inv = np.linalg.inv(reg.matrix)
            old_w = _witness(o, lambda g, inv=inv, o=o: frame.from_work(
                apply_affine(g, inv), o.crs_wkt), unc, cfg, stack)
            new_w = _witness(n, lambda g, n=n: frame.from_work(g, n.crs_wkt), unc, cfg, stack)
            for geom, f in classify(old_lines, new_lines, unc, area, old_w, new_w):
                f["old_src"] = o.name
                features.append((geom, f))
        results.append(PairResult(o, n, reg, unc, area, _total(old_lines), _total(new_lines)))
    if not results:
        raise InvalidInputError(_no_overlap(old_i, new_i, frame))
    geoms = frame.from_work(np.array([g for g, _ in features], dtype=object), out_crs) \
        if features else np.array([], dtype=object)
    features = [(g, f) for g, (_, f) in zip(geoms, features)]
    summary = build_summary(old_i, new_i, results, features, cfg, time.perf_counter() - t0)
    progress.set_progress(90.0)
    outputs = _write(layout, roles, features, summary, results, out_crs, cfg, progress)
    progress.set_progress(100.0)
    return CompareResult(outputs, summary, results, features, out_crs)


def _witness(run: RunData, to_run: Any, unc: UncertaintyModel, cfg: CompareConfig,
             stack: ExitStack) -> Optional[Witness]:
    """The run's probability evidence along working-frame lines, or None."""
    if cfg.evidence_ratio <= 0:
        return None
    sampler = open_sampler(run.prob, to_run, unc.tol_m, max(run.gsd_line_m, unc.tol_m / 4),
                           run.gsd_line_m)
    if sampler is None:
        return None
    return Witness(stack.enter_context(sampler), cfg.evidence_ratio * run.threshold)


def _pairs(old_i: Inspection, new_i: Inspection, frame: Frame, cfg: CompareConfig
           ) -> List[Tuple[RunData, RunData, Any]]:
    """(OLD run, NEW run, nominal overlap in the working frame), largest overlap first."""
    found = []
    for n in new_i.runs:
        fn = frame.to_work(n.footprint, n.crs_wkt)
        for o in old_i.runs:
            fo = frame.to_work(o.footprint, o.crs_wkt)
            ov = fo.intersection(fn)
            if ov.is_empty:
                continue
            if ov.area >= cfg.min_overlap * min(fo.area, fn.area):
                found.append((ov.area, o, n, ov))
    found.sort(key=lambda t: -t[0])
    return [(o, n, ov) for _, o, n, ov in found]


def _no_overlap(old_i: Inspection, new_i: Inspection, frame: Frame) -> str:
    def ext(ins: Inspection) -> str:
        from shapely import union_all

        u = union_all([frame.to_work(r.footprint, r.crs_wkt) for r in ins.runs])
        return "(" + ", ".join(f"{v:.2f}" for v in u.bounds) + ")"

    return (f"the two inspections do not overlap (OLD extent {ext(old_i)}, NEW extent "
            f"{ext(new_i)} in the working CRS): compare inspections of the same site")


def _clip(geoms: np.ndarray, attrs: List[Dict[str, Any]], area: Any, source: str,
          min_len: float) -> LineSet:
    """Lines clipped to ``area``, multi-part results split; ``edge`` where they were cut.

    Pieces cut by the border and shorter than ``min_len`` are dropped: their true length is
    unknown and too short to call a change."""
    import shapely

    if not len(geoms):
        return LineSet(np.array([], dtype=object), [], np.zeros(0, bool), source)
    shapely.prepare(area)
    clipped = shapely.intersection(geoms, area)
    out_g, out_a, out_e = [], [], []
    for g, c, a in zip(geoms, clipped, attrs):
        parts = [p for p in shapely.get_parts(c)
                 if p.geom_type == "LineString" and p.length > 0]
        cut = len(parts) != 1 or abs(parts[0].length - g.length) > 1e-6 * max(g.length, 1.0)
        for p in parts:
            if cut and p.length < min_len:
                continue
            out_g.append(p)
            out_a.append(a)
            out_e.append(cut)
    return LineSet(np.array(out_g, dtype=object), out_a, np.array(out_e, bool), source)


def _total(lines: LineSet) -> float:
    import shapely

    return float(np.sum(shapely.length(lines.geoms))) if len(lines.geoms) else 0.0


def build_summary(old_i: Inspection, new_i: Inspection, pairs: List[PairResult],
                  features: List[Tuple[Any, Dict[str, Any]]], cfg: CompareConfig,
                  seconds: float) -> Dict[str, Any]:
    """The change summary (``change_summary.json``): totals, growth, registration, model."""
    lines = [f for _, f in features if f["part"] == "line"]
    totals = {c: {"n": 0, "len_m": 0.0} for c in CLASSES}
    for f in lines:
        totals[f["change"]]["n"] += 1
        totals[f["change"]]["len_m"] += float(f["len_m"])
    added = sum(float(f["len_m"]) for _, f in features if f["part"] == "added")
    lost = sum(float(f["len_m"]) for _, f in features if f["part"] == "lost")
    area = float(sum(p.area.area for p in pairs))
    growth = totals["new"]["len_m"] + added
    removed = totals["gone"]["len_m"] + lost
    changed = [f for f in lines if f["change"] != "unchanged"]
    changed.sort(key=lambda f: -_significance(f))
    keys = ("change", "source", "seg_id", "crack_id", "len_m", "d_len_m", "u_len_m",
            "w_med_mm", "d_w_med_mm", "u_w_mm", "sev_old", "sev", "old_src")
    return {
        "software": "csbsr", "command": "compare", "version": __version__,
        "old": _describe(old_i), "new": _describe(new_i),
        "config": cfg.to_dict(),
        "area_m2": area,
        "totals": totals,
        "growth": {
            "new_len_m": totals["new"]["len_m"], "extended_added_m": added,
            "total_m": growth, "per_m2": growth / area if area > 0 else None,
            "gone_len_m": totals["gone"]["len_m"], "lost_pieces_m": lost,
            "net_m": growth - removed,
            "net_per_m2": (growth - removed) / area if area > 0 else None,
        },
        "old_len_m": float(sum(p.old_len_m for p in pairs)),
        "new_len_m": float(sum(p.new_len_m for p in pairs)),
        "pairs": [{
            "old": p.old.name, "new": p.new.name, "area_m2": float(p.area.area),
            "old_len_m": p.old_len_m, "new_len_m": p.new_len_m,
            "old_ortho": str(p.old.ortho) if p.old.ortho else None,
            "new_ortho": str(p.new.ortho) if p.new.ortho else None,
            "registration": p.registration.to_dict(),
            "uncertainty": p.uncertainty.to_dict(),
        } for p in pairs],
        "largest": [{k: f.get(k) for k in keys} for f in changed[:20]],  # by significance
        "seconds": seconds,
    }


def _significance(f: Dict[str, Any]) -> float:
    """How many uncertainties the larger of the length and width changes is."""
    r = 0.0
    for d, u in (("d_len_m", "u_len_m"), ("d_w_med_mm", "u_w_mm")):
        dv, uv = f.get(d), f.get(u)
        if dv is not None and uv:
            r = max(r, abs(float(dv)) / float(uv))
    return r


def _describe(ins: Inspection) -> Dict[str, Any]:
    return {"path": str(ins.path), "kind": ins.kind, "runs": [r.name for r in ins.runs],
            "gsd_mm": [r.gsd_in_m * 1000.0 for r in ins.runs]}


def _write(layout: ChangeLayout, roles: List[str], features: List[Tuple[Any, Dict[str, Any]]],
           summary: Dict[str, Any], pairs: List[PairResult], crs_wkt: str,
           cfg: CompareConfig, progress: Progress) -> Dict[str, Path]:
    """Write every output into a staging folder, then move them into place."""
    layout.folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".change.", suffix=".staging",
                                    dir=str(layout.folder)))
    try:
        staged = ChangeLayout(staging)
        progress.set_status("writing the change layer")
        write_change_layer(staged.path("change"), CHANGE_LAYER, [g for g, _ in features],
                           [f for _, f in features], CHANGE_FIELDS, crs_wkt)
        atomic.write_text(staged.path("summary"), json.dumps(summary, indent=2) + "\n")
        if "report" in roles:
            from .report import write_change_report

            progress.set_status("writing the change report")
            write_change_report(staged.path("report"), summary, features, pairs, crs_wkt)
        check_cancelled(progress)
        out = {}
        for r in roles:
            os.replace(staged.path(r), layout.path(r))
            out[r] = layout.path(r)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
